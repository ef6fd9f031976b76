"""rolling.go tables: the cases of kubernetes pkg/controller/deployment/rolling_test.go.

Same inputs and expected ReplicaSet sizes as upstream (TestDeploymentController_* in rolling_test.go,
read at kubernetes/kubernetes commit bb81bef; a newer stored copy of the file has the same rows, with the
ready pods a row lists given as the ReplicaSets' status.availableReplicas, and adds
TestDeploymentController_rolloutRolling, the last table). A case where upstream expects no scaling
expects None.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localenv.control.deployment_util import ReplicaSetCounts
from localenv.control.rolling import (
    ScaleReason,
    cleanup_unhealthy_replicas,
    reconcile_new_replica_set,
    reconcile_old_replica_sets,
    rollout_rolling,
    scale_down_old_replica_sets_for_rolling_update,
)
from localenv.spec import DeploymentSpec

SpecFactory = Callable[..., DeploymentSpec]
OLD, NEW = 1, 2


def rs(revision: int, replicas: int, available: int = 0) -> ReplicaSetCounts:
    return ReplicaSetCounts(revision=revision, created=revision, replicas=replicas, available=available)


# TestDeploymentController_reconcileNewReplicaSet (maxUnavailable 0):
# (deployment replicas, maxSurge, old replicas, new replicas) → new ReplicaSet's size, or None for no scaling.
RECONCILE_NEW = [
    ("should not scale up", 10, 0, 10, 0, None),
    ("surge 2 over a full old ReplicaSet", 10, 2, 10, 0, 2),
    ("room left by a half-scaled old ReplicaSet", 10, 2, 5, 0, 7),
    ("surge already used", 10, 2, 10, 2, None),
    ("should scale down", 10, 2, 2, 11, 10),
]


@pytest.mark.parametrize(("name", "replicas", "surge", "old", "new", "expected"), RECONCILE_NEW)
def test_reconcile_new_replica_set(
    make_spec: SpecFactory, *, name: str, replicas: int, surge: int, old: int, new: int, expected: int | None
) -> None:
    spec = make_spec(replicas=replicas, max_surge=surge, max_unavailable=0)
    scale = reconcile_new_replica_set(spec, [rs(NEW, new), rs(OLD, old)], rs(NEW, new))
    assert (scale.replicas if scale else None) == expected, name


# TestDeploymentController_reconcileOldReplicaSets (maxSurge 0):
# (replicas, maxUnavailable, old replicas, new replicas, available old, available new) → old size, or None.
RECONCILE_OLD = [
    ("maxUnavailable 0 resolves to 1", 10, 0, 10, 0, 10, 0, 9),
    ("2 unavailable allowed", 10, 2, 10, 0, 10, 0, 8),
    ("unhealthy old replicas are cleaned up", 10, 2, 10, 0, 8, 0, 8),
    ("1 unhealthy cleaned up and 1 available scaled down", 10, 2, 10, 0, 9, 0, 8),
    ("unavailable new pods stop a further scale-down", 10, 2, 8, 2, 8, 0, None),
]


@pytest.mark.parametrize(
    ("name", "replicas", "unavailable", "old", "new", "old_available", "new_available", "expected"), RECONCILE_OLD
)
def test_reconcile_old_replica_sets(
    make_spec: SpecFactory,
    *,
    name: str,
    replicas: int,
    unavailable: int,
    old: int,
    new: int,
    old_available: int,
    new_available: int,
    expected: int | None,
) -> None:
    spec = make_spec(replicas=replicas, max_surge=0, max_unavailable=unavailable)
    old_rs, new_rs = rs(OLD, old, old_available), rs(NEW, new, new_available)
    scales = reconcile_old_replica_sets(spec, [old_rs, new_rs], [old_rs], new_rs)
    assert (scales[-1].replicas if scales else None) == expected, name
    assert all(s.revision == OLD for s in scales)


# TestDeploymentController_cleanupUnhealthyReplicas (old ReplicaSet of 10):
# (available pods, max cleanup) → pods removed.
CLEANUP_UNHEALTHY = [(8, 1, 1), (8, 3, 2), (8, 0, 0), (10, 3, 0)]


@pytest.mark.parametrize(("available", "max_cleanup", "expected"), CLEANUP_UNHEALTHY)
def test_cleanup_unhealthy_replicas(available: int, max_cleanup: int, expected: int) -> None:
    cleaned, scales = cleanup_unhealthy_replicas([rs(OLD, 10, available)], max_cleanup)
    assert 10 - cleaned[0].replicas == expected
    assert [s.reason for s in scales] == [ScaleReason.UNHEALTHY] * (expected > 0)


# TestDeploymentController_scaleDownOldReplicaSetsForRollingUpdate (maxSurge 0):
# (replicas, maxUnavailable, available pods, old replicas) → old size, or None for no scaling.
SCALE_DOWN_OLD = [
    ("maxUnavailable 0 resolves to 1", 10, 0, 10, 10, 9),
    ("2 unavailable allowed", 10, 2, 10, 10, 8),
    ("at the availability floor", 10, 2, 8, 10, None),
    ("nothing left to scale down", 10, 2, 10, 0, None),
    ("far below the floor", 10, 2, 1, 10, None),
]


@pytest.mark.parametrize(("name", "replicas", "unavailable", "available", "old", "expected"), SCALE_DOWN_OLD)
def test_scale_down_old_replica_sets_for_rolling_update(
    make_spec: SpecFactory,
    *,
    name: str,
    replicas: int,
    unavailable: int,
    available: int,
    old: int,
    expected: int | None,
) -> None:
    spec = make_spec(replicas=replicas, max_surge=0, max_unavailable=unavailable)
    old_rs = rs(OLD, old, available)
    scales = scale_down_old_replica_sets_for_rolling_update(spec, [old_rs], [old_rs])
    assert (scales[-1].replicas if scales else None) == expected, name


# TestDeploymentController_rolloutRolling: 4 replicas, maxSurge 1, maxUnavailable 1, an old ReplicaSet of 1
# and a new one of `new` pods (all available): exactly one ReplicaSet is scaled, in one sync.
ROLLOUT_ROLLING = [
    ("healthy old replicas time out", 1, 4, (OLD, 0)),
    ("unhealthy old replicas time out", 0, 4, (OLD, 0)),
    ("new ReplicaSet scale-up", 1, 3, (NEW, 4)),
    ("new ReplicaSet scale-down", 1, 5, (NEW, 4)),
]


@pytest.mark.parametrize(("name", "old_available", "new", "expected"), ROLLOUT_ROLLING)
def test_rollout_rolling_scales_up_or_down_in_one_sync(
    make_spec: SpecFactory, name: str, old_available: int, new: int, expected: tuple[int, int]
) -> None:
    spec = make_spec(replicas=4, max_surge=1, max_unavailable=1)
    scales = rollout_rolling(spec, rs(NEW, new, new), [rs(OLD, 1, old_available)])
    assert (scales[-1].revision, scales[-1].replicas) == expected, name
    assert len({s.revision for s in scales}) == 1
