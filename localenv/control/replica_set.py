"""The ReplicaSet controller's choices, mirroring kubernetes pkg/controller/replicaset/replica_set.go.

manageReplicas compares a ReplicaSet's active pods with its spec.replicas; when there are too many,
getPodsToDelete picks the victims in the order of controller.ActivePods (pkg/controller/controller_utils.go,
read at kubernetes/kubernetes commit 1f8996f): pending before running, not ready before ready, ready for
less time before ready for longer, more restarts before fewer, newer before older. With every pod on
one node the ranks of ActivePodsWithRanks are equal; its logarithmic bucketing of ready times
(LogarithmicScaleDown) is not modelled — local pods are ready for seconds, not hours.
"""

from __future__ import annotations

from collections.abc import Sequence

from localenv.control.objects import Pod, PodPhase, ReplicaSet

# PodPending < PodUnknown < PodRunning; a crash-looping pod is Running in the API (its container restarts).
_PHASE_RANK = {PodPhase.PENDING: 0, PodPhase.RUNNING: 2, PodPhase.CRASH_LOOP_BACK_OFF: 2}


def manage_replicas(rs: ReplicaSet) -> int:
    """Pods to create (> 0) or delete (< 0) so the active pods match spec.replicas."""
    return rs.replicas - len(rs.active())


def deletion_order(pod: Pod) -> tuple[int, bool, float, int, float]:
    """A sort key: pods that sort first are deleted first (ActivePods.Less)."""
    ready_for = -(pod.ready_since or 0.0) if pod.ready else 0.0
    return (_PHASE_RANK.get(pod.phase, 2), pod.ready, ready_for, -pod.restarts, -pod.created)


def get_pods_to_delete(pods: Sequence[Pod], count: int) -> list[Pod]:
    """getPodsToDelete: the `count` pods a scale-down removes."""
    return sorted(pods, key=deletion_order)[: max(count, 0)]
