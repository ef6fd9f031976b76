"""The runtime seam: everything the control loop does to the world goes through one small interface.

Start a container, signal it, see it exit, probe it, hand the ingress its endpoints, read the clock.
`localenv.runtime.process.ProcessRuntime` does it with real processes, HTTP probes and the local
nginx (the behaviour the proofs exercise); `localenv.runtime.fake.FakeRuntime` does it with scripted
exits, scripted probe answers and a manual clock, so the loop's behaviour is tested in milliseconds.
"""

from __future__ import annotations

import signal
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


class Runtime(Protocol):
    """What the control loop needs from the world."""

    def now(self) -> float:
        """The loop's clock, in seconds (time.monotonic() for real processes)."""
        ...

    def start_container(self, request: StartContainer) -> ContainerStarted | ContainerStartFailed:
        """Start the container (on the pod's address, or a new one on its first start)."""
        ...

    def send_signal(self, container: str, signum: signal.Signals) -> None:
        """Send `signum` to the container's main process only, as a runtime signals PID 1."""
        ...

    def kill(self, container: str, signum: signal.Signals = signal.SIGKILL) -> None:
        """Send `signum` to every process of the container."""
        ...

    def remove_container(self, container: str) -> None:
        """The main process has exited: end the container's other processes and forget it."""
        ...

    def exits(self) -> dict[str, int]:
        """Containers whose main process exited since the last call, with exit codes."""
        ...

    def run_probe(self, request: RunProbe) -> None:
        """Start one probe; its answer comes from a later `probe_answers()`."""
        ...

    def probe_answers(self) -> list[ProbeAnswer]:
        """Probes answered since the last call."""
        ...

    def push_endpoints(self, push: EndpointsPush) -> EndpointsPushed | EndpointsPushFailed:
        """Hand the ingress the endpoint list; never reloads it."""
        ...

    def pid(self, container: str) -> int | None:
        """The container's main process id while it runs."""
        ...

    def shutdown(self, grace: float) -> None:
        """Stop every container: SIGTERM to each, SIGKILL after `grace` seconds; returns when all are gone."""
        ...
