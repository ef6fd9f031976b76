"""Typed events: every pod change, probe result, endpoints change, rollout step and ingress step.

The control loop creates them with zero time stamps; the event log (localenv/events.py) stamps each
with three clocks — `t` (seconds since the environment started), `monotonic` (the clock the traffic
generator stamps responses with) and `time` (wall clock, ISO 8601) — and writes it as one JSON line.
`to_json` gives exactly the keys `events.jsonl`, `watch --json` and the supervisor stream carry;
`parse_event` reads such a line back. Each carries a snapshot of the counts the rollout invariants are
stated in, so a test can check "pods ≤ replicas + surge" at every single event.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from localenv.control.objects import PodPhase, ProbeKind
from localenv.control.wire import from_json, to_json

JSON = dict[str, Any]


class EventKind(enum.StrEnum):
    """What an event is about."""

    POD = "pod"
    PROBE = "probe"
    ENDPOINTS = "endpoints"
    ROLLOUT = "rollout"
    INGRESS = "ingress"
    NODE = "node"


class PodChange(enum.StrEnum):
    """What happened to a pod (the kubelet's and the ReplicaSet controller's event reasons, locally named)."""

    CREATED = "Created"
    STARTED = "Started"
    START_FAILED = "StartFailed"
    STARTUP_SUCCEEDED = "StartupSucceeded"
    READY = "Ready"
    NOT_READY = "NotReady"
    RESTARTING = "Restarting"
    CONTAINER_EXITED = "ContainerExited"
    TERMINATING = "Terminating"
    SIGTERM = "SIGTERM"
    SIGKILL = "SIGKILL"
    TERMINATED = "Terminated"
    KILLED = "Killed"
    SCHEDULED = "Scheduled"
    FAILED_SCHEDULING = "FailedScheduling"


class RolloutStep(enum.StrEnum):
    """A step of a rollout."""

    STARTED = "started"
    UNCHANGED = "unchanged"
    SCALED = "scaled"
    COMPLETE = "complete"
    FAILED = "failed"
    DRAINED = "drained"
    ERROR = "error"


class EndpointsStage(enum.StrEnum):
    """`changed`: the endpoints object changed; `applied`: the ingress balances over it (after propagation)."""

    CHANGED = "changed"
    APPLIED = "applied"


class IngressStep(enum.StrEnum):
    """What the ingress (or the canary driving it) did."""

    STARTED = "started"
    RECOVERED = "recovered"
    UNREACHABLE = "unreachable"
    CANARY_ROUTE = "canary-route"
    CANARY_ANALYSIS = "canary-analysis"


@dataclass(frozen=True, kw_only=True)
class Counts:
    """Pods by kind at one moment, in the terms the rollout invariants use (terminating pods not counted)."""

    desired: int = 0
    pods: int = 0
    new: int = 0
    old: int = 0
    ready: int = 0
    available: int = 0
    new_available: int = 0
    terminating: int = 0
    endpoints: int = 0


@dataclass(frozen=True, kw_only=True)
class EventBase:
    """The time stamps every event carries once the event log has recorded it."""

    kind: ClassVar[EventKind]
    t: float = 0.0
    monotonic: float = 0.0
    time: str = ""

    def to_json(self) -> JSON:
        """The event as one JSON object: stamps, kind, then its fields; an unset optional field is left out."""
        data: JSON = {"t": self.t, "monotonic": self.monotonic, "time": self.time, "kind": self.kind.value}
        fields: JSON = to_json(self, omit_unset=True)
        data.update((key, value) for key, value in fields.items() if key not in data)
        return data


@dataclass(frozen=True, kw_only=True)
class PodEvent(EventBase):
    """A pod changed: created, started, ready, signalled, exited, terminated …"""

    kind: ClassVar[EventKind] = EventKind.POD
    pod: str
    change: PodChange
    phase: PodPhase
    version: str
    revision: int
    pid: int | None = None
    restarts: int | None = None
    exit_code: int | None = None
    restart_in_s: float | None = None
    signal: str | None = None
    reason: str | None = None
    pre_stop_s: float | None = None
    grace_s: float | None = None
    after_pre_stop_s: float | None = None
    after_s: float | None = None
    error: str | None = None
    node: str | None = None
    counts: Counts


@dataclass(frozen=True, kw_only=True)
class ProbeEvent(EventBase):
    """One probe's answer (every answer, not only changes)."""

    kind: ClassVar[EventKind] = EventKind.PROBE
    pod: str
    probe: ProbeKind
    ok: bool
    detail: str
    counts: Counts


@dataclass(frozen=True, kw_only=True)
class EndpointsEvent(EventBase):
    """The endpoints changed, or the ingress now has them (`versions`: what those pods serve)."""

    kind: ClassVar[EventKind] = EventKind.ENDPOINTS
    stage: EndpointsStage
    endpoints: tuple[str, ...]
    versions: tuple[str, ...] | None = None
    counts: Counts


@dataclass(frozen=True, kw_only=True)
class RolloutEvent(EventBase):
    """A rollout started, scaled a ReplicaSet, completed, failed, drained; or the loop stopped (`error`)."""

    kind: ClassVar[EventKind] = EventKind.ROLLOUT
    step: RolloutStep
    message: str
    revision: int | None
    version: str | None
    counts: Counts


@dataclass(frozen=True, kw_only=True)
class IngressEvent(EventBase):
    """nginx started or could not be reached; a canary's weight moved or its analysis looked."""

    kind: ClassVar[EventKind] = EventKind.INGRESS
    step: IngressStep
    url: str | None = None
    pid: int | None = None
    killed_orphans: int | None = None
    error: str | None = None
    alive: bool | None = None
    weight: int | None = None
    version: str | None = None
    header: bool | None = None
    verdict: str | None = None
    requests: int | None = None
    failed: int | None = None
    error_rate: float | None = None
    elapsed: float | None = None
    reasons: tuple[str, ...] | None = None


class NodeStep(enum.StrEnum):
    """What happened to a node, or to a pod on it through the eviction API."""

    ADDED = "added"
    REMOVED = "removed"
    CORDONED = "cordoned"
    UNCORDONED = "uncordoned"
    DRAIN_STARTED = "drain-started"
    EVICTED = "evicted"
    EVICTION_REFUSED = "eviction-refused"
    DRAINED = "drained"
    DRAIN_FAILED = "drain-failed"
    UPDATE_STARTED = "nodegroup-update-started"
    UPDATE_COMPLETE = "nodegroup-update-complete"
    UPDATE_FAILED = "nodegroup-update-failed"


@dataclass(frozen=True, kw_only=True)
class NodeEvent(EventBase):
    """A node was added, cordoned, drained, removed; a pod on it was evicted or its eviction refused.

    An eviction event carries the budget's status at the moment of the eviction (before it), so a test
    can check from the log alone that no eviction went past a PodDisruptionBudget.
    """

    kind: ClassVar[EventKind] = EventKind.NODE
    step: NodeStep
    node: str
    zone: str | None = None
    pod: str | None = None
    code: int | None = None
    message: str | None = None
    budget: str | None = None
    current_healthy: int | None = None
    desired_healthy: int | None = None
    disruptions_allowed: int | None = None
    counts: Counts = field(default_factory=Counts)


Event = PodEvent | ProbeEvent | EndpointsEvent | RolloutEvent | IngressEvent | NodeEvent

_BY_KIND: dict[str, type[Event]] = {cls.kind.value: cls for cls in typing.get_args(Event)}


def parse_event(raw: Mapping[str, Any]) -> Event:
    """The event a JSON object (one `events.jsonl` line, one `watch --json` line) describes; ValueError if none."""
    cls = _BY_KIND.get(str(raw.get("kind")))
    if cls is None:
        raise ValueError(f"not an event: kind {raw.get('kind')!r}")
    return from_json(cls, raw)
