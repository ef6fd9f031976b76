"""The Python API's contract: events, status, one rollout at a time, deploy before up, clean shutdown."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from localenv import LocalEnvError, LocalEnvironment, RolloutInProgressError
from localenv.cli import iter_lines
from localenv.events import (
    EndpointsEvent,
    EndpointsStage,
    PodChange,
    PodEvent,
    ProbeEvent,
    RolloutEvent,
    read_events,
)

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
    # Each ingress replica's nginx master (the pod process's child) and its workers.
    replicas = [p.pid for p in env.status().ingress_deployment.pods if p.pid]  # type: ignore[union-attr]
    assert len(replicas) >= 2
    workers = {master: _children(master) for pid in replicas for master in _children(pid)}
    assert len(workers) == len(replicas) and all(workers.values())
    env.deploy("v2", wait=False)
    with pytest.raises(RolloutInProgressError, match="refused, not queued"):
        env.deploy("v3")
    result = env.wait()
    assert result.ok and result.version == "v2"
    assert result.seconds is not None and result.drained_seconds is not None
    assert result.drained_seconds >= result.seconds

    # Every event is also a JSON line on disk, with the loop's clock, and reads back as the same typed event.
    # Probes keep logging while this reads: every event held in memory reaches the file, in the same order.
    in_memory = list(env.events)
    deadline = time.monotonic() + 10
    on_disk = read_events(env.state_dir / "events.jsonl")
    while len(on_disk) < len(in_memory) and time.monotonic() < deadline:
        time.sleep(0.05)
        on_disk = read_events(env.state_dir / "events.jsonl")
    assert on_disk[: len(in_memory)] == in_memory
    assert {type(e) for e in on_disk} >= {PodEvent, ProbeEvent, EndpointsEvent, RolloutEvent}
    changes = {e.change for e in on_disk if isinstance(e, PodEvent)}
    assert {PodChange.CREATED, PodChange.STARTED, PodChange.READY, PodChange.TERMINATING} <= changes
    assert {PodChange.SIGTERM, PodChange.TERMINATED} <= changes
    assert all(a.monotonic <= b.monotonic for a, b in itertools.pairwise(on_disk))

    status = env.status()
    assert status.version == "v2" and status.counts.available == 2
    assert [r.version for r in status.revisions] == ["v1", "v2"]
    assert any("rollout complete" in line for line in iter_lines(result.events))

    # Endpoint changes went through the Lua shared dict: a reload would have replaced nginx's workers.
    applied = [e for e in on_disk if isinstance(e, EndpointsEvent) and e.stage is EndpointsStage.APPLIED]
    assert len(applied) >= 4
    assert {master: _children(master) for master in workers} == workers
    error_logs = [log.with_name("nginx-error.log") for log in env.ingress_access_logs()]
    assert error_logs and all("reconfiguring" not in log.read_text() for log in error_logs)
