"""The Deployment controller's arithmetic, mirroring kubernetes pkg/controller/deployment/util/deployment_util.go.

Each function has the name and the meaning of its counterpart there (read at kubernetes/kubernetes
commit 277391e; the same logic as in current releases): ResolveFenceposts, MaxUnavailable, MaxSurge,
NewRSNewReplicas, DeploymentComplete, DeploymentProgressing, DeploymentTimedOut. Only the
RollingUpdate strategy exists locally (spec.py refuses Recreate), so the Recreate branches are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.contract.rollout import IntOrPercent, scaled_value
from app.contract.rollout import resolve_fenceposts as _resolve_fenceposts
from localenv.control.objects import DeploymentStatus, ProgressCondition, ProgressReason
from localenv.spec import DeploymentSpec


@dataclass(frozen=True, kw_only=True)
class ReplicaSetCounts:
    """A ReplicaSet as the Deployment controller reads it: spec.replicas and status.availableReplicas."""

    revision: int
    created: int
    """Creation order (creationTimestamp)."""
    replicas: int
    available: int = 0


def resolve_fenceposts(max_surge: IntOrPercent, max_unavailable: IntOrPercent, desired: int) -> tuple[int, int]:
    """ResolveFenceposts: (surge, unavailable) pods; surge rounds up, unavailable down, never both 0."""
    return _resolve_fenceposts(max_surge, max_unavailable, desired)


def max_unavailable(deployment: DeploymentSpec) -> int:
    """MaxUnavailable: pods that may be unavailable during the rollout, at most `replicas` (0 for no replicas)."""
    if deployment.replicas == 0:
        return 0
    _, unavailable = resolve_fenceposts(deployment.max_surge, deployment.max_unavailable, deployment.replicas)
    return min(unavailable, deployment.replicas)


def max_surge(deployment: DeploymentSpec) -> int:
    """MaxSurge: pods that may run above `replicas` during the rollout."""
    surge, _ = resolve_fenceposts(deployment.max_surge, deployment.max_unavailable, deployment.replicas)
    return surge


def replica_count(replica_sets: Sequence[ReplicaSetCounts]) -> int:
    """GetReplicaCountForReplicaSets: the sum of spec.replicas."""
    return sum(rs.replicas for rs in replica_sets)


def available_count(replica_sets: Sequence[ReplicaSetCounts]) -> int:
    """GetAvailableReplicaCountForReplicaSets: the sum of status.availableReplicas."""
    return sum(rs.available for rs in replica_sets)


def new_rs_new_replicas(
    deployment: DeploymentSpec, all_replica_sets: Sequence[ReplicaSetCounts], new: ReplicaSetCounts
) -> int:
    """NewRSNewReplicas: the new ReplicaSet grows while all ReplicaSets together stay ≤ replicas + maxSurge."""
    # maxSurge as a plain IntOrPercent of `replicas`, rounded up (GetValueFromIntOrPercent, not the fenceposts).
    surge = scaled_value(deployment.max_surge, deployment.replicas, round_up=True)
    current = replica_count(all_replica_sets)
    max_total = deployment.replicas + surge
    if current >= max_total:
        return new.replicas
    return new.replicas + min(max_total - current, deployment.replicas - new.replicas)


def deployment_complete(desired: int, status: DeploymentStatus) -> bool:
    """DeploymentComplete: every desired pod is updated and available, and no old pod is left."""
    return status.updated == desired and status.replicas == desired and status.available == desired


def deployment_progressing(previous: DeploymentStatus, current: DeploymentStatus) -> bool:
    """DeploymentProgressing: more updated, fewer old, more ready or more available pods than at the last sync."""
    previous_old = previous.replicas - previous.updated
    current_old = current.replicas - current.updated
    return (
        current.updated > previous.updated
        or current_old < previous_old
        or current.ready > previous.ready
        or current.available > previous.available
    )


def deployment_timed_out(progress_deadline: float | None, condition: ProgressCondition | None, now: float) -> bool:
    """DeploymentTimedOut: no progress for longer than progressDeadlineSeconds since the condition's last update."""
    if progress_deadline is None or condition is None:
        return False
    if condition.reason is ProgressReason.NEW_REPLICA_SET_AVAILABLE:
        return False
    if condition.reason is ProgressReason.TIMED_OUT:
        return True
    return condition.last_update + progress_deadline < now
