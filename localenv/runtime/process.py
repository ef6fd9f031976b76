"""The real runtime: each container is a process group of the app (gunicorn) on its own loopback port.

A pod's first container gets a free loopback port — its own address, as a pod gets its own IP — and
keeps it across restarts. Probes are httpGet requests made in a thread pool, as the kubelet's probe
workers make them; endpoints go to nginx's Lua shared dict through its admin location, never a reload.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
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
from localenv.images import REPO_ROOT, command_for
from localenv.processes import LOOPBACK, ProcessRegistry, free_port, kill_group, signal_group, signal_process, spawn
from localenv.spec import Probe

PROBE_WORKERS = 16
PROBE_USER_AGENT = "kube-probe/local"


class EndpointsTarget(Protocol):
    """Where a Deployment's endpoints go: the ingress's main backend, or its canary backend."""

    def set_endpoints(self, addresses: Sequence[str]) -> None:
        """Replace the backend's endpoint list (`host:port` strings); OSError when nginx does not take it."""
        ...

    def alive(self) -> bool:
        """True while nginx runs."""
        ...


class ProcessRuntime:
    """Containers as real process groups, probes over HTTP, endpoints pushed to the local nginx."""

    def __init__(self, *, state_dir: Path, registry: ProcessRegistry, ingress: EndpointsTarget) -> None:
        self.state_dir = state_dir
        self.registry = registry
        self.ingress = ingress
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._reported: set[str] = set()
        self._probers = concurrent.futures.ThreadPoolExecutor(max_workers=PROBE_WORKERS, thread_name_prefix="probe")
        self._probes: list[tuple[RunProbe, concurrent.futures.Future[tuple[bool, str]]]] = []

    def now(self) -> float:
        """time.monotonic(): the clock the traffic generator stamps responses with."""
        return time.monotonic()

    def start_container(self, request: StartContainer) -> ContainerStarted | ContainerStartFailed:
        """Spawn the image's command in its own session, PORT/BIND set to the pod's loopback address."""
        address = request.address or f"{LOOPBACK}:{free_port()}"
        pods = self.state_dir / "pods"
        metrics = pods / f"{request.pod}.metrics"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **dict(request.template.env),
            # The container's port becomes this pod's own loopback port (a pod IP of its own in a cluster).
            "PORT": address.rsplit(":", 1)[1],
            "BIND": address,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        try:
            metrics.mkdir(parents=True, exist_ok=True)
            command = command_for(request.template.repository)
            process = spawn(command, env=env, log_path=pods / f"{request.pod}.log", cwd=REPO_ROOT)
        except OSError as error:
            return ContainerStartFailed(pod=request.pod, container=request.container, error=str(error))
        self._processes[request.container] = process
        self.registry.add(process.pid, "pod", request.pod)
        return ContainerStarted(pod=request.pod, container=request.container, pid=process.pid, address=address)

    def send_signal(self, container: str, signum: signal.Signals) -> None:
        """`signum` to the main process alone (the kubelet's SIGTERM reaches PID 1)."""
        process = self._processes.get(container)
        if process is not None:
            signal_process(process.pid, signum)

    def kill(self, container: str, signum: signal.Signals = signal.SIGKILL) -> None:
        """`signum` to the container's whole process group."""
        process = self._processes.get(container)
        if process is not None:
            signal_group(process.pid, signum)

    def remove_container(self, container: str) -> None:
        """SIGKILL what is left of the group, reap the main process, forget it."""
        process = self._processes.pop(container, None)
        self._reported.discard(container)
        if process is not None:
            kill_group(process)
            self.registry.remove(process.pid)

    def exits(self) -> dict[str, int]:
        """Main processes that have exited and were not reported yet."""
        exited: dict[str, int] = {}
        for container, process in self._processes.items():
            code = process.poll()
            if code is not None and container not in self._reported:
                self._reported.add(container)
                exited[container] = code
        return exited

    def run_probe(self, request: RunProbe) -> None:
        """One httpGet probe in the probe pool."""
        self._probes.append((request, self._probers.submit(http_probe, request.address, request.probe)))

    def probe_answers(self) -> list[ProbeAnswer]:
        """The probes that have finished since the last call."""
        done = [(request, future) for request, future in self._probes if future.done()]
        self._probes = [(request, future) for request, future in self._probes if not future.done()]
        answers = []
        for request, future in done:
            ok, detail = future.result()
            answers.append(ProbeAnswer(container=request.container, kind=request.kind, ok=ok, detail=detail))
        return answers

    def push_endpoints(self, push: EndpointsPush) -> EndpointsPushed | EndpointsPushFailed:
        """PUT the addresses into nginx's shared dict; a busy or gone nginx is a failed push, tried again."""
        try:
            self.ingress.set_endpoints(push.addresses)
        except OSError as error:
            return EndpointsPushFailed(push=push, error=str(error), ingress_alive=self.ingress.alive())
        return EndpointsPushed(push=push)

    def pid(self, container: str) -> int | None:
        """The main process's pid while it runs."""
        process = self._processes.get(container)
        return process.pid if process is not None and process.poll() is None else None

    def shutdown(self, grace: float) -> None:
        """SIGTERM every container's group, SIGKILL after `grace`, reap them all."""
        self._probers.shutdown(wait=False, cancel_futures=True)
        processes = list(self._processes.values())
        for process in processes:
            signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(process.poll() is None for process in processes):
            time.sleep(0.02)
        for process in processes:
            kill_group(process)
            self.registry.remove(process.pid)
        self._processes.clear()


def http_probe(address: str, probe: Probe) -> tuple[bool, str]:
    """One httpGet probe as the kubelet does it: any 2xx/3xx within the timeout is success."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=probe.timeout)
    try:
        connection.request("GET", probe.path, headers={"User-Agent": PROBE_USER_AGENT, "Connection": "close"})
        response = connection.getresponse()
        response.read()
        return 200 <= response.status < 400, str(response.status)
    except (OSError, http.client.HTTPException) as error:
        return False, type(error).__name__
    finally:
        with contextlib.suppress(OSError):
            connection.close()
