"""Real gunicorn with app/gunicorn.conf.py on loopback: graceful shutdown, metrics over workers, access log."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.timing import LOCAL_TIMING
from harness.gunicorn_processes import Gunicorn, gunicorn_environment, run_gunicorn

pytestmark = pytest.mark.process

StartGunicorn = Callable[..., Gunicorn]
# The local environment's budget: short, so the test can wait for it.
GRACEFUL_TIMEOUT_S = LOCAL_TIMING.graceful_timeout
SLOW_REQUEST_S = 2.0


def _get_on(connection: http.client.HTTPConnection, path: str) -> tuple[int, str, bytes]:
    """GET on an existing (kept-alive) connection: (status, Connection header, body)."""
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.getheader("Connection", ""), response.read()


def _unanswered_new_connection(server: Gunicorn, within_s: float) -> bool:
    """True once a new connection gets no HTTP answer (refused, reset or left waiting) within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            server.get("/healthz", timeout=1)
        except (OSError, http.client.HTTPException):
            return True
        time.sleep(0.05)
    return False


WORKER_OK = {
    "http_route": "/worker",
    "http_request_method": "GET",
    "http_response_status_code": "200",
    "url_scheme": "http",
    "error_type": "",
}


def _metric(text: str, name: str, labels: dict[str, str]) -> float | None:
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) == labels:
            return float(match.group(2))
    return None


def test_sigterm_drains_in_flight_request_and_exits_zero(start_gunicorn: StartGunicorn, tmp_path: Path) -> None:
    started_dir = tmp_path / "started"
    started_dir.mkdir()
    server = start_gunicorn(
        workers=2, GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT_S), SLOW_REQUEST_STARTED_DIR=str(started_dir)
    )
    kept_alive = server.connect()
    status, connection_header, _ = _get_on(kept_alive, "/readyz")
    assert (status, connection_header) == (200, "keep-alive")

    slow_result: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            slow_result["answer"] = server.get(
                f"/slow?seconds={SLOW_REQUEST_S}", headers={"X-Request-ID": "in-flight-1"}, timeout=30
            )
        except Exception as error:  # reported by the assertion below
            slow_result["error"] = error

    client = threading.Thread(target=slow_request)
    client.start()
    deadline = time.monotonic() + 10
    while not (started_dir / "in-flight-1").exists():
        assert time.monotonic() < deadline, "the slow request never started"
        time.sleep(0.01)

    server.process.send_signal(signal.SIGTERM)
    sigterm_at = time.monotonic()

    # An already-open keep-alive connection sees the drain: /readyz 503, and the worker closes it.
    # (A request a thread began just before SIGTERM may still say keep-alive; the next one says close.)
    seen: list[tuple[int, str]] = []
    while time.monotonic() - sigterm_at < 1.5:
        status, connection_header, _ = _get_on(kept_alive, "/readyz")
        seen.append((status, connection_header))
        if status == 503 and connection_header == "close":
            break
        time.sleep(0.02)
    assert seen[-1] == (503, "close"), f"/readyz on a kept-alive connection after SIGTERM: {seen}"
    kept_alive.close()

    # New connections are no longer served: refused, reset, or left unanswered, never an HTTP answer.
    # A worker the master has not reached yet may still answer; within a second none may.
    assert _unanswered_new_connection(server, within_s=1.0), "new connections were still served after SIGTERM"

    client.join(timeout=30)
    assert "error" not in slow_result, f"in-flight request failed: {slow_result.get('error')!r}"
    status, body = slow_result["answer"]
    assert status == 200
    assert json.loads(body)["slept"] == SLOW_REQUEST_S

    exit_code = server.process.wait(timeout=GRACEFUL_TIMEOUT_S + 10)
    shutdown_s = time.monotonic() - sigterm_at
    assert exit_code == 0, server.logs()
    assert shutdown_s < GRACEFUL_TIMEOUT_S, f"took {shutdown_s:.1f} s, graceful_timeout is {GRACEFUL_TIMEOUT_S} s"
    assert "Traceback" not in server.logs()

    records = [json.loads(line) for line in server.access_lines()]
    slow_line = next(r for r in records if r["request_id"] == "in-flight-1")
    assert (slow_line["method"], slow_line["path"], slow_line["status"]) == ("GET", "/slow", 200)
    assert slow_line["duration_ms"] >= SLOW_REQUEST_S * 1000


def test_metrics_add_up_across_workers_and_every_request_is_logged(start_gunicorn: StartGunicorn) -> None:
    server = start_gunicorn(workers=2, APP_VERSION="v7.0.0", APP_COMMIT="c0ffee1")
    assert json.loads(server.get("/version")[1]) == {"version": "v7.0.0", "commit": "c0ffee1"}

    # Fresh connections land on whichever worker accepts first; go on until both have answered.
    workers: set[int] = set()
    sent = 0
    while sent < 20 or len(workers) < 2:
        assert sent < 400, f"only workers {workers} answered {sent} requests"
        status, body = server.get("/worker", headers={"X-Request-ID": f"count-{sent}"})
        assert status == 200
        workers.add(json.loads(body)["worker"])
        sent += 1

    for _ in range(3):  # whichever worker answers /metrics must report all of them
        status, body = server.get("/metrics")
        text = body.decode()
        assert status == 200
        assert _metric(text, "http_server_request_duration_seconds_count", WORKER_OK) == sent
        assert _metric(text, "http_server_request_duration_seconds_bucket", {**WORKER_OK, "le": "+Inf"}) == sent
        build = {"service_name": "example-app", "service_version": "v7.0.0", "vcs_ref_head_revision": "c0ffee1"}
        assert _metric(text, "target_info", build) == 1.0
        assert len(re.findall(r"^target_info\{", text, flags=re.MULTILINE)) == 1

    records = [json.loads(line) for line in server.access_lines()]
    logged = {r["request_id"]: r for r in records if r["path"] == "/worker"}
    assert set(logged) == {f"count-{n}" for n in range(sent)}
    assert all(r["method"] == "GET" and r["status"] == 200 and r["duration_ms"] >= 0 for r in logged.values())


def test_invalid_app_version_refuses_to_start_with_one_clear_message(tmp_path: Path) -> None:
    server = run_gunicorn(tmp_path, gunicorn_environment(APP_VERSION="bad tag!"))
    try:
        exit_code = server.process.wait(timeout=20)
    finally:
        server.stop()
    logs = server.logs()
    assert exit_code != 0
    assert "APP_VERSION='bad tag!' is not a valid image tag" in logs
    assert "Traceback" not in logs
    assert "Listening at" not in logs, "it must refuse before it takes traffic"


def test_invalid_worker_count_refuses_to_start(tmp_path: Path) -> None:
    server = run_gunicorn(tmp_path, gunicorn_environment(WEB_WORKERS="two"))
    try:
        exit_code = server.process.wait(timeout=20)
    finally:
        server.stop()
    assert exit_code != 0
    assert "WEB_WORKERS='two' is not a whole number" in server.logs()
    assert "Traceback" not in server.logs()


def test_metrics_dirs_of_killed_masters_are_swept_and_a_clean_exit_leaves_none(start_gunicorn: StartGunicorn) -> None:
    shm = Path("/dev/shm")
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_pid = finished.pid  # reaped: no process has it now
    abandoned = shm / f"example-app-metrics-{dead_pid}-abandoned"
    in_use = shm / f"example-app-metrics-{os.getpid()}-in-use"  # this test process is alive
    abandoned.mkdir()
    in_use.mkdir()
    try:
        server = start_gunicorn(workers=1)
        assert not abandoned.exists(), "the directory of a dead master must be swept"
        assert in_use.exists(), "a live process's directory must be left alone"
        own = list(shm.glob(f"example-app-metrics-{server.process.pid}-*"))
        assert len(own) == 1
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        assert not own[0].exists(), "a clean exit removes the directory it made"
    finally:
        shutil.rmtree(abandoned, ignore_errors=True)
        shutil.rmtree(in_use, ignore_errors=True)
