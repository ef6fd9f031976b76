"""One sync of the whole loop, in Kubernetes' order, and `apply` — the entry points of the pure core.

`sync(cluster, observation, now)` runs, over the state of one Deployment:

1. the kubelet (kubelet.py) for every pod — exits, restarts, probes, preStop/SIGTERM/SIGKILL;
2. the Deployment controller — rolloutRolling (rolling.py), then syncRolloutStatus (progress.py);
3. the ReplicaSet controller (replica_set.py) — pods created or deleted to match each ReplicaSet;
4. pod GC, drains (evictions through the budget) and the scheduler binding new pods (drain.py);
5. the endpoints controller (endpoints.py) — ready, non-terminating pods, pushed after propagation.

It changes the state it is given and returns the effects the world must carry out; `handle` takes
what came of an effect (a container started, the ingress took the endpoints) and may ask for more.
A pod the ReplicaSet controller deletes leaves the endpoints in the same sync its preStop begins in:
the same race as in a cluster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from localenv.control import kubelet
from localenv.control.actions import (
    ContainerStarted,
    ContainerStartFailed,
    Effect,
    EndpointsPushed,
    EndpointsPushFailed,
    KillContainer,
    Observation,
    Outcome,
    ProbeAnswer,
    RemoveContainer,
)
from localenv.control.deployment_util import ReplicaSetCounts
from localenv.control.drain import gc_orphaned_pods, schedule_pods, sync_drains
from localenv.control.endpoints import endpoints_push_failed, endpoints_pushed, sync_endpoints
from localenv.control.events import PodChange, RolloutStep
from localenv.control.journal import Journal
from localenv.control.objects import (
    Cluster,
    Pod,
    PodPhase,
    ProgressCondition,
    ProgressReason,
    ReplicaSet,
    Rollout,
    RolloutState,
)
from localenv.control.progress import rollout_state, sync_rollout_status
from localenv.control.replica_set import get_pods_to_delete, manage_replicas
from localenv.control.rolling import Scale, ScaleReason, rollout_rolling
from localenv.control.status import deployment_status
from localenv.errors import LocalEnvError, RolloutInProgressError
from localenv.spec import DeploymentSpec


def sync(cluster: Cluster, observation: Observation, now: float) -> list[Effect]:
    """One pass of every controller over the cluster at `now`; the effects to carry out, in order."""
    journal = Journal(cluster, now)
    answers: dict[str, list[ProbeAnswer]] = defaultdict(list)
    for answer in observation.probes:
        answers[answer.container].append(answer)
    for rs in cluster.replica_sets:
        for pod in list(rs.pods):
            if cluster.nodes and pod.node is None and not pod.terminating:
                continue  # not bound to a node yet: no kubelet runs it
            container = pod.container.id if pod.container is not None else ""
            kubelet.sync_pod(
                pod,
                journal,
                exit_code=observation.exits.get(container),
                answers=answers.get(container, ()),
                back_off=cluster.back_off,
            )
        rs.pods = [p for p in rs.pods if p.phase is not PodPhase.TERMINATED]
    if cluster.spec is not None:
        sync_deployment(cluster, cluster.spec, journal)
    gc_orphaned_pods(cluster, journal)
    sync_drains(cluster, journal)
    schedule_pods(cluster, journal)
    sync_endpoints(cluster, journal)
    return journal.effects


def handle(cluster: Cluster, outcome: Outcome, now: float) -> list[Effect]:
    """Take in what came of an effect; the further effects it calls for."""
    journal = Journal(cluster, now)
    if isinstance(outcome, EndpointsPushed):
        endpoints_pushed(cluster, outcome, journal)
    elif isinstance(outcome, EndpointsPushFailed):
        endpoints_push_failed(cluster, outcome, journal)
    else:
        pod = cluster.find_pod(outcome.pod)
        if pod is None:
            if isinstance(outcome, ContainerStarted):  # its pod has gone: the container must not outlive it
                journal.do(KillContainer(container=outcome.container))
                journal.do(RemoveContainer(container=outcome.container))
            return journal.effects
        if isinstance(outcome, ContainerStarted):
            kubelet.container_started(pod, outcome, journal)
        elif isinstance(outcome, ContainerStartFailed):
            kubelet.container_start_failed(pod, outcome, journal, cluster.back_off)
    return journal.effects


def apply(
    cluster: Cluster, spec: DeploymentSpec, now: float, *, allow_during_rollout: bool = False
) -> tuple[Rollout, list[Effect]]:
    """Make `spec` the Deployment (`kubectl apply`); the rollout it started (or the current one) and its events.

    A template seen before — a rollback — takes its old ReplicaSet back under a new revision number, as
    the Deployment controller does (FindNewReplicaSet, SetNewReplicaSetAnnotations). Each apply starts
    a fresh Progressing condition, so `wait` judges this rollout, not the one before.
    """
    journal = Journal(cluster, now)
    rollout = cluster.rollout
    if rollout is not None and rollout.state is RolloutState.PROGRESSING and not allow_during_rollout:
        raise RolloutInProgressError(
            f"a rollout to {rollout.version} (revision {rollout.revision}) is still in progress; "
            "wait for it to finish (deploys are refused, not queued) or run rollback"
        )
    current = cluster.current()
    cluster.spec = spec
    if current is not None and current.template == spec.template:
        # Same template: only the replica count may change; no new revision.
        if rollout is not None and rollout.state is RolloutState.PROGRESSING:
            return rollout, journal.effects
        cluster.rollout = _new_rollout(cluster, current, ProgressReason.FOUND_NEW_REPLICA_SET, now)
        journal.rollout(
            RolloutStep.UNCHANGED,
            f"{spec.template.version} is already revision {current.revision}: nothing to roll out "
            f"(replicas {spec.replicas})",
        )
        return cluster.rollout, journal.effects
    revision = max((rs.revision for rs in cluster.replica_sets), default=0) + 1
    existing = next((rs for rs in cluster.replica_sets if rs.template == spec.template), None)
    if existing is not None:
        existing.revision = revision
        for pod in existing.pods:
            pod.revision = revision
        cluster.replica_sets.remove(existing)
        cluster.replica_sets.append(existing)
        target, reason = existing, ProgressReason.FOUND_NEW_REPLICA_SET
    else:
        cluster.replica_sets_created += 1
        target = ReplicaSet(revision=revision, template=spec.template, created=cluster.replica_sets_created)
        cluster.replica_sets.append(target)
        reason = ProgressReason.NEW_REPLICA_SET_CREATED
    cluster.rollout = _new_rollout(cluster, target, reason, now)
    journal.rollout(
        RolloutStep.STARTED,
        f"rollout to {spec.template.version} started (revision {revision}, image {spec.template.image})",
    )
    return cluster.rollout, journal.effects


def sync_readiness_gates(cluster: Cluster, passes: Callable[[str], bool], now: float) -> list[Effect]:
    """The readiness gates' controller (the AWS LB controller's target-health condition): each pod's gates."""
    journal = Journal(cluster, now)
    for pod in cluster.pods():
        if pod.template.readiness_gates and not pod.terminating and pod.gates_passed != passes(pod.name):
            kubelet.set_readiness_gates(pod, passes(pod.name), journal)
    return journal.effects


def previous_template_revision(cluster: Cluster) -> ReplicaSet | None:
    """The ReplicaSet of the revision before the current one (what `rollback` returns to)."""
    return cluster.replica_sets[-2] if len(cluster.replica_sets) >= 2 else None


def pod_to_kill(cluster: Cluster, name: str | None) -> Pod:
    """The pod `kill` signals: the one called `name`, or else the first pod whose container runs."""
    candidates = [p for p in cluster.active_pods() if p.container is not None]
    if name is not None:
        candidates = [p for p in candidates if p.name == name]
    if not candidates:
        raise LocalEnvError(f"no running pod named {name!r}" if name else "no running pod to kill")
    return candidates[0]


def killed(cluster: Cluster, pod: Pod, signal_name: str, now: float) -> list[Effect]:
    """The event for a pod someone signalled from outside (a crash, an OOM kill)."""
    journal = Journal(cluster, now)
    journal.pod(pod, PodChange.KILLED, signal=signal_name)
    return journal.effects


# -- the Deployment and ReplicaSet controllers --------------------------------------------------------------


def sync_deployment(cluster: Cluster, spec: DeploymentSpec, journal: Journal) -> None:
    """rolloutRolling, then the ReplicaSet controller for every ReplicaSet, then syncRolloutStatus."""
    new = cluster.current()
    if new is None:
        return
    counts = {rs.revision: _counts(cluster, rs, journal.now) for rs in cluster.replica_sets}
    old = [counts[rs.revision] for rs in cluster.replica_sets if rs is not new]
    scales = rollout_rolling(spec, counts[new.revision], old)
    if scales:
        journal.rollout(RolloutStep.SCALED, "; ".join(_scale(cluster, scale) for scale in scales))
    elif cluster.rollout is not None and cluster.rollout.state is RolloutState.COMPLETE:
        cleanup_deployment(cluster, spec.revision_history_limit)
    for rs in cluster.replica_sets:
        sync_replica_set(cluster, spec, rs, journal)
    sync_rollout(cluster, spec, journal)


def sync_replica_set(cluster: Cluster, spec: DeploymentSpec, rs: ReplicaSet, journal: Journal) -> None:
    """manageReplicas: create the missing pods, or delete the surplus ones in getPodsToDelete's order."""
    diff = manage_replicas(rs)
    for _ in range(diff):
        cluster.pods_created += 1
        pod = Pod(
            name=f"{spec.name}-{rs.revision}-{cluster.pods_created}",
            revision=rs.revision,
            template=rs.template,
            created=journal.now,
        )
        rs.pods.append(pod)
        journal.pod(pod, PodChange.CREATED)
    if diff < 0:
        for pod in get_pods_to_delete(rs.active(), -diff):
            kubelet.terminate_pod(pod, journal)


def sync_rollout(cluster: Cluster, spec: DeploymentSpec, journal: Journal) -> None:
    """syncRolloutStatus for the latest rollout; once complete, note when its last old pod has gone."""
    rollout = cluster.rollout
    if rollout is None:
        return
    now = journal.now
    current = deployment_status(cluster, now)
    if rollout.state is RolloutState.COMPLETE:
        draining = any(p.terminating for p in cluster.pods())
        if rollout.drained is None and not draining and not cluster.pending_pushes:
            rollout.drained = now
            journal.rollout(RolloutStep.DRAINED, f"every old pod has exited {now - rollout.started:.2f} s after start")
        rollout.status = current
        return
    condition = sync_rollout_status(
        desired=spec.replicas,
        progress_deadline=spec.progress_deadline,
        previous=rollout.status,
        current=current,
        condition=rollout.condition,
        now=now,
    )
    rollout.status = current
    rollout.condition = condition or rollout.condition
    state = rollout_state(condition)
    if state is rollout.state:
        return
    rollout.state = state
    if state is RolloutState.COMPLETE:
        rollout.completed = now
        rollout.message = (
            f"rollout to {rollout.version} complete: {spec.replicas} of {spec.replicas} pods available "
            f"after {now - rollout.started:.2f} s"
        )
        journal.rollout(RolloutStep.COMPLETE, rollout.message)
    elif state is RolloutState.FAILED:
        new = cluster.current()
        not_ready = sum(not p.ready for p in new.active()) if new else 0
        rollout.message = (
            f"rollout to {rollout.version} failed: no progress for {spec.progress_deadline:g} s "
            f"(ProgressDeadlineExceeded; {not_ready} new pod(s) not ready); the old pods keep serving — "
            "fix the release and deploy again, or run rollback"
        )
        journal.rollout(RolloutStep.FAILED, rollout.message)
    else:
        rollout.message = ""  # progress after a timeout: Progressing again, as upstream


def cleanup_deployment(cluster: Cluster, limit: int) -> None:
    """cleanupDeployment: keep at most `limit` old ReplicaSets, deleting the oldest ones that have no pods."""
    old = sorted(cluster.replica_sets[:-1], key=lambda rs: rs.created)
    for rs in old[: max(0, len(old) - limit)]:
        if rs.replicas == 0 and not rs.pods:
            cluster.replica_sets.remove(rs)


def _counts(cluster: Cluster, rs: ReplicaSet, now: float) -> ReplicaSetCounts:
    available = sum(p.available(now, cluster.min_ready()) for p in rs.active())
    return ReplicaSetCounts(revision=rs.revision, created=rs.created, replicas=rs.replicas, available=available)


def _scale(cluster: Cluster, scale: Scale) -> str:
    rs = next(r for r in cluster.replica_sets if r.revision == scale.revision)
    before, rs.replicas = rs.replicas, scale.replicas
    version = rs.template.version
    if scale.reason is ScaleReason.NEW_UP:
        return f"scaled up revision {rs.revision} ({version}) to {rs.replicas}"
    if scale.reason is ScaleReason.NEW_DOWN:
        return f"scaled revision {rs.revision} down to {rs.replicas}"
    if scale.reason is ScaleReason.UNHEALTHY:
        return f"removed {before - rs.replicas} unavailable pod(s) of revision {rs.revision}"
    return f"scaled down revision {rs.revision} ({version}) to {rs.replicas}"


def _new_rollout(cluster: Cluster, target: ReplicaSet, reason: ProgressReason, now: float) -> Rollout:
    return Rollout(
        revision=target.revision,
        version=target.template.version,
        started=now,
        condition=ProgressCondition(reason=reason, last_update=now),
        status=deployment_status(cluster, now),
    )
