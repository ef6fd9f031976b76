"""Nodes in one Deployment's control loop: binding pods (the scheduler), evicting them (the eviction API), draining.

- `schedule_pods`: every pod not yet bound gets a node from `scheduling.schedule`, in creation order, or
  stays Pending with the scheduler's FailedScheduling message (retried every sync, as the scheduler's
  queue retries an unschedulable pod when the cluster changes).
- `evict_pod`: the eviction API for one pod (disruption.evict against the budget's status right now);
  an allowed eviction deletes the pod gracefully — the kubelet's normal termination, preStop first.
- `sync_drains`: kubectl's drain (kubernetes/kubectl pkg/drain/drain.go, Helper.evictPods) after the
  node was cordoned: every pod on the node is evicted at once; a 429 is retried after
  EvictErrorRetryDelay (5 s in `kubectl drain`); NotFound or success ends that pod's loop, and the drain
  waits for the pod to be gone (waitForDelete). At the global timeout the drain stops and says which pods
  it could not evict and why; pods it did not evict keep running and the node stays cordoned.
- `gc_orphaned_pods`: a pod bound to a node that no longer exists is deleted (pkg/controller/podgc
  gcOrphaned), so removing a node never leaves a pod behind.
"""

from __future__ import annotations

from localenv.control import kubelet
from localenv.control.disruption import BudgetStatus, Eviction, EvictionOutcome, budget_status, evict
from localenv.control.events import NodeStep, PodChange
from localenv.control.journal import Journal
from localenv.control.objects import Cluster, Drain, Pod, PodPhase
from localenv.control.scheduling import PlacedPod, schedule

# kubectl pkg/cmd/drain: EvictErrorRetryDelay defaults to 5 s.
EVICTION_RETRY_DELAY = 5.0


def schedule_pods(cluster: Cluster, journal: Journal) -> None:
    """Bind every unbound, non-terminating pod to the node the scheduler picks (none when there are no nodes)."""
    if not cluster.nodes or cluster.spec is None:
        return
    placement = cluster.spec.placement
    for pod in sorted(cluster.pods(), key=lambda p: p.created):
        if pod.node is not None or pod.terminating:
            continue
        placed = [
            PlacedPod(node=p.node, revision=p.revision, terminating=p.terminating)
            for p in cluster.pods()
            if p.node is not None and p.phase is not PodPhase.TERMINATED
        ]
        decision = schedule(placement, pod.revision, cluster.nodes, placed)
        if decision.node is None:
            if decision.reason != pod.unschedulable:
                pod.unschedulable = decision.reason
                journal.pod(pod, PodChange.FAILED_SCHEDULING, reason=decision.reason)
            continue
        pod.node, pod.unschedulable = decision.node, ""
        journal.pod(pod, PodChange.SCHEDULED)


def budget_now(cluster: Cluster) -> BudgetStatus | None:
    """The budget's status right now (the disruption controller, never behind), or None without a budget."""
    if cluster.budget is None:
        return None
    pods = [p for p in cluster.pods() if p.phase is not PodPhase.TERMINATED]
    healthy = sum(p.ready and not p.terminating for p in pods)
    scale = cluster.spec.replicas if cluster.spec else 0
    return budget_status(cluster.budget, scale=scale, pods=len(pods), healthy=healthy)


def evict_pod(cluster: Cluster, pod: Pod, journal: Journal) -> Eviction:
    """POST pods/<name>/eviction: judge it against the budget; if allowed, delete the pod gracefully."""
    status = budget_now(cluster)
    eviction = evict(
        pending=pod.container is None and pod.phase is PodPhase.PENDING,
        terminating=pod.terminating,
        ready=pod.ready,
        budget=cluster.budget,
        status=status,
    )
    budget_fields = {}
    if cluster.budget is not None and status is not None:
        budget_fields = {
            "budget": cluster.budget.describe(),
            "current_healthy": status.current_healthy,
            "desired_healthy": status.desired_healthy,
            "disruptions_allowed": status.disruptions_allowed,
        }
    node = pod.node or ""
    if eviction.outcome is EvictionOutcome.REFUSED:
        journal.node(
            NodeStep.EVICTION_REFUSED,
            node,
            pod=pod.name,
            code=eviction.code,
            message=f"{eviction.message} {eviction.cause}",
            **budget_fields,
        )
    elif eviction.outcome is not EvictionOutcome.ALREADY_TERMINATING:
        journal.node(
            NodeStep.EVICTED, node, pod=pod.name, code=eviction.code, message=eviction.outcome.value, **budget_fields
        )
        kubelet.terminate_pod(pod, journal)
    return eviction


def start_drain(
    cluster: Cluster, node: str, timeout: float, now: float, retry_delay: float = EVICTION_RETRY_DELAY
) -> Drain:
    """Begin draining `node` (already cordoned) with a global timeout of `timeout` seconds."""
    drain = Drain(node=node, started=now, deadline=now + timeout, retry_delay=retry_delay)
    cluster.drains = [d for d in cluster.drains if d.node != node] + [drain]
    return drain


def sync_drains(cluster: Cluster, journal: Journal) -> None:
    """One pass of every drain in progress: evictions that are due, then done, or out of time."""
    for drain in cluster.drains:
        if drain.done is not None or drain.failed:
            continue
        on_node = [p for p in cluster.pods() if p.node == drain.node and p.phase is not PodPhase.TERMINATED]
        if not on_node:
            drain.done = journal.now
            journal.node(
                NodeStep.DRAINED,
                drain.node,
                message=f"{len(drain.evicted)} pod(s) evicted in {journal.now - drain.started:.2f} s",
            )
            continue
        if journal.now >= drain.deadline:
            drain.failed = drain_timeout_message(drain, [p.name for p in on_node if not p.terminating])
            journal.node(NodeStep.DRAIN_FAILED, drain.node, message=drain.failed)
            continue
        for pod in on_node:
            if pod.terminating or journal.now < drain.next_attempt.get(pod.name, drain.started):
                continue
            eviction = evict_pod(cluster, pod, journal)
            if eviction.allowed:
                drain.refusals.pop(pod.name, None)
                drain.evicted.append(pod.name)
            else:
                drain.refusals[pod.name] = f"{eviction.message} {eviction.cause}"
                drain.next_attempt[pod.name] = journal.now + drain.retry_delay


def drain_timeout_message(drain: Drain, remaining: list[str]) -> str:
    """kubectl's 'global timeout reached', naming each pod still on the node and what blocks it."""
    seconds = drain.deadline - drain.started
    if not remaining:
        return (
            f"drain of {drain.node} timed out after {seconds:g} s: every pod was evicted but not all have "
            "finished terminating yet; the node stays cordoned"
        )
    blocked = "; ".join(f"{name}: {drain.refusals.get(name, 'not yet evicted')}" for name in remaining)
    return (
        f"drain of {drain.node} timed out after {seconds:g} s (global timeout reached): {blocked} — "
        f"{len(remaining)} pod(s) not evicted keep running and {drain.node} stays cordoned; "
        "run uncordon to use it again, or drain again once the budget allows a disruption"
    )


def cancel_drain(cluster: Cluster, node: str, reason: str) -> None:
    """Stop draining `node` (the drain gave up elsewhere): no further evictions, pods left running."""
    for drain in cluster.drains:
        if drain.node == node and drain.done is None and not drain.failed:
            drain.failed = reason


def gc_orphaned_pods(cluster: Cluster, journal: Journal) -> None:
    """podgc gcOrphaned: delete the pods bound to a node that is gone (locally their processes stop gracefully)."""
    if not cluster.nodes:
        return
    names = {n.name for n in cluster.nodes}
    for pod in cluster.pods():
        if pod.node is not None and pod.node not in names and not pod.terminating:
            kubelet.terminate_pod(pod, journal)
