"""HAProxy standing in for the NLB, and the loop that keeps its targets in step with the ingress pods.

HAProxy 2.6 (Debian bookworm's `haproxy`) runs in TCP mode with our own config on a free loopback port; the
Debian service is never used. Targets come and go through its runtime API on a unix socket (management.txt
§9.3, 2.6: `add server`, `enable health`, `set server … state ready|drain|maint`, `set server … health down`,
`shutdown sessions server`, `del server`; a dynamic server needs a dynamic balance algorithm, starts in
maintenance, and must be in maintenance with no connections before `del server`). Health checks are HAProxy's
own — `check inter … rise … fall …` with `option httpchk` on the replica's health path and `timeout check` —
at the NLB's interval and thresholds from `infra.ingress_timing`. What a target's verdict means, and when it
is deregistered, drained and removed, is decided by localenv/control/target_group.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from infra.ingress_timing import IngressTiming
from localenv.control import cluster as control
from localenv.control.actions import Effect
from localenv.control.objects import Cluster
from localenv.control.target_group import (
    Target,
    TargetAction,
    TargetGroup,
    TargetGroupPolicy,
    TargetPod,
    TargetStep,
    gate_passes,
    sync_target_group,
)
from localenv.errors import LocalEnvError
from localenv.ingress import CANARY_ENDPOINTS_PATH, CANARY_ROUTE_PATH, ENDPOINTS_PATH, REPLICA_HEALTH_PATH
from localenv.ingress_pod import admin, admin_socket
from localenv.processes import LOOPBACK, ProcessRegistry, free_port, spawn, stop_group

BACKEND = "targets"
START_TIMEOUT_S = 10.0
INSTALL_HINT = "run `make system-packages` (or `sudo apt-get install haproxy`)"


def find_haproxy() -> str:
    """Path of the haproxy binary, or a clear error saying how to install it."""
    for candidate in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise LocalEnvError(f"haproxy is not installed; {INSTALL_HINT}")


def haproxy_conf(*, port: int, admin_socket_path: Path, timing: IngressTiming) -> str:
    """TCP frontend on loopback, an empty backend the runtime API fills, checks on the replicas' health path."""
    return f"""# Written by localenv: HAProxy as the NLB (TCP, targets added and removed at run time).
global
    stats socket {admin_socket_path} level admin
    maxconn 4096
defaults
    mode tcp
    timeout connect 1s
    timeout client 120s
    timeout server 120s
frontend nlb
    bind {LOOPBACK}:{port}
    default_backend {BACKEND}
backend {BACKEND}
    balance roundrobin
    option httpchk GET {REPLICA_HEALTH_PATH}
    timeout check {timing.health_check_timeout * 1000:g}ms
"""


class LoadBalancer:
    """One HAProxy process and its runtime API."""

    def __init__(self, state_dir: Path, registry: ProcessRegistry, timing: IngressTiming, port: int = 0) -> None:
        self.state_dir = state_dir
        self.timing = timing
        self.port = port
        self._registry = registry
        self._socket = state_dir / "haproxy.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where clients reach the app: the load balancer's listener."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        """HAProxy's pid while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def start(self) -> None:
        """Write the config and start HAProxy in the foreground; returns once its runtime API answers."""
        haproxy = find_haproxy()
        self.port = self.port or free_port()
        conf = self.state_dir / "haproxy.cfg"
        conf.write_text(haproxy_conf(port=self.port, admin_socket_path=self._socket, timing=self.timing))
        self._socket.unlink(missing_ok=True)
        self._process = spawn(
            [haproxy, "-db", "-f", str(conf)], env=os.environ, log_path=self.state_dir / "haproxy.log"
        )
        self._registry.add(self._process.pid, "loadbalancer", "haproxy")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self._process.poll() is None:
            with contextlib.suppress(OSError):
                self.command("show info")
                return
            time.sleep(0.05)
        self.stop()
        raise LocalEnvError(f"haproxy failed to start (see {self.state_dir / 'haproxy.log'})")

    def stop(self) -> None:
        """Stop HAProxy."""
        if self._process is not None:
            stop_group(self._process, grace=1.0)
            self._registry.remove(self._process.pid)
            self._process = None

    def command(self, line: str) -> str:
        """One runtime API command; its answer."""
        with self._lock, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(2)
            client.connect(str(self._socket))
            client.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def perform(self, action: TargetAction) -> None:
        """Carry out one target-group decision through the runtime API."""
        server = f"{BACKEND}/{action.name}"
        timing = self.timing
        if action.step is TargetStep.REGISTER:
            checks = (
                f"check inter {timing.health_check_interval * 1000:g} "
                f"rise {timing.healthy_threshold} fall {timing.unhealthy_threshold}"
            )
            # A new dynamic server is in maintenance; leaving it would make it UP at once. Drain first, mark
            # its health down, then ready: it takes connections only after `rise` passed checks (tried here).
            for line in (
                f"add server {server} {action.address} {checks}",
                f"enable health {server}",
                f"set server {server} state drain",
                f"set server {server} health down",
                f"set server {server} state ready",
            ):
                self.command(line)
        elif action.step is TargetStep.STOP_NEW_CONNECTIONS:
            self.command(f"set server {server} state drain")
        elif action.step is TargetStep.RESET_CONNECTIONS:
            self.command(f"shutdown sessions server {server}")
        else:
            for line in (
                f"shutdown sessions server {server}",
                f"set server {server} state maint",
                f"del server {server}",
            ):
                self.command(line)

    def verdicts(self) -> dict[str, bool]:
        """Each target's health-check verdict (past rise/fall): True when HAProxy counts it UP."""
        found: dict[str, bool] = {}
        for line in self.command("show stat").splitlines():
            fields = line.split(",")
            if len(fields) > 17 and fields[0] == BACKEND and fields[1] not in ("BACKEND", "FRONTEND"):
                status = fields[17]
                if status in ("MAINT", "DRAIN") or status.startswith("MAINT"):
                    continue
                found[fields[1]] = status.startswith("UP") or status == "NOLB"
        return found


class IngressTier:
    """The ingress Deployment's side of the load balancer, run each tick by its control loop.

    It registers and deregisters targets as the pure target group decides, sets the pods' readiness gates,
    and gives every running replica what an ingress-nginx controller learns from the API server — the app's
    endpoints, the canary's endpoints and its route — on its own: a new or restarted replica gets the current
    state, a replica that does not answer is tried again next tick.
    """

    def __init__(self, balancer: LoadBalancer, policy: TargetGroupPolicy, ingress_dir: Path) -> None:
        self.balancer = balancer
        self.group = TargetGroup(policy=policy)
        self.ingress_dir = ingress_dir
        # Admin path → (request target, body): the desired state every replica is brought to.
        self._desired: dict[str, tuple[str, str]] = {}
        self._delivered: dict[str, dict[str, tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self._delivery = threading.Lock()  # one delivery at a time: a stale list never overwrites a newer one
        self._replicas: tuple[tuple[str, str], ...] = ()

    def sync(self, cluster: Cluster, now: float) -> list[Effect]:
        """One pass: targets, readiness gates, the desired state to replicas that lack it."""
        pods = [
            TargetPod(name=p.name, address=p.address if p.container else None, terminating_since=p.deleted_at)
            for p in cluster.pods()
        ]
        try:
            verdicts = self.balancer.verdicts()
        except OSError:
            verdicts = {}
        with self._lock:
            actions = sync_target_group(self.group, pods, verdicts, now)
        for action in actions:
            with contextlib.suppress(OSError):
                self.balancer.perform(action)
        # Keyed by container: a replica restarted at the same address starts empty and needs the state again.
        running = tuple((p.container.id, p.address) for p in cluster.pods() if p.container is not None and p.address)
        with self._lock:
            self._replicas = running
        self._deliver()
        return control.sync_readiness_gates(cluster, lambda name: gate_passes(self.group, name), now)

    def targets(self) -> list[Target]:
        """The target group's targets right now (copies)."""
        with self._lock:
            return [dataclasses.replace(t) for t in self.group.targets.values()]

    # -- the app's endpoints, to every replica (an EndpointsTarget for the app's runtime) --------------

    def set_endpoints(self, addresses: Sequence[str]) -> None:
        """The app's endpoints changed: every running replica gets them; OSError only if none took them."""
        self._set(ENDPOINTS_PATH, ENDPOINTS_PATH, "\n".join(addresses))

    def set_canary_endpoints(self, addresses: Sequence[str]) -> None:
        """The canary's endpoints changed: every running replica's canary backend gets them."""
        self._set(CANARY_ENDPOINTS_PATH, CANARY_ENDPOINTS_PATH, "\n".join(addresses))

    def set_canary_route(self, weight: int, header: str = "", value: str = "") -> None:
        """Every replica sends `weight` % of requests, and those whose `header` equals `value`, to the canary."""
        query = urllib.parse.urlencode({"weight": weight, "header": header, "value": value})
        self._set(CANARY_ROUTE_PATH, f"{CANARY_ROUTE_PATH}?{query}", "")

    def canary_endpoints(self) -> list[str]:
        """The canary endpoints the replicas are given."""
        with self._lock:
            body = self._desired.get(CANARY_ENDPOINTS_PATH, ("", ""))[1]
        return [line for line in body.splitlines() if line]

    def alive(self) -> bool:
        """True while any replica runs."""
        return bool(self._replicas)

    def _set(self, key: str, target: str, body: str) -> None:
        with self._lock:
            self._desired[key] = (target, body)
        if self._deliver() == 0 and self._replicas:
            raise OSError("no ingress replica took the change")

    def _deliver(self) -> int:
        """Bring every running replica to the desired state; how many are there now."""
        with self._delivery:
            with self._lock:
                desired, replicas = dict(self._desired), self._replicas
            for gone in set(self._delivered) - {container for container, _ in replicas}:
                del self._delivered[gone]
            current = 0
            for container, address in replicas:
                delivered = self._delivered.setdefault(container, {})
                try:
                    for key, (target, body) in desired.items():
                        if delivered.get(key) != (target, body):
                            admin(admin_socket(self.ingress_dir, address), "PUT", target, body)
                            delivered[key] = (target, body)
                except OSError:
                    continue
                current += 1
            return current


class TierCanaryBackend:
    """The canary's endpoints target: the canary backend of every ingress replica (an EndpointsTarget)."""

    def __init__(self, tier: IngressTier) -> None:
        self._tier = tier

    def set_endpoints(self, addresses: Sequence[str]) -> None:
        """Replace every replica's canary endpoints."""
        self._tier.set_canary_endpoints(addresses)

    def alive(self) -> bool:
        """True while any replica runs."""
        return self._tier.alive()

    def endpoints(self) -> list[str]:
        """The canary endpoints the replicas are given."""
        return self._tier.canary_endpoints()


class NoService:
    """Where the ingress Deployment's own endpoints go: nowhere — the load balancer takes its pods as targets."""

    def set_endpoints(self, addresses: Sequence[str]) -> None:
        """Nothing to do: targets come from the pods (IngressTier.sync)."""

    def alive(self) -> bool:
        """Always: there is no process behind it."""
        return True
