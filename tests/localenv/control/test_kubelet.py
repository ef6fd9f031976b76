"""The kubelet's probe worker and its way of stopping a container, as tables.

Probe rows: the cases of kubernetes pkg/kubelet/prober/worker_test.go (read at kubernetes/kubernetes
commit 632f162) — the result the worker holds after each answer, and when it goes on hold. Stop rows:
killContainer in pkg/kubelet/kuberuntime/kuberuntime_container.go (commit fbba6b4) and
TestKillContainerGracePeriod in kuberuntime_container_test.go: preStop within the grace period, then
SIGTERM, then SIGKILL when the grace is over, never sooner than 2 s after SIGTERM.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence

import pytest

from localenv.control.kubelet import MINIMUM_GRACE_S, kill_container, probe_due, record_answer, termination_signals
from localenv.control.objects import ProbeKind, ProbeWorker
from localenv.spec import PodTemplate, Probe

OK, FAIL = True, False


def worker(kind: ProbeKind, probe: Probe) -> ProbeWorker:
    return ProbeWorker(kind=kind, probe=probe, next_due=0.0)


def results(w: ProbeWorker, answers: Sequence[bool], initial: bool | None) -> list[bool | None]:
    """The result the probe holds after each answer (upstream's resultsManager), starting from `initial`."""
    held, seen = initial, []
    for ok in answers:
        if not w.on_hold:
            changed = record_answer(w, ok)
            held = held if changed is None else changed
        seen.append(held)
    return seen


def test_failure_threshold(make_probe: Callable[..., Probe]) -> None:
    # TestFailureThreshold: readiness, success 1, failure 3; twice: 3 successes, 2 failures still success, then failure.
    w = worker(ProbeKind.READINESS, make_probe(success_threshold=1, failure_threshold=3))
    answers = [OK, OK, OK, FAIL, FAIL, FAIL, FAIL, FAIL] * 2
    expected = [OK, OK, OK, OK, OK, FAIL, FAIL, FAIL] * 2
    assert results(w, answers, initial=FAIL) == expected


def test_success_threshold(make_probe: Callable[..., Probe]) -> None:
    # TestSuccessThreshold: readiness, success 3, failure 1; starts failed, 3 successes to pass, 1 failure to fail.
    w = worker(ProbeKind.READINESS, make_probe(success_threshold=3, failure_threshold=1))
    answers = [OK, OK, OK, OK, OK, FAIL] * 2
    expected = [FAIL, FAIL, OK, OK, OK, FAIL] * 2
    assert results(w, answers, initial=FAIL) == expected


def test_startup_probe_success_threshold(make_probe: Callable[..., Probe]) -> None:
    # TestStartupProbeSuccessThreshold: one success starts the container; the worker then holds, its run reset.
    w = worker(ProbeKind.STARTUP, make_probe(success_threshold=1, failure_threshold=3))
    assert record_answer(w, OK) is True
    assert w.on_hold and w.result_run == 0


def test_startup_probe_failure_threshold(make_probe: Callable[..., Probe]) -> None:
    # TestStartupProbeFailureThreshold / TestResultRunOnStartupCheckFailure: Unknown, Unknown, then Failure.
    w = worker(ProbeKind.STARTUP, make_probe(success_threshold=1, failure_threshold=3))
    runs = []
    for _ in range(3):
        assert not w.on_hold
        outcome = record_answer(w, FAIL)
        runs.append((outcome, w.result_run))
    assert runs == [(None, 1), (None, 2), (False, 0)]
    assert w.on_hold


def test_result_run_on_liveness_check_failure(make_probe: Callable[..., Probe]) -> None:
    # TestResultRunOnLivenessCheckFailure: success (run 1), failure (run 1), failure (run 2), failure → Failure, run 0.
    w = worker(ProbeKind.LIVENESS, make_probe(success_threshold=1, failure_threshold=3))
    runs = [(record_answer(w, ok), w.result_run) for ok in (OK, FAIL, FAIL, FAIL)]
    assert runs == [(True, 1), (None, 1), (None, 2), (False, 0)]
    assert w.on_hold


@pytest.mark.parametrize("kind", [ProbeKind.LIVENESS, ProbeKind.STARTUP])
def test_on_hold_on_liveness_or_startup_check_failure(kind: ProbeKind, make_probe: Callable[..., Probe]) -> None:
    # TestOnHoldOnLivenessOrStartupCheckFailure: a failure at threshold 1 holds the worker; nothing is probed until
    # a new container (a new worker here) — which then succeeds.
    w = worker(kind, make_probe(success_threshold=1, failure_threshold=1))
    assert record_answer(w, FAIL) is False and w.on_hold
    assert not probe_due(w, container_started=kind is ProbeKind.LIVENESS, now=100.0)
    fresh = worker(kind, make_probe(success_threshold=1, failure_threshold=1))
    assert record_answer(fresh, OK) is True
    assert fresh.on_hold is (kind is ProbeKind.STARTUP)


def test_liveness_probe_disabled_by_started(make_probe: Callable[..., Probe]) -> None:
    # TestLivenessProbeDisabledByStarted and TestStartupProbeDisabledByStarted: startup first, the others after it.
    liveness = worker(ProbeKind.LIVENESS, make_probe())
    startup = worker(ProbeKind.STARTUP, make_probe())
    assert not probe_due(liveness, container_started=False, now=0.0)
    assert probe_due(startup, container_started=False, now=0.0)
    assert probe_due(liveness, container_started=True, now=0.0)
    assert not probe_due(startup, container_started=True, now=0.0)


def test_initial_delay(make_probe: Callable[..., Probe]) -> None:
    # TestInitialDelay: no probe during initialDelaySeconds (10 s) after the container started; probed after it.
    started_at = 500.0
    w = ProbeWorker(kind=ProbeKind.READINESS, probe=make_probe(initial_delay=10.0), next_due=started_at + 10.0)
    assert not probe_due(w, container_started=True, now=started_at + 9.9)
    assert probe_due(w, container_started=True, now=started_at + 100)


# killContainer: (preStop sleep, terminationGracePeriodSeconds) → (SIGTERM at, SIGKILL at), seconds after deletion,
# when the container ignores SIGTERM.
KILL_CONTAINER = [
    ("the contract's local numbers: preStop 1 s, grace 8 s", 1.0, 8.0, 1.0, 8.0),
    ("no preStop: SIGTERM at once, SIGKILL at the grace", 0.0, 30.0, 0.0, 30.0),
    ("use pod termination grace period (TestKillContainerGracePeriod)", 0.0, 60.0, 0.0, 60.0),
    ("default termination grace period 0 → the 2 s minimum (TestKillContainerGracePeriod)", 0.0, 0.0, 0.0, 2.0),
    ("grace 1 s is raised to the 2 s minimum", 0.0, 1.0, 0.0, MINIMUM_GRACE_S),
    ("preStop outlasts the grace: cut at the grace, then 2 s more", 10.0, 5.0, 5.0, 7.0),
    ("preStop leaves less than 2 s: SIGTERM still gets 2 s", 7.0, 8.0, 7.0, 9.0),
]


@pytest.mark.parametrize(("name", "pre_stop", "grace", "sigterm_at", "sigkill_at"), KILL_CONTAINER)
def test_kill_container(
    make_template: Callable[..., PodTemplate],
    *,
    name: str,
    pre_stop: float,
    grace: float,
    sigterm_at: float,
    sigkill_at: float,
) -> None:
    deleted = 100.0
    termination = kill_container(make_template(pre_stop_sleep=pre_stop, termination_grace=grace), "deleted", deleted)
    sent: dict[signal.Signals, float] = {}
    for step in range(0, 7001):  # the kubelet looks every 10 ms for 70 s
        now = deleted + step / 100
        for due in termination_signals(termination, now):
            sent.setdefault(due, round(now - deleted, 2))
    assert sent == {signal.SIGTERM: sigterm_at, signal.SIGKILL: sigkill_at}, name
