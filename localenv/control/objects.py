"""The cluster's objects as the control loop keeps them: pods, ReplicaSets, the rollout, and their states.

Plain mutable dataclasses, like the objects an API server stores: the decisions in this package read
them and say what changes; only `localenv.control.cluster` writes them. Nothing here touches a process,
a socket or a clock — every time is a number handed in as `now`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from localenv.control.backoff import KUBELET_BACK_OFF, BackOffEntry, CrashLoopBackOff
from localenv.control.disruption import DisruptionBudget
from localenv.control.scheduling import Node
from localenv.spec import DeploymentSpec, PodTemplate, Probe


class PodPhase(enum.StrEnum):
    """Where a pod is in its life, as `kubectl get pods` shows it in its STATUS column."""

    PENDING = "Pending"
    RUNNING = "Running"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class ProbeKind(enum.StrEnum):
    """The kubelet's three probes (pkg/kubelet/prober: startup, readiness, liveness)."""

    STARTUP = "startup"
    READINESS = "readiness"
    LIVENESS = "liveness"


class RolloutState(enum.StrEnum):
    """What `kubectl rollout status` would say about the latest rollout."""

    PROGRESSING = "progressing"
    COMPLETE = "complete"
    FAILED = "failed"


class ProgressReason(enum.StrEnum):
    """The reason of the Deployment's Progressing condition (util/deployment_util.go's reason constants)."""

    NEW_REPLICA_SET_CREATED = "NewReplicaSetCreated"
    FOUND_NEW_REPLICA_SET = "FoundNewReplicaSet"
    REPLICA_SET_UPDATED = "ReplicaSetUpdated"
    NEW_REPLICA_SET_AVAILABLE = "NewReplicaSetAvailable"
    TIMED_OUT = "ProgressDeadlineExceeded"


@dataclass(frozen=True, kw_only=True)
class ProgressCondition:
    """The Deployment's Progressing condition: its reason and when progress was last seen (LastUpdateTime)."""

    reason: ProgressReason
    last_update: float


@dataclass(frozen=True, kw_only=True)
class DeploymentStatus:
    """The counts a rollout is judged by (apps/v1 DeploymentStatus): terminating pods are not counted."""

    replicas: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0


@dataclass
class ProbeWorker:
    """One probe of one container, keeping what pkg/kubelet/prober/worker.go keeps between two probes."""

    kind: ProbeKind
    probe: Probe
    next_due: float
    last_result: bool | None = None
    result_run: int = 0
    """How many times in a row the probe answered `last_result`."""
    on_hold: bool = False
    """Stopped until a new container: set when a liveness or startup probe reached its threshold."""
    in_flight: bool = False


@dataclass
class Container:
    """The pod's current container: one process tree started by the runtime."""

    id: str
    started_at: float
    pid: int
    started: bool
    """The startup probe has passed (or there is none); readiness and liveness wait for it."""
    probes: dict[ProbeKind, ProbeWorker] = field(default_factory=dict)


@dataclass
class Termination:
    """A container being stopped as the kubelet's killContainer does it: preStop, then SIGTERM, then SIGKILL."""

    reason: str
    began: float
    grace: float
    pre_stop_until: float | None
    """When the preStop sleep ends; None when there is no preStop hook."""
    sigterm_at: float | None = None
    kill_at: float | None = None
    killed: bool = False


@dataclass
class Pod:
    """One pod: its template, its address, its container and where it is in its life."""

    name: str
    revision: int
    template: PodTemplate
    created: float
    address: str | None = None
    """host:port the ingress sends to, given by the runtime when the first container starts (the pod IP)."""
    phase: PodPhase = PodPhase.PENDING
    container: Container | None = None
    attempts: int = 0
    """Containers started so far; names the next one."""
    restarts: int = 0
    finished_at: float | None = None
    """When the last container exited (or failed to start): the crash-loop back-off counts from here."""
    back_off: BackOffEntry | None = None
    ready: bool = False
    """The Ready condition: every container ready and every readiness gate passed."""
    ready_since: float | None = None
    containers_ready: bool = False
    """ContainersReady: the readiness probe's verdict alone."""
    gates_passed: bool | None = None
    """The readiness gates' conditions (None: the template has none, nothing to wait for)."""
    deleted_at: float | None = None
    stopping: Termination | None = None
    """Set while the kubelet stops the container: the pod was deleted, or a probe failed it."""
    node: str | None = None
    """The node the scheduler bound the pod to (spec.nodeName); None while it waits for one."""
    unschedulable: str = ""
    """Why the scheduler found no node at its last try (FailedScheduling), '' otherwise."""

    @property
    def version(self) -> str:
        """The version this pod serves."""
        return self.template.version

    @property
    def terminating(self) -> bool:
        """True once the pod has been deleted (it may still be draining)."""
        return self.deleted_at is not None

    def available(self, now: float, min_ready: float) -> bool:
        """Ready for at least minReadySeconds, and not terminating."""
        return (
            not self.terminating and self.ready and self.ready_since is not None and now - self.ready_since >= min_ready
        )


@dataclass
class ReplicaSet:
    """One revision of the Deployment: a pod template and how many pods of it should run."""

    revision: int
    template: PodTemplate
    created: int
    """Creation order (a ReplicaSet's creationTimestamp): old ReplicaSets are scaled down oldest first."""
    replicas: int = 0
    pods: list[Pod] = field(default_factory=list)

    def active(self) -> list[Pod]:
        """Pods not yet terminating (controller.FilterActivePods)."""
        return [p for p in self.pods if not p.terminating]


@dataclass
class Rollout:
    """The latest rollout, as `kubectl rollout status` would report it."""

    revision: int
    version: str
    started: float
    condition: ProgressCondition
    status: DeploymentStatus
    """The Deployment's status at the last sync: progress is measured against it."""
    state: RolloutState = RolloutState.PROGRESSING
    message: str = ""
    completed: float | None = None
    drained: float | None = None


@dataclass(frozen=True, kw_only=True)
class EndpointsPush:
    """An endpoints change on its way to the ingress: due once the propagation delay has passed."""

    due: float
    names: tuple[str, ...]
    addresses: tuple[str, ...]


@dataclass
class Drain:
    """`kubectl drain NODE` in progress: every pod on the node evicted, refused ones retried after a delay."""

    node: str
    started: float
    deadline: float
    retry_delay: float
    next_attempt: dict[str, float] = field(default_factory=dict)
    """Pod name → when its eviction is tried again (after a 429)."""
    refusals: dict[str, str] = field(default_factory=dict)
    """Pod name → why its last eviction was refused."""
    evicted: list[str] = field(default_factory=list)
    done: float | None = None
    failed: str = ""


@dataclass
class Cluster:
    """Everything one Deployment's control loop knows: its spec, ReplicaSets, rollout and endpoints."""

    spec: DeploymentSpec | None = None
    replica_sets: list[ReplicaSet] = field(default_factory=list)
    rollout: Rollout | None = None
    endpoints: tuple[str, ...] = ()
    """Pod names in the endpoints object (not yet necessarily at the ingress)."""
    applied_endpoints: tuple[str, ...] = ()
    """Pod names the ingress balances over right now."""
    pending_pushes: list[EndpointsPush] = field(default_factory=list)
    push_failing: bool = False
    pods_created: int = 0
    replica_sets_created: int = 0
    endpoint_propagation: float = 0.0
    """Seconds before an endpoints change reaches the ingress (EndpointSlice watch + the ingress's sync)."""
    back_off: CrashLoopBackOff = field(default_factory=lambda: KUBELET_BACK_OFF)
    """The kubelet's crash-loop back-off for this Deployment's containers."""
    nodes: tuple[Node, ...] = ()
    """The nodes pods may be bound to; with none, pods run unbound (as before nodes existed)."""
    budget: DisruptionBudget | None = None
    """The PodDisruptionBudget over this Deployment's pods, if any."""
    drains: list[Drain] = field(default_factory=list)

    def current(self) -> ReplicaSet | None:
        """The ReplicaSet of the latest revision (the new one during a rollout)."""
        return self.replica_sets[-1] if self.replica_sets else None

    def pods(self) -> list[Pod]:
        """Every pod, terminating ones included."""
        return [p for rs in self.replica_sets for p in rs.pods]

    def active_pods(self) -> list[Pod]:
        """Every pod not yet terminating."""
        return [p for rs in self.replica_sets for p in rs.active()]

    def find_pod(self, name: str) -> Pod | None:
        """The pod called `name`, if it is still there."""
        return next((p for p in self.pods() if p.name == name), None)

    def min_ready(self) -> float:
        """minReadySeconds of the Deployment (0 before the first apply)."""
        return self.spec.min_ready if self.spec else 0.0
