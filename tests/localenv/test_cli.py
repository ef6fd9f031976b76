"""`python -m localenv` as a user runs it: clear errors, a background supervisor, no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.local_environment import (
    COMMAND_TIMEOUT_S,
    REPO_ROOT,
    assert_clear_error,
    processes_under,
    run,
    wait_all_gone,
)
from localenv import cli
from localenv.environment import EnvironmentStatus
from localenv.events import ProbeEvent, parse_event

pytestmark = pytest.mark.process


def test_user_errors_are_one_sentence(tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert_clear_error(run(state, "deploy", "--version", "v2"), "not up", "localenv up")
    assert_clear_error(run(state, "status"), "not up")
    assert_clear_error(run(state, "up", "--version", "bad tag", "--port", "0"), "not a valid image tag")
    assert_clear_error(run(state, "up", "--replicas", "1", "--port", "0"), "replicas")
    assert processes_under(state) == []


@pytest.mark.parametrize(
    ("flags", "monitoring"), [((), True), (("--monitoring",), True), (("--no-monitoring",), False)]
)
@pytest.mark.parametrize("command", ["up", "demo"])
def test_up_and_demo_run_prometheus_and_alertmanager_unless_told_not_to(
    command: str, flags: tuple[str, ...], monitoring: bool
) -> None:
    assert cli._parser().parse_args([command, *flags]).monitoring is monitoring


@pytest.mark.parametrize(("monitoring", "flag"), [(True, "--monitoring"), (False, "--no-monitoring")])
def test_the_supervisor_is_told_either_way(monitoring: bool, flag: str) -> None:
    """`up` names the choice on the supervisor's command line, so the supervisor's own default never decides."""
    supervise = ["_supervise", "--state-dir", "s", "--port", "0", "--propagation", "0.5", "--router", "r"]
    assert cli._parser().parse_args([*supervise, flag]).monitoring is monitoring


@pytest.mark.parametrize(
    ("installed", "missing"),
    [
        ((), ("prometheus and prometheus-alertmanager", "apt-get install prometheus prometheus-alertmanager")),
        (("prometheus",), ("prometheus-alertmanager is not installed", "apt-get install prometheus-alertmanager`")),
        (("prometheus-alertmanager",), ("prometheus is not installed", "apt-get install prometheus`")),
    ],
)
@pytest.mark.parametrize("command", ["up", "demo"])
def test_a_missing_prometheus_or_alertmanager_stops_up_and_demo_before_anything_starts(
    tmp_path: Path, command: str, installed: tuple[str, ...], missing: tuple[str, ...]
) -> None:
    bin_dir = tmp_path / "bin"  # PATH holds only these stand-ins: never run, only found
    bin_dir.mkdir()
    for binary in installed:
        (bin_dir / binary).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / binary).chmod(0o755)
    state = tmp_path / "s"
    result = run(state, command, "--port", "0", environ={"PATH": str(bin_dir)})
    assert_clear_error(result, *missing, "make system-packages", "--no-monitoring")
    assert processes_under(state) == []
    assert not state.exists(), "the supervisor was started"


def test_up_recovers_a_crashed_run_then_deploy_rollback_down_leave_no_process(tmp_path: Path) -> None:
    state = tmp_path / "s"
    running: list[int] = []
    try:
        # Without Prometheus: this test is about the supervisor's lifecycle (the monitoring proof runs the default).
        first = run(state, "up", "--port", "0", "--replicas", "2", "--version", "v1", "--no-monitoring")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "rollout complete" in first.stdout  # one progress line per event
        assert_clear_error(run(state, "up", "--port", "0"), "already up")

        # The supervisor crashes; nginx and the pods live on as orphans until the next `up`.
        supervisor = int((state / "supervisor.pid").read_text())
        orphans = [p for p in processes_under(state) if p != supervisor]
        os.kill(supervisor, signal.SIGKILL)
        assert wait_all_gone([supervisor]) == []
        assert_clear_error(run(state, "status"), "left processes behind", "down")
        again = run(state, "up", "--port", "0", "--replicas", "2", "--version", "v1", "--no-monitoring")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "recovered from a crashed run" in again.stdout
        assert wait_all_gone(orphans) == [], "the crashed run's processes are still running"

        status = EnvironmentStatus.from_json(json.loads(run(state, "status", "--json").stdout))
        assert status.version == "v1" and status.counts.available == 2
        lines = run(state, "watch", "--seconds", "1.5", "--json").stdout.splitlines()
        watched = [parse_event(json.loads(line)) for line in lines if json.loads(line).get("kind")]
        assert any(isinstance(e, ProbeEvent) for e in watched)  # readiness probes run every second
        deploy = run(state, "deploy", "--version", "v2", "--with-traffic", "--json")
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        outcome = json.loads(deploy.stdout)
        assert outcome["ok"] and outcome["smoke"]["ok"]
        assert outcome["traffic"]["failed"] == 0 and outcome["traffic"]["total"] > 100

        back = run(state, "rollback", "--json")
        assert back.returncode == 0 and json.loads(back.stdout)["rollout"]["version"] == "v1"
        text = run(state, "status").stdout
        assert "v1" in text and "retried by the ingress" in text
        running = processes_under(state)
        assert len(running) >= 4  # supervisor, nginx, two pods (and their children)
    finally:
        down = run(state, "down")
    assert down.returncode == 0 and "every process stopped" in down.stdout
    assert wait_all_gone(running) == []
    assert processes_under(state) == []


def test_ctrl_c_during_the_demo_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "s"
    # Without Prometheus: its stop on Ctrl-C is down's, proved in test_monitoring_proof.py.
    options = ["--port", "0", "--replicas", "2", "--no-monitoring", "--state-dir", str(state)]
    # As at a terminal: a shell without job control starts background jobs with SIGINT ignored, an exec keeps
    # an ignored signal ignored, and the demo would never see the Ctrl-C this test sends. A handled one is
    # reset to the default at exec, so the demo starts with Python's KeyboardInterrupt.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        demo = subprocess.Popen(
            [sys.executable, "-m", "localenv", "demo", *options],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # wait until the rollout under traffic has begun
            if "rollout started" in line and "v2" in line:
                break
        demo.send_signal(signal.SIGINT)
        _, stderr = demo.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130 and "interrupted" in stderr
    assert wait_all_gone(processes_under(state)) == []
    assert processes_under(state) == []
