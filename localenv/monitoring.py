"""Prometheus, Alertmanager and a chat stand-in for the local environment: the same indicator as on EKS.

`Monitoring` starts, on free loopback ports and with files only under `<state dir>/monitoring`:

- Prometheus (Debian `prometheus`), scraping every app pod and every ingress replica. Targets come through
  file-based service discovery: a JSON file per job, atomically replaced whenever the pods change, so pods
  appear and leave as a PodMonitor's would (prometheus-operator's PodMonitor lists running pods). The
  scrape and evaluation intervals are app/slo.py's LOCAL profile; the rules are app/contract/rules.py's
  for that profile, so the burn-rate windows are scaled like the rollout timings.
- kube-state-metrics' series the rules read (Deployment conditions, available replicas, pod readiness, the
  disruption budget's healthy counts), rendered from the control loop's typed status on a loopback port.
- Alertmanager (Debian `prometheus-alertmanager`), delivering to `WebhookReceiver`: a tiny HTTP server on
  loopback that records every notification, standing in for the chat channel.

    monitoring = Monitoring(state_dir, pods=..., ingress_replicas=..., kube_state=...)
    monitoring.start(); monitoring.query(AVAILABILITY.error_ratio(scope, "1m")); monitoring.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from app import slo
from app.contract import rules
from app.slo import LOCAL, Profile, Scope
from localenv.control.disruption import BudgetStatus
from localenv.control.objects import RolloutState
from localenv.control.status import Status
from localenv.errors import LocalEnvError
from localenv.processes import LOOPBACK, ProcessRegistry, free_port, spawn, stop_group

MONITORING_DIR = "monitoring"
PROMETHEUS_PACKAGE = "prometheus"
ALERTMANAGER_PACKAGE = "prometheus-alertmanager"
# Debian bookworm installs the binaries here (prometheus 2.42, prometheus-alertmanager 0.25).
PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
APP_JOB = "app-pods"
INGRESS_JOB = "ingress-nginx"
KUBE_STATE_JOB = "kube-state-metrics"
RECEIVER_PATH = "/alerts"
STOP_GRACE = 5.0
READY_TIMEOUT = 20.0
ANALYSIS_POLL_S = 0.25
"""Seconds between two looks of the local canary analysis (localenv/canary.py POLL_SECONDS is this number)."""


MONITORING_SERVERS = ((PROMETHEUS_BINARY, PROMETHEUS_PACKAGE), (ALERTMANAGER_BINARY, ALERTMANAGER_PACKAGE))
"""Each server monitoring starts: (binary, the Debian package that installs it)."""
SKIP_HINT = "--no-monitoring"
"""How the command line runs without them (`LocalEnvironment(monitoring=False)` in Python)."""


def missing_servers_message(missing: Sequence[tuple[str, str]]) -> str:
    """One sentence naming every missing binary, its Debian package, and the two ways on."""
    binaries = " and ".join(binary for binary, _ in missing)
    packages = " ".join(package for _, package in missing)
    verb = "is" if len(missing) == 1 else "are"
    return (
        f"{binaries} {verb} not installed (Debian {'package' if len(missing) == 1 else 'packages'} {packages}): "
        f"run `make system-packages` (or `sudo apt-get install {packages}`), or start without monitoring "
        f"(`{SKIP_HINT}`)"
    )


def find_servers(which: Callable[[str], str | None] = shutil.which) -> tuple[str, str]:
    """Prometheus' and Alertmanager's binaries, or one clear error naming each one missing and its package.

    Looked up on PATH only (`dpkg -L`: Debian 12's packages install both to /usr/bin, on every PATH), so a
    PATH that leaves them out is honoured, as the CLI test of this error does.
    """
    paths = {binary: which(binary) for binary, _ in MONITORING_SERVERS}
    missing = [(binary, package) for binary, package in MONITORING_SERVERS if paths[binary] is None]
    if missing:
        raise LocalEnvError(missing_servers_message(missing))
    return str(paths[PROMETHEUS_BINARY]), str(paths[ALERTMANAGER_BINARY])


# --- configuration (pure) ----------------------------------------------------------------------------
def prometheus_config(
    *,
    targets_dir: Path,
    rule_file: Path,
    alertmanager: str,
    kube_state: str,
    profile: Profile = LOCAL,
    analysis_poll: float = ANALYSIS_POLL_S,
) -> dict[str, Any]:
    """prometheus.yml: three jobs (app pods and ingress replicas from file_sd, kube-state-metrics), rules, Alertmanager.

    The ingress and kube-state-metrics jobs keep the labels their series carry (`honor_labels`), as the
    ingress-nginx chart's ServiceMonitor does (app/slo.py): their `namespace` is the app's, not the target's.
    """
    interval = slo.duration(profile.scrape_interval)

    def file_sd(job: str) -> dict[str, Any]:
        # prometheus v2.42.0 discovery/file/file.go: files are re-read on change (inotify) and every refresh_interval.
        return {"files": [str(targets_dir / f"{job}.json")], "refresh_interval": interval}

    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": slo.duration(profile.evaluation_interval),
        },
        "rule_files": [str(rule_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": APP_JOB,
                # The canary analysis looks every ANALYSIS_POLL_S: the pods' counters are scraped that often, so
                # judging from Prometheus is no later than reading the pods (prometheus v2.42.0 config/config.go:
                # a job's scrape_interval overrides the global one, and its timeout may not exceed it).
                "scrape_interval": slo.duration(analysis_poll),
                "scrape_timeout": slo.duration(analysis_poll),
                "file_sd_configs": [file_sd(APP_JOB)],
            },
            {"job_name": INGRESS_JOB, "honor_labels": True, "file_sd_configs": [file_sd(INGRESS_JOB)]},
            {"job_name": KUBE_STATE_JOB, "honor_labels": True, "static_configs": [{"targets": [kube_state]}]},
        ],
    }


def alertmanager_config(receiver_url: str, profile: Profile = LOCAL) -> dict[str, Any]:
    """alertmanager.yml: every alert to the webhook receiver, grouped by alert name, waits scaled by the profile.

    Full scale is Alertmanager's defaults (prometheus/alertmanager v0.25.0 config/config.go DefaultRouteOpts:
    group_wait 30s, group_interval 5m, repeat_interval 4h); the local profile shrinks them like the windows.
    """
    return {
        "route": {
            "receiver": "chat",
            "group_by": ["alertname", "slo"],
            "group_wait": profile.window(30),
            "group_interval": profile.window(5 * slo.MINUTE),
            "repeat_interval": profile.window(4 * slo.HOUR),
        },
        "receivers": [{"name": "chat", "webhook_configs": [{"url": receiver_url, "send_resolved": True}]}],
    }


def file_sd_targets(targets: Sequence[tuple[str, dict[str, str]]]) -> list[dict[str, Any]]:
    """file_sd JSON: one group per target, its labels (`namespace`, `pod`) as a PodMonitor's relabelling sets them."""
    return [{"targets": [address], "labels": labels} for address, labels in sorted(targets)]


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one rename, so Prometheus never reads half a file."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# --- kube-state-metrics (pure) ---------------------------------------------------------------------
def _line(metric: str, labels: dict[str, str], value: float) -> str:
    return f"{slo.series(metric, tuple((k, '=', v) for k, v in labels.items()))} {value:g}"


def kube_state_lines(
    *, namespace: str, deployment: str, status: Status, budget: tuple[str, BudgetStatus] | None
) -> list[str]:
    """kube-state-metrics' series for one Deployment, its pods and its budget, from the loop's status.

    kubernetes/kube-state-metrics v2.20.0 internal/store/deployment.go (status_condition: one series per
    status true/false/unknown, value 1 for the current one), pod.go (status_ready likewise),
    poddisruptionbudget.go (current_healthy, desired_healthy).
    """
    lines: list[str] = []
    rollout = status.rollout
    if rollout is not None:
        failed = rollout.state is RolloutState.FAILED
        reason = slo.PROGRESS_DEADLINE_EXCEEDED if failed else "NewReplicaSetAvailable"
        for state in ("true", "false", "unknown"):
            current = "false" if failed else "true"
            labels = {
                "namespace": namespace,
                "deployment": deployment,
                "condition": "Progressing",
                "status": state,
                "reason": reason,
            }
            lines.append(_line(slo.DEPLOYMENT_CONDITION, labels, 1 if state == current else 0))
    owner = {"namespace": namespace, "deployment": deployment}
    lines.append(_line(slo.DEPLOYMENT_AVAILABLE, owner, status.counts.available))
    for pod in status.pods:
        for state in ("true", "false", "unknown"):
            value = 1 if state == ("true" if pod.ready else "false") else 0
            lines.append(_line(slo.POD_READY, {"namespace": namespace, "pod": pod.name, "condition": state}, value))
    if budget is not None:
        name, numbers = budget
        owner = {"namespace": namespace, "poddisruptionbudget": name}
        lines.append(_line(slo.PDB_CURRENT_HEALTHY, owner, numbers.current_healthy))
        lines.append(_line(slo.PDB_DESIRED_HEALTHY, owner, numbers.desired_healthy))
    return lines


def kube_state_text(lines: Sequence[str]) -> str:
    """The exposition text: a TYPE line per metric (all gauges), then the samples."""
    gauges = sorted({line.split("{", 1)[0] for line in lines})
    head = [f"# TYPE {metric} gauge" for metric in gauges]
    ordered = sorted(lines, key=lambda line: line.split("{", 1)[0])
    return "\n".join([*head, *ordered]) + "\n"


# --- small loopback servers -------------------------------------------------------------------------
class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.http = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self.http.daemon_threads = True
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True, name=handler.__name__)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.http.server_address[1]}"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self._thread.join(timeout=5)


class WebhookReceiver:
    """The chat channel's stand-in: records every Alertmanager notification it is sent (webhook_config JSON)."""

    def __init__(self, log: Path) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with contextlib.suppress(ValueError):
                    receiver._record(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._log = log
        self._server = _Server(Handler)

    def _record(self, notification: dict[str, Any]) -> None:
        with self._lock:
            self.notifications.append(notification)
            with self._log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(notification) + "\n")

    @property
    def url(self) -> str:
        """Where Alertmanager posts."""
        return f"http://{self._server.address}{RECEIVER_PATH}"

    def alerts(self, status: str = "firing") -> list[dict[str, Any]]:
        """Every alert received with `status` (firing or resolved), oldest first."""
        with self._lock:
            return [a for n in self.notifications for a in n.get("alerts", []) if a.get("status") == status]

    def stop(self) -> None:
        """Stop listening."""
        self._server.stop()


class TextEndpoint:
    """A loopback /metrics answering `render()` at each scrape (the kube-state-metrics stand-in)."""

    def __init__(self, render: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server(Handler)

    @property
    def address(self) -> str:
        """host:port."""
        return self._server.address

    def stop(self) -> None:
        """Stop listening."""
        self._server.stop()


# --- the Prometheus HTTP API ------------------------------------------------------------------------
class PrometheusAPI:
    """Instant and range queries over Prometheus' HTTP API (prometheus v2.42.0 web/api/v1/api.go)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> Any:
        target = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(target, timeout=self.timeout) as response:  # noqa: S310 - loopback URL
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
            raise LocalEnvError(f"Prometheus refused the query: {body.get('error', error)}") from None
        except OSError as error:
            raise LocalEnvError(f"Prometheus at {self.url} does not answer: {error}") from None
        if body.get("status") != "success":
            raise LocalEnvError(f"Prometheus refused the query: {body.get('error')}")
        return body["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector `expression` evaluates to now: [{metric: {…}, value: [t, "v"]}, …]."""
        data = self._get("/api/v1/query", {"query": expression})
        return data["result"] if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]

    def query_range(self, expression: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Each series `expression` gives between `start` and `end` (Unix seconds), a sample every `step`."""
        params = {"query": expression, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return list(self._get("/api/v1/query_range", params)["result"])

    def value(self, expression: str) -> float | None:
        """The single number `expression` gives now, or None when it gives no series."""
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus holds now (pending and firing)."""
        return list(self._get("/api/v1/alerts", {})["alerts"])

    def ready(self) -> bool:
        """True once Prometheus answers /-/ready."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310 - loopback URL
                return bool(response.status == 200)
        except OSError:
            return False


# --- the servers --------------------------------------------------------------------------------
Targets = Callable[[], Sequence[tuple[str, dict[str, str]]]]
"""Scrape targets right now: (host:port, labels) for each."""


@dataclass(frozen=True, kw_only=True)
class MonitoringSources:
    """What the local environment shows Prometheus: its pods, its ingress replicas, its object state."""

    app_pods: Targets
    ingress_replicas: Targets
    kube_state: Callable[[], str]


class Monitoring:
    """Prometheus + Alertmanager + the webhook receiver + kube-state-metrics, for one state directory."""

    def __init__(
        self,
        state_dir: Path,
        registry: ProcessRegistry,
        sources: MonitoringSources,
        *,
        scope: Scope,
        profile: Profile = LOCAL,
    ) -> None:
        self.home = state_dir / MONITORING_DIR
        self.registry = registry
        self.sources = sources
        self.scope = scope
        self.profile = profile
        self.receiver: WebhookReceiver | None = None
        self._kube_state: TextEndpoint | None = None
        self._prometheus: subprocess.Popen[bytes] | None = None
        self._alertmanager: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._discovery: threading.Thread | None = None
        self.prometheus_url = ""
        self.alertmanager_url = ""

    @property
    def api(self) -> PrometheusAPI:
        """Queries against this Prometheus."""
        if not self.prometheus_url:
            raise LocalEnvError("monitoring is not running; start the environment with monitoring on")
        return PrometheusAPI(self.prometheus_url)

    def start(self) -> None:
        """Write the configs and rules, start both servers and service discovery; returns once Prometheus is ready."""
        prometheus, alertmanager = find_servers()
        shutil.rmtree(self.home, ignore_errors=True)
        targets_dir = self.home / "targets"
        targets_dir.mkdir(parents=True)
        try:
            self.receiver = WebhookReceiver(self.home / "notifications.jsonl")
            self._kube_state = TextEndpoint(self.sources.kube_state)
            self._write_targets(targets_dir)
            rule_file = self.home / "rules.yml"
            rule_file.write_text(rules.rule_file_text(rules.rule_file(self.scope, self.profile)), encoding="utf-8")
            am_port = free_port()
            am_config = self.home / "alertmanager.yml"
            am_config.write_text(yaml.safe_dump(alertmanager_config(self.receiver.url, self.profile)), encoding="utf-8")
            self._alertmanager = spawn(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={self.home / 'alertmanager-data'}",
                    f"--web.listen-address={LOOPBACK}:{am_port}",
                    # Gossip would listen on 0.0.0.0:9094; "Set to empty string to disable HA mode"
                    # (prometheus-alertmanager 0.25 --help; one local instance needs no peers).
                    "--cluster.listen-address=",
                ],
                env=os.environ,
                log_path=self.home / "alertmanager.log",
            )
            self.registry.add(self._alertmanager.pid, "alertmanager", "alertmanager")
            self.alertmanager_url = f"http://{LOOPBACK}:{am_port}"
            port = free_port()
            config = self.home / "prometheus.yml"
            config.write_text(
                yaml.safe_dump(
                    prometheus_config(
                        targets_dir=targets_dir,
                        rule_file=rule_file,
                        alertmanager=f"{LOOPBACK}:{am_port}",
                        kube_state=self._kube_state.address,
                        profile=self.profile,
                    )
                ),
                encoding="utf-8",
            )
            self._prometheus = spawn(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.home / 'prometheus-data'}",
                    f"--web.listen-address={LOOPBACK}:{port}",
                ],
                env=os.environ,
                log_path=self.home / "prometheus.log",
            )
            self.registry.add(self._prometheus.pid, "prometheus", "prometheus")
            self.prometheus_url = f"http://{LOOPBACK}:{port}"
            self._wait_ready()
            self._discovery = threading.Thread(target=self._discover, args=(targets_dir,), daemon=True)
            self._discovery.start()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        api = PrometheusAPI(self.prometheus_url)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._prometheus is not None and self._prometheus.poll() is not None:
                raise LocalEnvError(f"prometheus exited at start; see {self.home / 'prometheus.log'}")
            if api.ready():
                return
            time.sleep(0.1)
        raise LocalEnvError(f"prometheus did not become ready within {READY_TIMEOUT:g} s; see {self.home}")

    def _write_targets(self, targets_dir: Path) -> None:
        for job, source in ((APP_JOB, self.sources.app_pods), (INGRESS_JOB, self.sources.ingress_replicas)):
            text = json.dumps(file_sd_targets(source()), indent=1)
            path = targets_dir / f"{job}.json"
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                write_atomically(path, text)

    def _discover(self, targets_dir: Path) -> None:
        """Keep the target files current, a few times per scrape interval (pods come and go in seconds)."""
        while not self._stop.wait(self.profile.scrape_interval / 4):
            with contextlib.suppress(Exception):  # a status read racing `down` must not kill the thread loudly
                self._write_targets(targets_dir)

    def pids(self) -> list[int]:
        """Prometheus' and Alertmanager's process ids while they run."""
        return [p.pid for p in (self._prometheus, self._alertmanager) if p is not None and p.poll() is None]

    def stop(self) -> None:
        """Stop discovery, both servers (SIGTERM, SIGKILL after a grace) and the loopback endpoints; safe twice."""
        self._stop.set()
        if self._discovery is not None:
            self._discovery.join(timeout=5)
            self._discovery = None
        for process in (self._prometheus, self._alertmanager):
            if process is not None:
                stop_group(process, STOP_GRACE)
                self.registry.remove(process.pid)
        self._prometheus = self._alertmanager = None
        for server in (self._kube_state, self.receiver):
            if server is not None:
                server.stop()
        self._kube_state = None
        self.prometheus_url = self.alertmanager_url = ""
