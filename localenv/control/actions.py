"""What the control loop asks of the world, and what the world tells it back — as typed values.

The core returns `Effect`s; the controller performs each through the runtime (localenv/runtime). An
effect whose result matters (a container started or not, the ingress took the endpoints or not)
comes back to the core as an `Outcome`. Every sync starts from an `Observation` of what happened since
the last one: containers that exited, probes that answered.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from localenv.control.events import Event
from localenv.control.objects import EndpointsPush, ProbeKind
from localenv.spec import PodTemplate, Probe


@dataclass(frozen=True, kw_only=True)
class StartContainer:
    """Start the pod's next container; `address` is the pod's own (None on its first start: the runtime gives one)."""

    pod: str
    container: str
    template: PodTemplate
    address: str | None


@dataclass(frozen=True, kw_only=True)
class SignalContainer:
    """Send `signal` to the container's main process only (SIGTERM: as a runtime signals PID 1)."""

    container: str
    signal: signal.Signals


@dataclass(frozen=True, kw_only=True)
class KillContainer:
    """SIGKILL every process of the container."""

    container: str


@dataclass(frozen=True, kw_only=True)
class RemoveContainer:
    """The container's main process has exited: take the rest of its processes with it and forget it."""

    container: str


@dataclass(frozen=True, kw_only=True)
class RunProbe:
    """Run one probe against the container; its answer comes back in a later observation."""

    container: str
    kind: ProbeKind
    address: str
    probe: Probe


@dataclass(frozen=True, kw_only=True)
class PushEndpoints:
    """Hand the ingress a new endpoint list."""

    push: EndpointsPush


@dataclass(frozen=True, kw_only=True)
class Emit:
    """Record an event."""

    event: Event


Effect = StartContainer | SignalContainer | KillContainer | RemoveContainer | RunProbe | PushEndpoints | Emit


@dataclass(frozen=True, kw_only=True)
class ContainerStarted:
    """The runtime started the container: its main process and the pod's address."""

    pod: str
    container: str
    pid: int
    address: str


@dataclass(frozen=True, kw_only=True)
class ContainerStartFailed:
    """The runtime could not start the container."""

    pod: str
    container: str
    error: str


@dataclass(frozen=True, kw_only=True)
class EndpointsPushed:
    """The ingress balances over the pushed endpoints now."""

    push: EndpointsPush


@dataclass(frozen=True, kw_only=True)
class EndpointsPushFailed:
    """The ingress did not take the endpoints (busy or gone); the push is tried again next sync."""

    push: EndpointsPush
    error: str
    ingress_alive: bool


Outcome = ContainerStarted | ContainerStartFailed | EndpointsPushed | EndpointsPushFailed


@dataclass(frozen=True, kw_only=True)
class ProbeAnswer:
    """One probe's answer: ok (any 2xx/3xx in time), and what it got (a status code or an error name)."""

    container: str
    kind: ProbeKind
    ok: bool
    detail: str


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What happened in the world since the last sync."""

    exits: Mapping[str, int] = field(default_factory=dict)
    """Containers whose main process exited, with its exit code."""
    probes: Sequence[ProbeAnswer] = ()
