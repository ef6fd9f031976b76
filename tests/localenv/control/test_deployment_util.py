"""deployment_util tables: the cases of kubernetes pkg/controller/deployment/util/deployment_util_test.go.

Same inputs, same expected outputs as upstream (read at kubernetes/kubernetes commit 977e6e9); the
Recreate-strategy rows are left out because only RollingUpdate runs locally.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localenv.control.deployment_util import (
    ReplicaSetCounts,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
    max_unavailable,
    new_rs_new_replicas,
    resolve_fenceposts,
)
from localenv.control.objects import DeploymentStatus, ProgressCondition, ProgressReason
from localenv.spec import DeploymentSpec

SpecFactory = Callable[..., DeploymentSpec]

# TestResolveFenceposts: (maxSurge, maxUnavailable, desired) → (surge, unavailable).
RESOLVE_FENCEPOSTS = [
    ("0%", "0%", 0, (0, 1)),
    ("39%", "39%", 10, (4, 3)),
]


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), RESOLVE_FENCEPOSTS)
def test_resolve_fenceposts(surge: str, unavailable: str, desired: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


# TestResolveFenceposts' error rows: a value that is neither a number nor a percentage.
@pytest.mark.parametrize(("surge", "unavailable"), [("oops", "39%"), ("55%", "urg")])
def test_resolve_fenceposts_refuses_what_is_not_int_or_percent(surge: str, unavailable: str) -> None:
    with pytest.raises(ValueError, match="neither"):
        resolve_fenceposts(surge, unavailable, 10)


# TestMaxUnavailable (maxSurge 1): (replicas, maxUnavailable) → pods allowed unavailable.
MAX_UNAVAILABLE = [
    ("maxUnavailable less than replicas", 10, 5, 5),
    ("maxUnavailable equal replicas", 10, 10, 10),
    ("maxUnavailable greater than replicas", 5, 10, 5),
    ("maxUnavailable with replicas is 0", 0, 10, 0),
    ("maxUnavailable less than replicas with percents", 10, "50%", 5),
    ("maxUnavailable equal replicas with percents", 10, "100%", 10),
    ("maxUnavailable greater than replicas with percents", 5, "100%", 5),
]


@pytest.mark.parametrize(("name", "replicas", "unavailable", "expected"), MAX_UNAVAILABLE)
def test_max_unavailable(
    make_spec: SpecFactory, name: str, replicas: int, unavailable: int | str, expected: int
) -> None:
    assert max_unavailable(make_spec(replicas=replicas, max_surge=1, max_unavailable=unavailable)) == expected, name


# TestNewRSNewReplicas (RollingUpdate rows; maxUnavailable 1; the other ReplicaSet has 5 replicas):
# (deployment replicas, new ReplicaSet replicas, maxSurge) → new ReplicaSet replicas.
NEW_RS_NEW_REPLICAS = [
    ("can not scale up - to newRSReplicas", 1, 5, 1, 5),
    ("scale up - to depReplicas", 6, 2, 10, 6),
]


@pytest.mark.parametrize(("name", "replicas", "new_replicas", "surge", "expected"), NEW_RS_NEW_REPLICAS)
def test_new_rs_new_replicas(
    make_spec: SpecFactory, *, name: str, replicas: int, new_replicas: int, surge: int, expected: int
) -> None:
    spec = make_spec(replicas=replicas, max_surge=surge, max_unavailable=1)
    other = ReplicaSetCounts(revision=1, created=1, replicas=5)
    new = ReplicaSetCounts(revision=2, created=2, replicas=new_replicas)
    assert new_rs_new_replicas(spec, [other], new) == expected, name


# TestDeploymentComplete: (desired, replicas, updated, available) → complete.
DEPLOYMENT_COMPLETE = [
    ("not complete: min but not all pods become available", 5, 5, 5, 4, False),
    ("not complete: min availability is not honored", 5, 5, 5, 3, False),
    ("complete", 5, 5, 5, 5, True),
    ("not complete: all pods are available but not updated", 5, 5, 4, 5, False),
    ("not complete: still running old pods", 1, 2, 1, 1, False),
    ("not complete: one replica deployment never comes up", 1, 1, 1, 0, False),
]


@pytest.mark.parametrize(("name", "desired", "replicas", "updated", "available", "expected"), DEPLOYMENT_COMPLETE)
def test_deployment_complete(
    *, name: str, desired: int, replicas: int, updated: int, available: int, expected: bool
) -> None:
    status = DeploymentStatus(replicas=replicas, updated=updated, available=available)
    assert deployment_complete(desired, status) is expected, name


# TestDeploymentProgressing: (replicas, updated, ready, available) before and now → progressing.
DEPLOYMENT_PROGRESSING = [
    ("progressing: updated pods", (10, 4, 4, 4), (10, 6, 4, 4), True),
    ("not progressing", (10, 4, 4, 4), (10, 4, 4, 4), False),
    ("progressing: old pods removed", (10, 4, 6, 6), (8, 4, 6, 6), True),
    ("not progressing: less new pods", (10, 7, 3, 3), (10, 6, 3, 3), False),
    ("progressing: less overall but more new pods", (10, 4, 7, 7), (8, 8, 5, 5), True),
    ("progressing: more ready pods", (10, 10, 9, 8), (10, 10, 10, 8), True),
    ("progressing: more available pods", (10, 10, 10, 9), (10, 10, 10, 10), True),
]


@pytest.mark.parametrize(("name", "before", "now", "expected"), DEPLOYMENT_PROGRESSING)
def test_deployment_progressing(
    name: str, before: tuple[int, int, int, int], now: tuple[int, int, int, int], expected: bool
) -> None:
    def status(counts: tuple[int, int, int, int]) -> DeploymentStatus:
        replicas, updated, ready, available = counts
        return DeploymentStatus(replicas=replicas, updated=updated, ready=ready, available=available)

    assert deployment_progressing(status(before), status(now)) is expected, name


# TestDeploymentTimedOut: times are seconds past 00:00 (upstream: 2016-01-01 00:01:09 etc.).
DEPLOYMENT_TIMED_OUT = [
    ("no progressDeadlineSeconds specified - no timeout", None, ProgressReason.REPLICA_SET_UPDATED, 69, 80, False),
    ("progressDeadlineSeconds: 10s, now - started => 00:01:20 - 00:01:09 => 11s", 10, None, 69, 80, True),
    ("progressDeadlineSeconds: 10s, now - started => 00:01:20 - 00:01:11 => 9s", 10, None, 71, 80, False),
    ("previous status was a complete deployment", None, ProgressReason.NEW_REPLICA_SET_AVAILABLE, 0, 80, False),
]


@pytest.mark.parametrize(("name", "deadline", "reason", "last_update", "now", "expected"), DEPLOYMENT_TIMED_OUT)
def test_deployment_timed_out(
    *, name: str, deadline: float | None, reason: ProgressReason | None, last_update: float, now: float, expected: bool
) -> None:
    # Upstream's rows with an empty reason mean "progressing, no special reason": ReplicaSetUpdated here.
    condition = ProgressCondition(reason=reason or ProgressReason.REPLICA_SET_UPDATED, last_update=last_update)
    assert deployment_timed_out(deadline, condition, now) is expected, name


def test_a_timed_out_or_complete_condition_decides_by_its_reason_alone() -> None:
    long_ago = ProgressCondition(reason=ProgressReason.NEW_REPLICA_SET_AVAILABLE, last_update=0.0)
    assert not deployment_timed_out(10, long_ago, 1_000.0)
    just_now = ProgressCondition(reason=ProgressReason.TIMED_OUT, last_update=1_000.0)
    assert deployment_timed_out(10, just_now, 1_000.0)
    assert not deployment_timed_out(10, None, 1_000.0)
