"""The traffic generator against real gunicorn pods and a real nginx: it counts right, stops, and sees failures."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.contract.ingress import INGRESS_TUNING
from harness.project_files import REPO_ROOT as REPO
from localenv.ingress import UPSTREAM_STATUS_HEADER
from localenv.traffic import Traffic, TrafficError, TrafficPlan, loopback_problem, percentile


@dataclass
class Process:
    """A started process on a loopback port; `stop()` takes its whole process group down."""

    popen: subprocess.Popen[bytes]
    port: int

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def url(self, path: str = "/version") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _wait_until_answers(url: str, popen: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{what} exited with {popen.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within 20 s")


@contextlib.contextmanager
def gunicorn_pod(version: str) -> Iterator[Process]:
    """One real gunicorn of the app on a free loopback port (the socket is bound here and handed over)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    env = {**os.environ, "BIND": f"fd://{listener.fileno()}", "APP_VERSION": version, "WEB_WORKERS": "1"}
    popen = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(REPO / "app" / "gunicorn.conf.py")],
        cwd=REPO,
        env=env,
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so cleanup reaches the workers too
    )
    listener.close()
    pod = Process(popen, port)
    try:
        _wait_until_answers(pod.url("/healthz"), popen, f"gunicorn {version}")
        yield pod
    finally:
        pod.kill()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def nginx_proxy(tmp_path: Path, upstream_ports: list[int]) -> Iterator[Process]:
    """A real nginx in front of `upstream_ports` with the platform's retry and keep-alive values."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed: run `make system-packages`")
    tuning = INGRESS_TUNING
    # max_fails=0: never park a failing pod, so every request that meets it must be retried (and counted).
    servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=0;" for port in upstream_ports)
    port = _free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp_path}/body;
  proxy_temp_path {tmp_path}/proxy;
  fastcgi_temp_path {tmp_path}/fastcgi;
  uwsgi_temp_path {tmp_path}/uwsgi;
  scgi_temp_path {tmp_path}/scgi;
  upstream app {{
{servers}
    keepalive {tuning.upstream_keepalive_connections};
    keepalive_timeout {tuning.upstream_keepalive_timeout}s;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream {tuning.proxy_next_upstream};
      proxy_next_upstream_tries {tuning.proxy_next_upstream_tries};
      add_header {UPSTREAM_STATUS_HEADER} $upstream_status always;
    }}
  }}
}}
"""
    )
    popen = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    proxy = Process(popen, port)
    try:
        _wait_until_answers(proxy.url("/healthz"), popen, "nginx")
        yield proxy
    finally:
        proxy.kill()


@pytest.fixture(scope="module")
def pod_v1() -> Iterator[Process]:
    with gunicorn_pod("v1") as pod:
        yield pod


@pytest.fixture(scope="module")
def pod_v2() -> Iterator[Process]:
    with gunicorn_pod("v2") as pod:
        yield pod


# -- the plan refuses what it must not run --------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080/version",
        "http://192.168.1.10/",
        "http://[2001:db8::1]/",
        "http://example.com/version",
        "https://127.0.0.1/version",
        "http:///version",
    ],
)
def test_refuses_urls_off_this_machine(url: str) -> None:
    with pytest.raises(TrafficError) as refused:
        TrafficPlan(url=url)
    message = str(refused.value)
    assert "\n" not in message
    assert "http://" in message or "this machine" in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/version", "http://127.9.9.9/", "http://[::1]:8080/", "http://localhost/"]
)
def test_accepts_loopback_urls(url: str) -> None:
    assert loopback_problem(url) is None


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("max_requests", 0, "max_requests"),
        ("max_seconds", 0.0, "max_seconds"),
        ("max_seconds", float("inf"), "max_seconds"),
        ("keepalive_clients", -1, "keepalive_clients"),
        ("request_timeout", 0.0, "request_timeout"),
        ("requests_per_second", 0.0, "requests_per_second"),
    ],
)
def test_refuses_unbounded_or_empty_plans(field: str, value: float, named: str) -> None:
    with pytest.raises(TrafficError, match=named):
        TrafficPlan(url="http://127.0.0.1:1/", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(TrafficError, match="at least one client"):
        TrafficPlan(url="http://127.0.0.1:1/", keepalive_clients=0, fresh_clients=0)


# -- what a report reads from the answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([float(n) for n in range(1, 101)], 0.50, 50.0),
        ([float(n) for n in range(1, 101)], 0.99, 99.0),
        ([float(n) for n in range(1, 101)], 1.00, 100.0),
        ([3.0, 1.0, 2.0], 0.50, 2.0),  # unsorted input
        ([10.0, 20.0], 0.50, 10.0),  # nearest rank, never a value between two samples (15)
        ([10.0, 20.0], 0.51, 20.0),
        ([7.0], 0.99, 7.0),
        ([4.0, 5.0], 0.0, 4.0),
    ],
)
def test_percentiles_are_nearest_rank_a_latency_some_request_really_had(
    values: list[float], fraction: float, expected: float
) -> None:
    assert percentile(values, fraction) == expected


def test_no_samples_have_no_percentile() -> None:
    assert math.isnan(percentile([], 0.99))


@contextlib.contextmanager
def page_server(body: str) -> Iterator[str]:
    """A loopback HTTP server answering every GET with `body` as text/html; yields its URL."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("body", "version"),
    [
        ('<p class="version" id="version">v1.2.3</p>', "v1.2.3"),
        ('<p id="version" class="version">v1.2.3</p>', "v1.2.3"),  # attributes in another order
        ('<p id="version"> <b>v1.2.3</b> </p>', "v1.2.3"),  # markup and whitespace around the version
        ("<p>v1.2.3</p>", None),  # no version element: unknown, not guessed
    ],
)
def test_the_page_tells_which_version_answered_as_the_smoke_checks_read_it(body: str, version: str | None) -> None:
    with page_server(f"<!doctype html><html><body>{body}</body></html>") as url:
        plan = TrafficPlan(url=url, keepalive_clients=1, fresh_clients=0, max_requests=3, max_seconds=10)
        with Traffic(plan) as traffic:
            assert traffic.wait(timeout=10)
    report = traffic.report
    assert report.by_status == {200: 3}
    assert [r.version for r in report.responses] == [version] * 3


# -- real processes --------------------------------------------------------------------------------


@pytest.mark.process
def test_counts_add_up_and_the_request_limit_holds(pod_v1: Process) -> None:
    plan = TrafficPlan(url=pod_v1.url(), keepalive_clients=3, fresh_clients=3, max_requests=600, max_seconds=30)
    with Traffic(plan) as traffic:
        assert traffic.wait(timeout=30), "the traffic did not stop at its request limit"
    report = traffic.report

    assert report.total == 600
    assert report.stopped_by == "max_requests"
    assert sum(report.by_status.values()) == report.total
    assert report.by_status[200] == 600
    assert report.by_version == {"v1": 600}
    assert report.failed == 0 and report.retried == 0
    by_kind = {kind: sum(1 for r in report.responses if r.keepalive is kind) for kind in (True, False)}
    assert by_kind[True] > 0 and by_kind[False] > 0
    assert [r.t for r in report.responses] == sorted(r.t for r in report.responses)
    latency = report.latency_percentiles()
    assert latency["count"] == 600
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    summary = report.to_dict()
    assert summary["total"] == 600 and len(summary["responses"]) == 600


@pytest.mark.process
def test_the_time_limit_stops_it_by_itself(pod_v1: Process) -> None:
    plan = TrafficPlan(url=pod_v1.url("/"), keepalive_clients=2, fresh_clients=2, max_requests=10**9, max_seconds=1.0)
    started = time.monotonic()
    traffic = Traffic(plan).start()
    try:
        assert traffic.wait(timeout=10), "the traffic kept running past max_seconds"
    finally:
        report = traffic.stop()
    assert time.monotonic() - started < 1.0 + plan.request_timeout
    assert report.stopped_by == "max_seconds"
    assert report.total > 0 and all(r.t < 1.0 for r in report.responses)
    # The page (not JSON) still tells which version answered.
    assert report.by_version == {"v1": report.total}


@pytest.mark.process
def test_marks_windows_and_a_request_rate(pod_v1: Process) -> None:
    plan = TrafficPlan(url=pod_v1.url(), keepalive_clients=2, fresh_clients=2, max_seconds=10, requests_per_second=50)
    with Traffic(plan) as traffic:
        time.sleep(0.5)
        traffic.mark("middle")
        time.sleep(0.5)
    report = traffic.report
    assert report.stopped_by == "stopped"
    # 50/s for ~1 s: each of the 4 clients sends every 80 ms, so at most ~13 each; unpaced they
    # would send hundreds (> 800/s here on a quiet machine).
    assert 20 <= report.total <= 60
    before, after = report.window(end="middle"), report.window(start="middle")
    assert before and after and len(before) + len(after) == report.total
    assert all(r.t < report.marks["middle"] <= a.t for r in before for a in after[:1])


@pytest.mark.process
def test_a_killed_backend_shows_up_as_failures_without_retries() -> None:
    with gunicorn_pod("v1") as pod:
        plan = TrafficPlan(url=pod.url(), keepalive_clients=2, fresh_clients=2, max_requests=10**6, max_seconds=3)
        with Traffic(plan) as traffic:
            time.sleep(0.7)
            kill_sent = traffic.mark("kill")
            pod.kill()
            gone = traffic.mark("gone")  # every process of the pod has been reaped
            time.sleep(0.5)
    report = traffic.report
    before = [r for r in report.responses if r.t_end < kill_sent]
    late = report.window(start=gone)
    assert before and all(r.status == 200 for r in before)
    assert late and all(r.status == 0 for r in late), "a dead backend must be visible as status 0"
    assert report.failed == sum(1 for r in report.responses if r.status == 0)
    assert all(r.error for r in late)
    assert "ConnectionRefusedError" in " ".join(report.errors)


@pytest.mark.process
def test_through_nginx_versions_switch_and_retries_are_counted(
    tmp_path: Path, pod_v1: Process, pod_v2: Process
) -> None:
    # A port bound but never listening refuses connections: the ingress retries it on the next pod.
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        with nginx_proxy(tmp_path, [dead_port, pod_v1.port, pod_v2.port]) as proxy:
            plan = TrafficPlan(url=proxy.url(), keepalive_clients=3, fresh_clients=3, max_requests=800, max_seconds=20)
            with Traffic(plan) as traffic:
                traffic.wait(timeout=20)
    report = traffic.report
    assert report.total == 800
    assert report.failed == 0
    assert set(report.by_version) == {"v1", "v2"}
    assert sum(report.by_version.values()) == 800
    assert report.retried >= 100, "nginx retried the refused pod, and the generator must count it"
    assert all(r.upstream_status for r in report.responses)
    assert any(r.upstream_status.startswith("502, ") for r in report.responses if r.retried)
    assert report.switch_window("v1", "v2") is not None


@pytest.mark.process
def test_through_nginx_a_killed_only_pod_is_a_502(tmp_path: Path) -> None:
    with gunicorn_pod("v1") as pod, nginx_proxy(tmp_path, [pod.port]) as proxy:
        plan = TrafficPlan(url=proxy.url(), keepalive_clients=2, fresh_clients=2, max_requests=10**6, max_seconds=3)
        with Traffic(plan) as traffic:
            time.sleep(0.5)
            pod.kill()
            gone = traffic.mark("gone")
            time.sleep(0.5)
    report = traffic.report
    late = report.window(start=gone)
    assert late and all(r.status == 502 for r in late)
    assert report.failed >= len(late)
    assert report.by_version["v1"] == sum(1 for r in report.responses if r.status == 200)
