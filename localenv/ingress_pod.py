"""One ingress replica, as an ingress-nginx controller pod runs: nginx + the Lua balancer, and its shutdown.

`python -m localenv.ingress_pod` is the container of the ingress Deployment (image `ingress-nginx-local`).
It writes its nginx.conf under INGRESS_DIR/<port>, starts nginx in the foreground on BIND, and on SIGTERM
runs the controller's stop sequence with the numbers of `infra.ingress_timing.LOCAL_INGRESS_TIMING`:

- INGRESS_SHUTDOWN=graceful (the redesign): /healthz stays 200; for `shutdown_grace` nginx still accepts and
  answers keep-alive requests with `Connection: close`; then `nginx -s quit` (SIGQUIT) and at most `drain`
  (worker_shutdown_timeout) for open requests; then `post_shutdown_grace`; exit 0.
- INGRESS_SHUTDOWN=legacy (controller-v1.15.1 Stop(): isShuttingDown before the grace sleep): /healthz turns
  503 at the signal; the rest as above, without the Connection: close draining.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.contract.disruption import drain_budget, node_anti_affinity, spread_constraints
from app.contract.ingress import INGRESS_TUNING, IngressTuning
from infra.helm_values import CONTROLLER_LABELS
from infra.ingress_timing import LOCAL_INGRESS_TIMING, IngressTiming
from localenv.images import INGRESS_IMAGE
from localenv.ingress import (
    METRICS_PORT_FILE,
    REPLICA_HEALTH_PATH,
    REPLICA_STATE_PATH,
    TEMP_DIR,
    IngressMetrics,
    find_nginx,
    nginx_conf,
)
from localenv.processes import free_port

GRACEFUL = "graceful"
LEGACY = "legacy"
INGRESS_DEPLOYMENT = "ingress-nginx-controller"
DEFAULT_INGRESS_REPLICAS = 2
TUNING_ENV = "INGRESS_UPSTREAM_TUNING"
TARGET_HEALTH_GATE = f"target-health.elbv2.k8s.aws/{INGRESS_DEPLOYMENT}"
"""The readiness gate the AWS Load Balancer Controller's webhook injects: `target-health.elbv2.k8s.aws/<binding>`
(aws-load-balancer-controller v3.5.0 docs/deploy/pod_readiness_gate.md)."""


def ingress_budget() -> dict[str, Any]:
    """The controller's PodDisruptionBudget: the drain rule every tier uses, as infra/helm_values.py gives the chart."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": INGRESS_DEPLOYMENT},
        "spec": {**drain_budget(), "selector": {"matchLabels": CONTROLLER_LABELS}},
    }


def ingress_deployment(
    version: str,
    replicas: int,
    ingress_dir: Path,
    *,
    legacy: bool = False,
    timing: IngressTiming = LOCAL_INGRESS_TIMING,
    tuning: IngressTuning = INGRESS_TUNING,
) -> dict[str, Any]:
    """The ingress controller's Deployment for the local tier: surge one, gated on its target, the stop sequence.

    As infra/helm_values.py gives it to the chart on EKS: maxSurge 1 / maxUnavailable 0, zone spread and
    hostname anti-affinity, the target-health readiness gate, the readiness probe on the health endpoint,
    preStop and grace from `timing`. `legacy` is the design issue 12 replaced (negative control): no gate,
    no preStop, /healthz failing at the signal.
    """
    pod: dict[str, Any] = {
        "terminationGracePeriodSeconds": timing.termination_grace,
        "affinity": node_anti_affinity(CONTROLLER_LABELS),
        "topologySpreadConstraints": spread_constraints(CONTROLLER_LABELS),
        "containers": [
            {
                "name": "controller",
                "image": f"{INGRESS_IMAGE}:{version}",
                "ports": [{"name": "http", "containerPort": 80}],
                "env": [
                    {"name": "APP_VERSION", "value": version},
                    {"name": "INGRESS_DIR", "value": str(ingress_dir)},
                    {"name": "INGRESS_SHUTDOWN", "value": LEGACY if legacy else GRACEFUL},
                    # The upstream tuning read from the router's objects (localenv/control/routes.py), as the
                    # controller reads its ConfigMap or Envoy Gateway its BackendTrafficPolicy.
                    {"name": TUNING_ENV, "value": json.dumps(dataclasses.asdict(tuning), sort_keys=True)},
                ],
                # The chart's readiness probe on /healthz (failureThreshold 3), at the NLB's check interval locally.
                "readinessProbe": {
                    "httpGet": {"path": REPLICA_HEALTH_PATH, "port": "http"},
                    "periodSeconds": timing.health_check_interval,
                    "timeoutSeconds": timing.health_check_timeout,
                    "failureThreshold": 3,
                },
            }
        ],
    }
    if not legacy:
        pod["readinessGates"] = [{"conditionType": TARGET_HEALTH_GATE}]
        pod["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": timing.pre_stop}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": INGRESS_DEPLOYMENT, "labels": CONTROLLER_LABELS},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": CONTROLLER_LABELS},
            "template": {"metadata": {"labels": CONTROLLER_LABELS}, "spec": pod},
        },
    }


def replica_dir(ingress_dir: Path, address: str) -> Path:
    """Where the replica at `address` keeps its files (its admin socket among them)."""
    return ingress_dir / address.rsplit(":", 1)[1]


def admin_socket(ingress_dir: Path, address: str) -> Path:
    """The replica's admin socket: endpoints and its draining/shutting-down switches."""
    return replica_dir(ingress_dir, address) / "admin.sock"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the replica's admin door)."""

    def __init__(self, path: Path, timeout: float = 2.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        """Connect to the socket file instead of a TCP port."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def admin(path: Path, method: str, target: str, body: str = "") -> str:
    """One admin request; OSError when the replica does not answer 200."""
    connection = UnixHTTPConnection(path)
    try:
        connection.request(method, target, body=body.encode() if method == "PUT" else None)
        response = connection.getresponse()
        text = response.read().decode()
        if response.status != 200:
            raise OSError(f"ingress replica admin answered {response.status}")
        return text
    finally:
        connection.close()


def replica_metrics(port: int) -> IngressMetrics:
    """The replica's request counters, labelled with the local app's Ingress, Service and canary upstream."""
    from app.contract.canary import CANARY_SUFFIX
    from localenv.profile import local_manifests

    manifests = local_manifests("v1")
    ingress = manifests.routes[0]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    port_ref = backend["port"].get("number") or backend["port"]["name"]
    namespace = ingress["metadata"]["namespace"]
    return IngressMetrics(
        port=port,
        namespace=namespace,
        ingress=ingress["metadata"]["name"],
        service=backend["name"],
        # kubernetes/ingress-nginx controller-v1.15.1 internal/ingress/controller/util.go upstreamName:
        # namespace-service-port, the port's number or else its name.
        canary_upstream=f"{namespace}-{backend['name']}{CANARY_SUFFIX}-{port_ref}",
        host=ingress["spec"]["rules"][0]["host"],
    )


def main() -> int:
    """Run nginx until SIGTERM, then the controller's stop sequence; the exit code is the container's."""
    timing = LOCAL_INGRESS_TIMING
    bind = os.environ["BIND"]
    port = int(bind.rsplit(":", 1)[1])
    ingress_dir = Path(os.environ["INGRESS_DIR"])
    legacy = os.environ.get("INGRESS_SHUTDOWN", GRACEFUL) == LEGACY
    home = replica_dir(ingress_dir, bind)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (home / TEMP_DIR / sub).mkdir(parents=True, exist_ok=True)
    sock = admin_socket(ingress_dir, bind)
    sock.unlink(missing_ok=True)
    conf = home / "nginx.conf"
    metrics = replica_metrics(free_port())
    conf.write_text(
        nginx_conf(
            state_dir=home,
            port=port,
            admin_port=0,
            admin_listen=f"unix:{sock}",
            worker_shutdown_timeout=timing.drain,
            tuning=IngressTuning(**json.loads(os.environ[TUNING_ENV])) if TUNING_ENV in os.environ else INGRESS_TUNING,
            metrics=metrics,
        )
    )
    (home / METRICS_PORT_FILE).write_text(str(metrics.port))
    nginx = subprocess.Popen([find_nginx(), "-p", str(home), "-c", str(conf), "-e", str(home / "nginx-error.log")])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    while not stop.wait(0.05):
        if nginx.poll() is not None:
            return 1  # nginx died: the container dies with it, and the kubelet restarts it
    try:
        admin(sock, "GET", f"{REPLICA_STATE_PATH}?{'shutting_down' if legacy else 'draining'}=1")
    except OSError as error:
        print(f"could not switch the replica to its shutdown mode: {error}", file=sys.stderr)
    time.sleep(timing.shutdown_grace)
    nginx.send_signal(signal.SIGQUIT)  # graceful: stop accepting, finish open requests within the drain
    try:
        nginx.wait(timeout=timing.drain + 1)
    except subprocess.TimeoutExpired:
        nginx.kill()
        nginx.wait()
    time.sleep(timing.post_shutdown_grace)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
