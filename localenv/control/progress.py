"""The rollout's progress, mirroring kubernetes pkg/controller/deployment/progress.go syncRolloutStatus.

The Deployment's Progressing condition moves, in this order of checks: to NewReplicaSetAvailable when
the rollout is complete; to ReplicaSetUpdated (with a fresh LastUpdateTime) whenever the status shows
progress — also after a timeout, as upstream does; to ProgressDeadlineExceeded when nothing has moved
for progressDeadlineSeconds. A complete rollout is not judged again. Read at kubernetes/kubernetes
commit c91999a.
"""

from __future__ import annotations

from localenv.control.deployment_util import deployment_complete, deployment_progressing, deployment_timed_out
from localenv.control.objects import DeploymentStatus, ProgressCondition, ProgressReason, RolloutState


def sync_rollout_status(
    *,
    desired: int,
    progress_deadline: float | None,
    previous: DeploymentStatus,
    current: DeploymentStatus,
    condition: ProgressCondition | None,
    now: float,
) -> ProgressCondition | None:
    """The Progressing condition after a sync that saw `current` where the last one saw `previous`."""
    if progress_deadline is None:
        return None  # no deadline: no Progressing condition, no progress estimated
    if (
        current.replicas == current.updated
        and condition is not None
        and condition.reason is ProgressReason.NEW_REPLICA_SET_AVAILABLE
    ):
        return condition
    if deployment_complete(desired, current):
        return _set(condition, ProgressReason.NEW_REPLICA_SET_AVAILABLE, now)
    if deployment_progressing(previous, current):
        return ProgressCondition(reason=ProgressReason.REPLICA_SET_UPDATED, last_update=now)
    if deployment_timed_out(progress_deadline, condition, now):
        return _set(condition, ProgressReason.TIMED_OUT, now)
    return condition


def rollout_state(condition: ProgressCondition | None) -> RolloutState:
    """What `kubectl rollout status` makes of the Progressing condition."""
    if condition is None:
        return RolloutState.PROGRESSING
    if condition.reason is ProgressReason.NEW_REPLICA_SET_AVAILABLE:
        return RolloutState.COMPLETE
    if condition.reason is ProgressReason.TIMED_OUT:
        return RolloutState.FAILED
    return RolloutState.PROGRESSING


def _set(condition: ProgressCondition | None, reason: ProgressReason, now: float) -> ProgressCondition:
    # SetDeploymentCondition: a condition with the same reason is left as it is (its times kept).
    if condition is not None and condition.reason is reason:
        return condition
    return ProgressCondition(reason=reason, last_update=now)
