"""The Python API's contract: events, status, one rollout at a time, deploy before up, clean shutdown."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from localenv import LocalEnvError, LocalEnvironment, RolloutInProgressError
from localenv.cli import iter_lines

pytestmark = pytest.mark.process


def test_deploy_before_up_is_refused(tmp_path: Path) -> None:
    env = LocalEnvironment(tmp_path / "env", port=0)
    with pytest.raises(LocalEnvError, match="not up"):
        env.deploy("v2")
    with pytest.raises(LocalEnvError, match="not up"):
        env.status()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_one_rollout_at_a_time_events_logged_and_nginx_never_reloaded(env: LocalEnvironment) -> None:
    assert env.up("v1", 2).ok
    with pytest.raises(LocalEnvError, match="no earlier revision"):
        env.rollback()
    with pytest.raises(LocalEnvError, match="not a valid image tag"):
        env.deploy("no such tag!")
    master = env.status()["ingress"]["pid"]
    workers = _children(master)
    assert workers
    env.deploy("v2", wait=False)
    with pytest.raises(RolloutInProgressError, match="refused, not queued"):
        env.deploy("v3")
    result = env.wait()
    assert result.ok and result.version == "v2"
    assert result.seconds is not None and result.drained_seconds is not None
    assert result.drained_seconds >= result.seconds

    # Every event is also a JSON line on disk, with the traffic generator's clock.
    on_disk = [json.loads(line) for line in (env.state_dir / "events.jsonl").read_text().splitlines()]
    assert len(on_disk) == len(env.events)
    kinds = {e["kind"] for e in on_disk}
    assert {"pod", "probe", "endpoints", "rollout"} <= kinds
    changes = {e["change"] for e in on_disk if e["kind"] == "pod"}
    assert {"Created", "Started", "Ready", "Terminating", "SIGTERM", "Terminated"} <= changes
    assert all(a["monotonic"] <= b["monotonic"] for a, b in itertools.pairwise(on_disk))
    # preStop first, SIGTERM after it: a terminating pod left the endpoints at the moment it began.
    name = next(e["pod"] for e in on_disk if e["kind"] == "pod" and e["change"] == "Terminating")
    began = next(e for e in on_disk if e.get("pod") == name and e.get("change") == "Terminating")
    sigterm = next(e for e in on_disk if e.get("pod") == name and e.get("change") == "SIGTERM")
    left = next(e for e in on_disk if e["kind"] == "endpoints" and e["stage"] == "changed" and e["t"] >= began["t"])
    assert name not in left["endpoints"] and left["t"] == pytest.approx(began["t"], abs=0.05)
    assert sigterm["t"] - began["t"] >= 1.0 - 0.05  # the contract's preStop sleep

    status = env.status()
    assert status["version"] == "v2" and status["counts"]["available"] == 2
    assert [r["version"] for r in status["revisions"]] == ["v1", "v2"]
    assert any("rollout complete" in line for line in iter_lines(result.events))

    # Endpoint changes went through the Lua shared dict: a reload would have replaced nginx's workers.
    assert len([e for e in on_disk if e["kind"] == "endpoints" and e["stage"] == "applied"]) >= 4
    assert status["ingress"]["pid"] == master
    assert _children(master) == workers
    assert "reconfiguring" not in (env.state_dir / "nginx-error.log").read_text()
