"""The rolling update, mirroring kubernetes pkg/controller/deployment/rolling.go.

`rollout_rolling` is rolloutRolling: scale the new ReplicaSet up if it can (and stop there for this
sync), else scale old ReplicaSets down — unavailable pods first (cleanupUnhealthyReplicas), then
available ones while at least `replicas − maxUnavailable` stay available
(scaleDownOldReplicaSetsForRollingUpdate). Each function returns the scalings it decides, as values;
nothing is changed here. Read at kubernetes/kubernetes commit 95f0849.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from localenv.control.deployment_util import (
    ReplicaSetCounts,
    available_count,
    max_unavailable,
    new_rs_new_replicas,
    replica_count,
)
from localenv.spec import DeploymentSpec


class ScaleReason(enum.StrEnum):
    """Why a ReplicaSet is scaled."""

    NEW_UP = "new up"
    NEW_DOWN = "new down"
    UNHEALTHY = "unhealthy"
    OLD_DOWN = "old down"


@dataclass(frozen=True, kw_only=True)
class Scale:
    """Scale the ReplicaSet of `revision` to `replicas` (scaleReplicaSetAndRecordEvent)."""

    revision: int
    replicas: int
    reason: ScaleReason


def rollout_rolling(deployment: DeploymentSpec, new: ReplicaSetCounts, old: Sequence[ReplicaSetCounts]) -> list[Scale]:
    """rolloutRolling: the scalings of one sync — the new ReplicaSet up, or else the old ones down."""
    all_replica_sets = [*old, new]
    grow = reconcile_new_replica_set(deployment, all_replica_sets, new)
    if grow is not None:
        return [grow]
    active_old = [rs for rs in old if rs.replicas > 0]  # controller.FilterActiveReplicaSets
    return reconcile_old_replica_sets(deployment, all_replica_sets, active_old, new)


def reconcile_new_replica_set(
    deployment: DeploymentSpec, all_replica_sets: Sequence[ReplicaSetCounts], new: ReplicaSetCounts
) -> Scale | None:
    """reconcileNewReplicaSet: the new ReplicaSet's next size, or None when it stays as it is."""
    if new.replicas == deployment.replicas:
        return None
    if new.replicas > deployment.replicas:
        return Scale(revision=new.revision, replicas=deployment.replicas, reason=ScaleReason.NEW_DOWN)
    grown = new_rs_new_replicas(deployment, all_replica_sets, new)
    if grown == new.replicas:
        return None
    return Scale(revision=new.revision, replicas=grown, reason=ScaleReason.NEW_UP)


def reconcile_old_replica_sets(
    deployment: DeploymentSpec,
    all_replica_sets: Sequence[ReplicaSetCounts],
    old: Sequence[ReplicaSetCounts],
    new: ReplicaSetCounts,
) -> list[Scale]:
    """reconcileOldReplicaSets: scale old ReplicaSets down without taking availability below the floor.

    maxScaledDown = allPods − minAvailable − newRSUnavailable: unavailable new pods must not let old
    available ones go (13 − 8 − 5 = 0 in the upstream comment's crash-looping example).
    """
    if replica_count(old) == 0:
        return []
    min_available = deployment.replicas - max_unavailable(deployment)
    new_unavailable = new.replicas - new.available
    max_scaled_down = replica_count(all_replica_sets) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return []
    cleaned, cleanup = cleanup_unhealthy_replicas(old, max_scaled_down)
    scaled = scale_down_old_replica_sets_for_rolling_update(deployment, [*cleaned, new], cleaned)
    return cleanup + scaled


def cleanup_unhealthy_replicas(
    old: Sequence[ReplicaSetCounts], max_cleanup: int
) -> tuple[list[ReplicaSetCounts], list[Scale]]:
    """cleanupUnhealthyReplicas: remove old pods that are not available, oldest ReplicaSet first.

    Returns the old ReplicaSets as they are after the cleanup, and the scalings it made.
    """
    scales: list[Scale] = []
    cleaned: list[ReplicaSetCounts] = []
    total = 0
    for rs in sorted(old, key=lambda r: r.created):  # ReplicaSetsByCreationTimestamp
        unhealthy = rs.replicas - rs.available
        if total >= max_cleanup or rs.replicas == 0 or unhealthy <= 0:
            cleaned.append(rs)
            continue
        cut = min(max_cleanup - total, unhealthy)
        total += cut
        cleaned.append(dataclasses.replace(rs, replicas=rs.replicas - cut))
        scales.append(Scale(revision=rs.revision, replicas=rs.replicas - cut, reason=ScaleReason.UNHEALTHY))
    return cleaned, scales


def scale_down_old_replica_sets_for_rolling_update(
    deployment: DeploymentSpec, all_replica_sets: Sequence[ReplicaSetCounts], old: Sequence[ReplicaSetCounts]
) -> list[Scale]:
    """scaleDownOldReplicaSetsForRollingUpdate: take old pods away while more than minAvailable are available."""
    min_available = deployment.replicas - max_unavailable(deployment)
    available = available_count(all_replica_sets)
    if available <= min_available:
        return []
    scales: list[Scale] = []
    remaining = available - min_available
    for rs in sorted(old, key=lambda r: r.created):
        if remaining <= 0:
            break
        if rs.replicas == 0:
            continue
        cut = min(rs.replicas, remaining)
        remaining -= cut
        scales.append(Scale(revision=rs.revision, replicas=rs.replicas - cut, reason=ScaleReason.OLD_DOWN))
    return scales
