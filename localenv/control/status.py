"""What `status` shows of one Deployment, and the counts every event carries — read from the cluster state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from localenv.control.events import Counts
from localenv.control.objects import Cluster, DeploymentStatus, Pod, PodPhase, RolloutState
from localenv.control.wire import from_json, to_json


@dataclass(frozen=True, kw_only=True)
class PodStatus:
    """One pod as `status` lists it."""

    name: str
    revision: int
    version: str
    image: str
    phase: PodPhase
    pid: int | None
    address: str | None
    ready: bool
    available: bool
    restarts: int
    age_s: float
    node: str | None = None


@dataclass(frozen=True, kw_only=True)
class RolloutStatus:
    """The latest rollout: its state and, while it runs, for how long."""

    revision: int
    version: str
    state: RolloutState
    message: str
    seconds: float


@dataclass(frozen=True, kw_only=True)
class RevisionStatus:
    """One ReplicaSet kept in the history: what it runs and how many pods it should have."""

    revision: int
    version: str
    image: str
    replicas: int


@dataclass(frozen=True, kw_only=True)
class Status:
    """The Deployment, its rollout, counts, revisions, pods and the endpoints the ingress balances over."""

    deployment: str | None
    version: str | None
    image: str | None
    replicas: int
    counts: Counts
    rollout: RolloutStatus | None
    revisions: tuple[RevisionStatus, ...]
    pods: tuple[PodStatus, ...]
    endpoints: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON object `status --json` prints."""
        data: dict[str, Any] = to_json(self)
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Self:
        """A status read back from its JSON object."""
        return from_json(cls, raw)


def counts(cluster: Cluster, now: float) -> Counts:
    """Pods by kind right now, in the terms the rollout invariants use (terminating pods not counted)."""
    current = cluster.current()
    min_ready = cluster.min_ready()
    active = cluster.active_pods()
    new = [p for p in active if current is not None and p.revision == current.revision]
    return Counts(
        desired=cluster.spec.replicas if cluster.spec else 0,
        pods=len(active),
        new=len(new),
        old=len(active) - len(new),
        ready=sum(p.ready for p in active),
        available=sum(p.available(now, min_ready) for p in active),
        new_available=sum(p.available(now, min_ready) for p in new),
        terminating=sum(p.terminating and p.phase is not PodPhase.TERMINATED for p in cluster.pods()),
        endpoints=len(cluster.applied_endpoints),
    )


def deployment_status(cluster: Cluster, now: float) -> DeploymentStatus:
    """calculateStatus: replicas, updated, ready and available pods of the Deployment right now."""
    current = cluster.current()
    active = cluster.active_pods()
    min_ready = cluster.min_ready()
    return DeploymentStatus(
        replicas=len(active),
        updated=len(current.active()) if current else 0,
        ready=sum(p.ready for p in active),
        available=sum(p.available(now, min_ready) for p in active),
    )


def pod_status(pod: Pod, now: float, min_ready: float) -> PodStatus:
    """The pod as `status` shows it."""
    return PodStatus(
        name=pod.name,
        revision=pod.revision,
        version=pod.version,
        image=pod.template.image,
        phase=pod.phase,
        pid=pod.container.pid if pod.container is not None else None,
        address=pod.address,
        ready=pod.ready,
        available=pod.available(now, min_ready),
        restarts=pod.restarts,
        age_s=round(now - pod.created, 1),
        node=pod.node,
    )


def describe(cluster: Cluster, now: float) -> Status:
    """Everything `status` shows of this Deployment."""
    spec = cluster.spec
    rollout = cluster.rollout
    return Status(
        deployment=spec.name if spec else None,
        version=spec.template.version if spec else None,
        image=spec.template.image if spec else None,
        replicas=spec.replicas if spec else 0,
        counts=counts(cluster, now),
        rollout=None
        if rollout is None
        else RolloutStatus(
            revision=rollout.revision,
            version=rollout.version,
            state=rollout.state,
            message=rollout.message,
            seconds=round((rollout.completed or now) - rollout.started, 2),
        ),
        revisions=tuple(
            RevisionStatus(
                revision=rs.revision, version=rs.template.version, image=rs.template.image, replicas=rs.replicas
            )
            for rs in cluster.replica_sets
        ),
        pods=tuple(pod_status(p, now, cluster.min_ready()) for p in cluster.pods()),
        endpoints=cluster.applied_endpoints,
    )
