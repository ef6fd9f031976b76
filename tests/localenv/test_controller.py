"""The control loop's behaviour with a fake runtime and a manual clock: rollouts, deadlines, back-off, probes, stops.

Every case drives the real controller and core with the contract's local Deployment (or a copy with
one field changed) while `FakeRuntime` plays the processes: containers start at once, exit when a case
says, answer probes as scripted. Time moves 20 ms per sync, as the loop ticks; a case that waits
seconds of fake time runs in milliseconds. What only real processes can show — no request dropped
under load, the naive spec dropping some — stays in test_rollout_proof.py.
"""

from __future__ import annotations

import copy
import json
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.timing import LOCAL_TIMING
from localenv import LocalEnvError, RolloutInProgressError, local_deployment
from localenv.cli import iter_lines
from localenv.control.actions import RunProbe
from localenv.control.objects import PodPhase, ProbeKind, Rollout, RolloutState
from localenv.control.status import Status
from localenv.controller import TICK_S, Controller
from localenv.events import (
    EndpointsEvent,
    EndpointsStage,
    Event,
    EventLog,
    IngressEvent,
    IngressStep,
    PodChange,
    PodEvent,
    ProbeEvent,
    RolloutEvent,
    RolloutStep,
    parse_event,
    read_events,
)
from localenv.runtime.fake import FakeRuntime
from localenv.spec import DeploymentSpec, PodTemplate

READY_OK = (True, "200")
UNREADY = (False, "503")


@dataclass
class Loop:
    """The controller on a fake runtime, and what it recorded."""

    fake: FakeRuntime
    controller: Controller
    log: EventLog

    def apply(self, version: str = "v1", replicas: int = 3, **changes: Any) -> Rollout:
        """Apply the contract's Deployment of `version`, with spec fields (`progressDeadlineSeconds` …) changed."""
        deployment = copy.deepcopy(local_deployment(version, replicas))
        deployment["spec"].update(changes)
        return self.apply_dict(deployment)

    def apply_dict(self, deployment: dict[str, Any], *, rollback: bool = False) -> Rollout:
        return self.controller.apply(DeploymentSpec.from_manifest(deployment), allow_during_rollout=rollback)

    def run(self, seconds: float) -> None:
        self.fake.run(self.controller, seconds, TICK_S)

    def until(self, done: Callable[[], bool], within: float) -> float:
        """Sync until `done()`; the fake seconds it took. Fails the case if it takes longer than `within`."""
        for step in range(1, round(within / TICK_S) + 1):
            self.fake.clock.advance(TICK_S)
            self.controller.sync()
            if done():
                return step * TICK_S
        pytest.fail(f"not done within {within} s of fake time")

    def settle(self, rollout: Rollout, within: float = 60.0) -> Rollout:
        """Run until the rollout has failed, or completed and drained."""
        self.until(lambda: rollout.state is RolloutState.FAILED or rollout.drained is not None, within)
        return rollout

    def events(self, since: int = 0) -> list[Event]:
        return self.log.snapshot(since)

    def status(self) -> Status:
        return self.controller.status()


@pytest.fixture
def loop() -> Iterator[Loop]:
    fake = FakeRuntime()
    log = EventLog(None, clock=fake.now)
    controller = Controller(runtime=fake, events=log, endpoint_propagation=LOCAL_TIMING.endpoint_propagation)
    yield Loop(fake=fake, controller=controller, log=log)
    controller.stop()


def pod_events(events: list[Event], change: PodChange) -> list[PodEvent]:
    return [e for e in events if isinstance(e, PodEvent) and e.change is change]


def with_strategy(version: str, replicas: int, surge: object, unavailable: object) -> dict[str, Any]:
    deployment = copy.deepcopy(local_deployment(version, max(replicas, 2)))
    deployment["spec"]["replicas"] = replicas
    deployment["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return deployment


# (replicas, maxSurge, maxUnavailable) → the fenceposts every event of the rollout must keep.
FENCEPOSTS = [
    ("the contract's own strategy, 3 replicas", 3, 1, 0, 1, 0),
    ("39 %/39 % of 10 → surge 4, unavailable 3", 10, "39%", "39%", 4, 3),
    ("25 %/25 % of 4 → surge 1, unavailable 1", 4, "25%", "25%", 1, 1),
    ("0/0 resolves to unavailable 1", 3, 0, 0, 0, 1),
]


@pytest.mark.parametrize(("name", "replicas", "surge", "unavailable", "max_surge", "max_unavailable"), FENCEPOSTS)
def test_a_rolling_update_keeps_the_fenceposts_at_every_event_and_ends_on_the_new_version(
    loop: Loop, *, name: str, replicas: int, surge: object, unavailable: object, max_surge: int, max_unavailable: int
) -> None:
    assert loop.settle(loop.apply_dict(with_strategy("v1", replicas, surge, unavailable))).drained is not None
    since = len(loop.log)
    rollout = loop.settle(loop.apply_dict(with_strategy("v2", replicas, surge, unavailable)))
    assert rollout.state is RolloutState.COMPLETE and rollout.drained is not None, name
    counted = [e for e in loop.events(since) if not isinstance(e, IngressEvent)]
    assert all(e.counts.pods <= replicas + max_surge for e in counted), name
    assert all(e.counts.available >= replicas - max_unavailable for e in counted), name
    assert max(e.counts.pods for e in counted) == replicas + max_surge, "the surge was not used"
    assert min(e.counts.available for e in counted) == replicas - max_unavailable, "the floor was not reached"
    status = loop.status()
    assert {p.version for p in status.pods} == {"v2"} and len(status.endpoints) == replicas
    assert status.counts.pods == replicas and status.counts.terminating == 0


def test_the_switch_is_one_way_and_a_pod_leaves_the_ingress_before_its_sigterm(loop: Loop) -> None:
    loop.settle(loop.apply("v1"))
    addresses = {p.name: p.address for p in loop.status().pods}
    old = set(addresses.values())
    since, pushed_before = len(loop.log), len(loop.fake.pushes)
    loop.settle(loop.apply("v2"))
    events = loop.events(since)
    # One way: once the ingress holds only new pods, no later push brings an old one back.
    pushes = loop.fake.pushes[pushed_before:]
    first_all_new = next(i for i, (_, addresses) in enumerate(pushes) if not old & set(addresses))
    assert all(not old & set(addresses) for _, addresses in pushes[first_all_new:])
    # A terminating pod leaves the endpoints in the sync it starts terminating in, and leaves the ingress
    # (after the propagation delay) before its preStop ends and SIGTERM comes.
    for terminating in pod_events(events, PodChange.TERMINATING):
        left = next(e for e in events if isinstance(e, EndpointsEvent) and e.t >= terminating.t)
        assert left.stage is EndpointsStage.CHANGED and left.t == terminating.t
        assert terminating.pod not in left.endpoints
        sigterm = next(e for e in pod_events(events, PodChange.SIGTERM) if e.pod == terminating.pod)
        assert sigterm.t - terminating.t == pytest.approx(LOCAL_TIMING.pre_stop, abs=TICK_S + 1e-9)
        address = addresses[terminating.pod]
        gone = next(t for t, addresses in pushes if t >= terminating.monotonic and address not in addresses)
        assert gone - terminating.monotonic == pytest.approx(LOCAL_TIMING.endpoint_propagation, abs=TICK_S + 1e-9)
        assert gone < sigterm.monotonic


# killContainer with a container that ignores SIGTERM: (preStop, terminationGracePeriodSeconds) → SIGTERM and
# SIGKILL, seconds after the pod started terminating (the kubelet acts at its next sync, a tick later at most).
SIGKILL_AT = [
    ("the contract: preStop 1 s, grace 8 s", None, None, 1.0, 8.0),
    ("no preStop, grace 1 s: SIGTERM still gets the 2 s minimum", 0, 1, 0.0, 2.0),
    ("preStop 3 s outlasts grace 2 s: cut at 2 s, SIGKILL 2 s later", 3, 2, 2.0, 4.0),
]


@pytest.mark.parametrize(("name", "pre_stop", "grace", "sigterm_after", "sigkill_after"), SIGKILL_AT)
def test_a_pod_still_running_at_the_end_of_its_grace_period_is_sigkilled(
    loop: Loop, *, name: str, pre_stop: int | None, grace: int | None, sigterm_after: float, sigkill_after: float
) -> None:
    deployment = copy.deepcopy(local_deployment("v1", 2))
    pod_spec = deployment["spec"]["template"]["spec"]
    if grace is not None:
        pod_spec["terminationGracePeriodSeconds"] = grace
    if pre_stop == 0:
        del pod_spec["containers"][0]["lifecycle"]
    elif pre_stop is not None:
        pod_spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] = pre_stop
    loop.settle(loop.apply_dict(deployment))
    loop.fake.sigterm_exit_after = lambda request: None  # busy: only SIGKILL ends it
    fewer = copy.deepcopy(deployment)
    fewer["spec"]["replicas"] = 1
    since = len(loop.log)
    loop.settle(loop.apply_dict(fewer))
    events = loop.events(since)
    [terminating] = pod_events(events, PodChange.TERMINATING)
    changes = {e.change: e.t - terminating.t for e in events if isinstance(e, PodEvent) and e.pod == terminating.pod}
    assert changes[PodChange.SIGTERM] == pytest.approx(sigterm_after, abs=2 * TICK_S), name
    assert changes[PodChange.SIGKILL] == pytest.approx(sigkill_after, abs=3 * TICK_S), name
    assert changes[PodChange.TERMINATED] > changes[PodChange.SIGKILL]
    signals = [(s.signum, s.group) for s in loop.fake.signals]
    assert signals == [(signal.SIGTERM, False), (signal.SIGKILL, True)]  # SIGTERM to PID 1, SIGKILL to the group


def never_ready(version: str) -> Callable[[RunProbe, PodTemplate], tuple[bool, str]]:
    def answer(request: RunProbe, template: PodTemplate) -> tuple[bool, str]:
        return UNREADY if template.version == version and request.kind is ProbeKind.READINESS else READY_OK

    return answer


def test_a_release_that_never_becomes_ready_fails_at_the_progress_deadline_and_rolls_back(loop: Loop) -> None:
    loop.settle(loop.apply("v1"))
    loop.fake.probe_answer = never_ready("v2")
    since = len(loop.log)
    rollout = loop.settle(loop.apply("v2", progressDeadlineSeconds=4))
    assert rollout.state is RolloutState.FAILED
    assert "ProgressDeadlineExceeded" in rollout.message and "old pods keep serving" in rollout.message
    assert "1 new pod(s) not ready" in rollout.message
    # Failed 4 s after the last progress — the new pod's creation — not before.
    [failed] = [e for e in loop.events(since) if isinstance(e, RolloutEvent) and e.step is RolloutStep.FAILED]
    [created] = pod_events(loop.events(since), PodChange.CREATED)
    assert failed.t - created.t == pytest.approx(4.0, abs=2 * TICK_S)
    status = loop.status()
    assert status.counts.available == 3
    assert {p.version for p in status.pods if p.name in status.endpoints} == {"v1"}

    previous = loop.controller.previous_template()
    assert previous is not None and previous.version == "v1"
    spec = loop.controller.spec
    assert spec is not None
    back = loop.controller.apply(DeploymentSpec(**{**spec.__dict__, "template": previous}), allow_during_rollout=True)
    assert loop.settle(back).state is RolloutState.COMPLETE
    status = loop.status()
    assert {(p.version, p.image) for p in status.pods} == {("v1", "example-app:v1")}
    assert (status.counts.pods, status.counts.terminating, status.counts.endpoints) == (3, 0, 3)
    assert [(r.revision, r.version) for r in status.revisions] == [(2, "v2"), (3, "v1")]  # v1's ReplicaSet, reused


def test_a_crashing_release_restarts_with_back_off_doubling_and_fails_at_the_deadline(loop: Loop) -> None:
    loop.settle(loop.apply("v1"))
    loop.fake.lifetime = lambda request: 0.0 if request.template.version == "v2" else None  # crashes at start
    since = len(loop.log)
    rollout = loop.settle(loop.apply("v2"))  # the contract's deadline: 20 s
    assert rollout.state is RolloutState.FAILED
    events = loop.events(since)
    exits = pod_events(events, PodChange.CONTAINER_EXITED)
    assert [e.restart_in_s for e in exits[:6]] == [0, 1, 2, 4, 8, 8]  # LOCAL_BACK_OFF: 1 s doubling to 8 s
    assert [e.exit_code for e in exits] == [1] * len(exits)
    starts = pod_events(events, PodChange.STARTED)
    for exited in exits[:5]:  # each restart waits exactly its back-off
        restarted = next(s for s in starts if s.t >= exited.t)
        assert restarted.t - exited.t == pytest.approx(exited.restart_in_s, abs=2 * TICK_S)
    looping = next(p for p in loop.status().pods if p.version == "v2")
    assert looping.phase is PodPhase.CRASH_LOOP_BACK_OFF and looping.restarts == len(exits)
    assert {p.version for p in loop.status().pods if p.name in loop.status().endpoints} == {"v1"}


def test_a_failing_liveness_probe_restarts_the_container_after_failure_threshold_answers(loop: Loop) -> None:
    loop.settle(loop.apply("v1", replicas=2))
    victim = loop.status().pods[0].name
    sick = {c.container for c in loop.fake.started if c.pod == victim}

    def answer(request: RunProbe, template: PodTemplate) -> tuple[bool, str]:
        failing = request.kind is ProbeKind.LIVENESS and request.container in sick
        return (False, "404") if failing else READY_OK

    loop.fake.probe_answer = answer
    since = len(loop.log)
    loop.until(lambda: any(p.restarts for p in loop.status().pods), within=30)
    events = loop.events(since)
    [restarting] = pod_events(events, PodChange.RESTARTING)
    assert restarting.pod == victim and restarting.reason == "liveness probe failed"
    failures = [e for e in events if isinstance(e, ProbeEvent) and e.pod == victim and not e.ok]
    assert len(failures) == LOCAL_TIMING.liveness_failure_threshold
    assert failures[-1].t == restarting.t
    # Stopped as any container is: not ready at once, then preStop, then SIGTERM.
    changes = [e.change for e in events if isinstance(e, PodEvent) and e.pod == victim]
    assert changes[:4] == [PodChange.NOT_READY, PodChange.RESTARTING, PodChange.SIGTERM, PodChange.CONTAINER_EXITED]
    loop.until(lambda: len(loop.status().endpoints) == 2, within=10)  # the new container is ready again


def test_readiness_needs_failure_threshold_failures_in_a_row_to_take_a_pod_out(loop: Loop) -> None:
    loop.settle(loop.apply("v1", replicas=2))
    victim = loop.status().pods[0].name
    threshold = LOCAL_TIMING.readiness_failure_threshold
    # One failure short of the threshold, a success, then `threshold` failures in a row, then a success.
    expected = [False] * (threshold - 1) + [True] + [False] * threshold + [True]
    script = [READY_OK if ok else UNREADY for ok in expected]

    def answer(request: RunProbe, template: PodTemplate) -> tuple[bool, str]:
        mine = request.kind is ProbeKind.READINESS and request.container.startswith(victim + "/")
        return script.pop(0) if mine and script else READY_OK

    loop.fake.probe_answer = answer
    since = len(loop.log)
    loop.until(lambda: not script, within=10)
    loop.run(1.0)
    events = loop.events(since)
    readiness = [e for e in events if isinstance(e, ProbeEvent) and e.pod == victim and e.probe is ProbeKind.READINESS]
    scripted = readiness[[e.ok for e in readiness].index(False) :][: len(expected)]  # earlier answers left out
    assert [e.ok for e in scripted] == expected
    # Only the threshold-th failure in a row takes the pod out; the next success brings it back.
    assert [e.t for e in pod_events(events, PodChange.NOT_READY)] == [scripted[-2].t]
    assert [e.t for e in pod_events(events, PodChange.READY)] == [scripted[-1].t]
    assert len(loop.status().endpoints) == 2


def test_readiness_and_liveness_wait_for_the_startup_probe_which_restarts_a_pod_that_never_starts(loop: Loop) -> None:
    def answer(request: RunProbe, template: PodTemplate) -> tuple[bool, str]:
        return (False, "ConnectionRefusedError") if request.kind is ProbeKind.STARTUP else READY_OK

    loop.fake.probe_answer = answer
    loop.apply("v1", replicas=2)
    loop.until(lambda: bool(pod_events(loop.events(), PodChange.RESTARTING)), within=30)
    assert {request.kind for _, request in loop.fake.probes} == {ProbeKind.STARTUP}
    [first, *_] = pod_events(loop.events(), PodChange.RESTARTING)
    assert first.reason == "startup probe failed"
    startup = [e for e in loop.events() if isinstance(e, ProbeEvent) and e.pod == first.pod]
    assert len(startup) == LOCAL_TIMING.startup_failure_threshold  # 10 × 1 s: the startup budget


def test_a_killed_pod_is_restarted_at_once_and_rejoins_the_endpoints(loop: Loop) -> None:
    loop.settle(loop.apply("v1"))
    since = len(loop.log)
    victim = loop.controller.kill_pod()
    loop.until(lambda: len(loop.status().endpoints) == 3 and loop.status().pods[0].restarts == 1, within=10)
    events = [e for e in loop.events(since) if isinstance(e, PodEvent) and e.pod == victim]
    assert [e.change for e in events[:3]] == [PodChange.KILLED, PodChange.NOT_READY, PodChange.CONTAINER_EXITED]
    assert events[0].signal == "SIGKILL" and events[2].restart_in_s == 0  # the first restart is immediate
    with pytest.raises(LocalEnvError, match="no running pod named 'nope'"):
        loop.controller.kill_pod("nope")


def test_deploys_are_refused_while_a_rollout_progresses_and_rollback_is_not(loop: Loop) -> None:
    loop.settle(loop.apply("v1"))
    loop.apply("v2")
    with pytest.raises(RolloutInProgressError, match="refused, not queued"):
        loop.apply("v3")
    back = loop.apply_dict(local_deployment("v1", 3), rollback=True)
    assert back.revision == 3 and loop.settle(back).state is RolloutState.COMPLETE
    assert {p.version for p in loop.status().pods} == {"v1"}
    again = loop.apply("v1")  # the same template: nothing to roll out
    assert again.revision == 3
    unchanged = [e for e in loop.events() if isinstance(e, RolloutEvent) and e.step is RolloutStep.UNCHANGED]
    assert unchanged and "nothing to roll out" in unchanged[-1].message


def test_an_unreachable_ingress_is_reported_once_and_the_change_pushed_when_it_answers(loop: Loop) -> None:
    loop.settle(loop.apply("v1", replicas=2))
    loop.fake.ingress_up = False
    since = len(loop.log)
    loop.fake.crash(loop.status().pods[0].name)
    loop.run(2.0)
    unreachable = [e for e in loop.events(since) if isinstance(e, IngressEvent) and e.step is IngressStep.UNREACHABLE]
    assert len(unreachable) == 1 and unreachable[0].alive is False
    loop.fake.ingress_up = True
    loop.run(1.0)
    applied = [e for e in loop.events(since) if isinstance(e, EndpointsEvent) and e.stage is EndpointsStage.APPLIED]
    assert applied and len(loop.status().endpoints) == 2


def test_events_and_status_keep_their_json_shape_and_read_back_the_same(loop: Loop, tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", clock=loop.fake.now)
    loop.controller.events = log
    rollout = loop.settle(loop.apply("v1"))
    events = log.snapshot()
    log.close()
    assert read_events(tmp_path / "events.jsonl") == events
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert {tuple(line)[:4] for line in lines} == {("t", "monotonic", "time", "kind")}
    started = next(line for line in lines if line["kind"] == "pod" and line["change"] == "Started")
    assert set(started) == {"t", "monotonic", "time", "kind", "pod", "change", "phase", "version", "revision"} | {
        "pid",
        "restarts",
        "node",
        "counts",
    }
    assert all(parse_event(line).to_json() == line for line in lines)
    assert any("rollout complete" in line for line in iter_lines(events))
    assert rollout.message.startswith("rollout to v1 complete: 3 of 3 pods available")
    status = loop.status()
    assert Status.from_json(json.loads(json.dumps(status.to_json()))) == status
    assert status.to_json()["pods"][0]["phase"] == "Running"
