"""Fixtures for the local environment's tests: an environment per test that leaves no process behind."""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localenv import LocalEnvError, LocalEnvironment, local_deployment
from localenv.events import EndpointsEvent, EndpointsStage, Event
from localenv.traffic import Traffic, TrafficPlan

REPO_ROOT = Path(__file__).resolve().parents[2]
# Bounds for the load in these tests: they stop with the rollout; these only cap a stuck run.
TRAFFIC_MAX_SECONDS = 120.0
TRAFFIC_MAX_REQUESTS = 500_000


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_all_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Pids still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def processes_under(state_dir: Path) -> list[int]:
    """Pids whose command line or environment mention `state_dir` (nginx, pods, supervisor) — ours only."""
    needle = str(state_dir.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            mentions = needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes()
        except OSError:
            continue
        if mentions and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.fixture
def env(tmp_path: Path) -> Iterator[LocalEnvironment]:
    """A started local environment on a free port; every process it started is gone after the test."""
    environment = LocalEnvironment(tmp_path / "env", port=0)
    environment.start()
    pids: list[int] = []
    try:
        yield environment
    finally:
        with contextlib.suppress(LocalEnvError):
            pids = environment.pids()
        environment.down()
    assert wait_all_gone(pids) == [], "processes left behind after down()"
    assert processes_under(tmp_path / "env") == []


def plan(env: LocalEnvironment, **overrides: Any) -> TrafficPlan:
    """The load every proof test uses: keep-alive and fresh-connection clients, no client retries."""
    fields: dict[str, Any] = {
        "url": env.url + "/version",
        "keepalive_clients": 2,
        "fresh_clients": 2,
        "max_requests": TRAFFIC_MAX_REQUESTS,
        "max_seconds": TRAFFIC_MAX_SECONDS,
    }
    fields.update(overrides)
    return TrafficPlan(**fields)


def start_traffic(env: LocalEnvironment) -> Traffic:
    """Start the proof tests' load against `env` (stop it with `.stop()`)."""
    return Traffic(plan(env)).start()


def naive_deployment(version: str, replicas: int = 3) -> dict[str, Any]:
    """The negative control: no readiness gate, no preStop, maxUnavailable 1, minReadySeconds 0 (the defaults)."""
    deployment = copy.deepcopy(local_deployment(version, replicas))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for gate in ("readinessProbe", "startupProbe", "lifecycle"):
        container.pop(gate)
    # minReadySeconds left at Kubernetes' default 0, as a spec without any of the gates would have it.
    del deployment["spec"]["minReadySeconds"]
    deployment["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": 1}
    return deployment


def all_new_endpoints_at(events: list[Event], version: str) -> float | None:
    """`time.monotonic()` of the first moment the ingress's endpoints were all `version` (and not empty)."""
    for event in events:
        if isinstance(event, EndpointsEvent) and event.stage is EndpointsStage.APPLIED and event.versions == (version,):
            return event.monotonic
    return None
