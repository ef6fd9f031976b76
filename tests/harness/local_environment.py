"""What the local environment's tests share: the CLI as a user runs it, the proofs' load and negative control,
and the check that no process is left behind."""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.project_files import REPO_ROOT
from localenv import LocalEnvError, LocalEnvironment, local_deployment
from localenv.events import EndpointsEvent, EndpointsStage, Event
from localenv.traffic import Traffic, TrafficPlan

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


@contextlib.contextmanager
def started_environment(state_dir: Path, **options: Any) -> Iterator[LocalEnvironment]:
    """A started `LocalEnvironment(state_dir, port=0, **options)`; afterwards `down()`, and every process it
    started is gone (the test fails otherwise)."""
    environment = LocalEnvironment(state_dir, port=0, **options)
    environment.start()
    pids: list[int] = []
    try:
        yield environment
    finally:
        with contextlib.suppress(LocalEnvError):
            pids = environment.pids()
        environment.down()
    assert wait_all_gone(pids) == [], "processes left behind after down()"
    assert processes_under(state_dir) == []


def programs_under(state_dir: Path) -> dict[str, list[int]]:
    """`processes_under(state_dir)` by program name (the first word of the command line, without its directory)."""
    found: dict[str, list[int]] = {}
    for pid in processes_under(state_dir):
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except OSError:
            continue
        found.setdefault(Path(program).name, []).append(pid)
    return found


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


# ---------------------------------------------------------------- the CLI, `python -m localenv`

COMMAND_TIMEOUT_S = 120


def run(state_dir: Path, *args: str, environ: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One CLI invocation against `state_dir`; `environ` replaces some of this process's variables (e.g. PATH)."""
    env = {**os.environ, **(environ or {}), "LOCALENV_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "localenv", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def assert_clear_error(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """The CLI failed with exit 1 and one `error:` line holding every phrase, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0]
