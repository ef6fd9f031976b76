"""A runtime of scripted containers and a manual clock: the loop's behaviour, checked in milliseconds.

Nothing runs. A container "starts" at once; it exits when its script says (`lifetime`), when SIGTERM
makes it (`sigterm_exit_after`, default at once, as gunicorn does when idle), when SIGKILL hits it, or
when a test crashes it. Probes answer what `probe_answer` says, at the next sync. The ingress takes
endpoint lists unless `ingress_up` is false. Time moves only when a test calls `clock.advance`.

    fake = FakeRuntime()
    controller = Controller(runtime=fake, events=EventLog(None, clock=fake.now))
    controller.apply(spec); fake.run(controller, seconds=10)   # 10 s of syncs, every tick
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from localenv.control.actions import (
    ContainerStarted,
    ContainerStartFailed,
    EndpointsPushed,
    EndpointsPushFailed,
    ProbeAnswer,
    RunProbe,
    StartContainer,
)
from localenv.control.objects import EndpointsPush
from localenv.spec import PodTemplate

START = 1_000.0
EXIT_ON_SIGKILL = -signal.SIGKILL


class Syncing(Protocol):
    """Anything with a `sync()`: the controller, driven by the fake clock."""

    def sync(self) -> None:
        """One pass of the loop."""
        ...


@dataclass
class ManualClock:
    """A clock that moves only when told."""

    time: float = START

    def now(self) -> float:
        """The current fake time."""
        return self.time

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.time += seconds


@dataclass
class FakeContainer:
    """One scripted container."""

    request: StartContainer
    pid: int
    address: str
    started_at: float
    exit_at: float | None = None
    exit_code: int = 0
    reported: bool = False


@dataclass
class Signal:
    """A signal the loop sent: when, to which container, which one, and whether to the whole group."""

    at: float
    container: str
    signum: signal.Signals
    group: bool


@dataclass
class FakeRuntime:
    """Scripted containers, probe answers and ingress; everything the loop asked for is recorded."""

    clock: ManualClock = field(default_factory=ManualClock)
    probe_answer: Callable[[RunProbe, PodTemplate], tuple[bool, str]] = lambda request, template: (True, "200")
    """The answer a probe gets (ok, detail), given the probe and the template of the container it asks."""
    lifetime: Callable[[StartContainer], float | None] = lambda request: None
    """Seconds after its start when a container exits with code 1 by itself (None: it keeps running)."""
    sigterm_exit_after: Callable[[StartContainer], float | None] = lambda request: 0.0
    """Seconds after SIGTERM when a container exits (None: it ignores SIGTERM until SIGKILL)."""
    start_error: Callable[[StartContainer], str | None] = lambda request: None
    """An error message to refuse a start with (None: it starts)."""
    ingress_up: bool = True
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    started: list[StartContainer] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    probes: list[tuple[float, RunProbe]] = field(default_factory=list)
    pushes: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    _answers: list[ProbeAnswer] = field(default_factory=list)
    _pids: itertools.count[int] = field(default_factory=lambda: itertools.count(4000))
    _ports: itertools.count[int] = field(default_factory=lambda: itertools.count(20_000))

    # -- Runtime --------------------------------------------------------------------------------------

    def now(self) -> float:
        """The manual clock."""
        return self.clock.now()

    def start_container(self, request: StartContainer) -> ContainerStarted | ContainerStartFailed:
        """Start at once (or refuse, if scripted to); the pod's first start gets an address."""
        self.started.append(request)
        error = self.start_error(request)
        if error is not None:
            return ContainerStartFailed(pod=request.pod, container=request.container, error=error)
        address = request.address or f"127.0.0.1:{next(self._ports)}"
        container = FakeContainer(request=request, pid=next(self._pids), address=address, started_at=self.now())
        lifetime = self.lifetime(request)
        if lifetime is not None:
            container.exit_at, container.exit_code = self.now() + lifetime, 1
        self.containers[request.container] = container
        return ContainerStarted(pod=request.pod, container=request.container, pid=container.pid, address=address)

    def send_signal(self, container: str, signum: signal.Signals) -> None:
        """SIGTERM: exit after the scripted delay; anything else: recorded only."""
        self.signals.append(Signal(at=self.now(), container=container, signum=signum, group=False))
        target = self.containers.get(container)
        if target is None or signum is not signal.SIGTERM:
            return
        delay = self.sigterm_exit_after(target.request)
        if delay is not None:
            self._exit(target, self.now() + delay, 0)

    def kill(self, container: str, signum: signal.Signals = signal.SIGKILL) -> None:
        """SIGKILL (or any signal to the group): the container exits at once."""
        self.signals.append(Signal(at=self.now(), container=container, signum=signum, group=True))
        target = self.containers.get(container)
        if target is not None:
            self._exit(target, self.now(), -signum)

    def remove_container(self, container: str) -> None:
        """Forget the container."""
        self.containers.pop(container, None)

    def exits(self) -> dict[str, int]:
        """Containers whose exit time has come."""
        exited: dict[str, int] = {}
        for container in self.containers.values():
            if container.exit_at is not None and container.exit_at <= self.now() and not container.reported:
                container.reported = True
                exited[container.request.container] = container.exit_code
        return exited

    def run_probe(self, request: RunProbe) -> None:
        """Answer from the script, delivered at the next sync; a container that has gone does not answer."""
        self.probes.append((self.now(), request))
        target = self.containers.get(request.container)
        if target is None:
            ok, detail = False, "ConnectionRefusedError"
        else:
            ok, detail = self.probe_answer(request, target.request.template)
        self._answers.append(ProbeAnswer(container=request.container, kind=request.kind, ok=ok, detail=detail))

    def probe_answers(self) -> list[ProbeAnswer]:
        """The scripted answers of the probes run since the last call."""
        answers, self._answers = self._answers, []
        return answers

    def push_endpoints(self, push: EndpointsPush) -> EndpointsPushed | EndpointsPushFailed:
        """Recorded; refused while `ingress_up` is false."""
        if not self.ingress_up:
            return EndpointsPushFailed(push=push, error="connection refused", ingress_alive=False)
        self.pushes.append((self.now(), push.addresses))
        return EndpointsPushed(push=push)

    def pid(self, container: str) -> int | None:
        """The fake pid of a container that has not exited."""
        target = self.containers.get(container)
        if target is None or (target.exit_at is not None and target.exit_at <= self.now()):
            return None
        return target.pid

    def shutdown(self, grace: float) -> None:
        """Every container is gone."""
        self.containers.clear()

    # -- for tests ------------------------------------------------------------------------------------

    def crash(self, pod: str, code: int = 1) -> str:
        """The pod's running container exits now with `code`; returns the container's id."""
        target = next(c for c in reversed(list(self.containers.values())) if c.request.pod == pod)
        self._exit(target, self.now(), code)
        return target.request.container

    def run(self, loop: Syncing, seconds: float, tick: float = 0.02) -> None:
        """Sync `loop` every `tick` for `seconds` of fake time."""
        for _ in range(round(seconds / tick)):
            self.clock.advance(tick)
            loop.sync()

    def _exit(self, container: FakeContainer, at: float, code: int) -> None:
        if container.exit_at is None or at < container.exit_at:
            container.exit_at, container.exit_code = at, code
