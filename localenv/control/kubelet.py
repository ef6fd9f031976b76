"""The kubelet's part: run each pod's container, probe it, restart it, and stop it.

- Probes mirror pkg/kubelet/prober/worker.go (doProbe, read at kubernetes/kubernetes commit 61ecc56): a
  probe waits initialDelaySeconds after the container started; readiness and liveness wait until the
  startup probe has passed, the startup probe stops then; an answer changes the result only after
  successThreshold / failureThreshold answers in a row; a liveness failure or a startup result puts the
  worker on hold until the next container. Readiness starts as failure: a pod is not ready until probed.
- Stopping a container mirrors killContainer in pkg/kubelet/kuberuntime/kuberuntime_container.go
  (commit fbba6b4): the preStop hook runs first, bounded by terminationGracePeriodSeconds and counted
  against it; then SIGTERM; SIGKILL once the rest of the grace period is over — but never sooner than
  minimumGracePeriodInSeconds (2 s) after SIGTERM, so a preStop that used up the grace still leaves 2 s.
  A pod deletion and a failed liveness or startup probe stop the container the same way.
- A container that exited is restarted after its crash-loop back-off (localenv/control/backoff.py).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from localenv.control.actions import (
    ContainerStarted,
    ContainerStartFailed,
    KillContainer,
    ProbeAnswer,
    RemoveContainer,
    RunProbe,
    SignalContainer,
    StartContainer,
)
from localenv.control.backoff import CrashLoopBackOff, get, in_back_off_since, next_back_off
from localenv.control.events import PodChange
from localenv.control.journal import Journal
from localenv.control.objects import Container, Pod, PodPhase, ProbeKind, ProbeWorker, Termination
from localenv.spec import PodTemplate

MINIMUM_GRACE_S = 2.0
"""kuberuntime_container.go minimumGracePeriodInSeconds: SIGTERM always gets this long before SIGKILL."""
LIVENESS_FAILED = "liveness probe failed"
STARTUP_FAILED = "startup probe failed"
PRE_STOP_OUTLASTED_GRACE = "preStop outlasted the grace period"
NO_PRE_STOP = "no preStop hook"
GRACE_OVER = "grace period over"


# -- probes (pkg/kubelet/prober/worker.go) ------------------------------------------------------------


def probe_workers(template: PodTemplate, started_at: float) -> dict[ProbeKind, ProbeWorker]:
    """A worker for each probe the template has, first due after its initial delay."""
    probes = (
        (ProbeKind.STARTUP, template.startup_probe),
        (ProbeKind.READINESS, template.readiness_probe),
        (ProbeKind.LIVENESS, template.liveness_probe),
    )
    return {
        kind: ProbeWorker(kind=kind, probe=probe, next_due=started_at + probe.initial_delay)
        for kind, probe in probes
        if probe is not None
    }


def probe_due(worker: ProbeWorker, container_started: bool, now: float) -> bool:
    """doProbe's gates: not on hold, not already asked, past its delay, and startup first."""
    if worker.on_hold or worker.in_flight or now < worker.next_due:
        return False
    if worker.kind is ProbeKind.STARTUP:
        return not container_started  # the startup probe stops once the container has started
    return container_started  # readiness and liveness wait for it


def record_answer(worker: ProbeWorker, ok: bool) -> bool | None:
    """doProbe's thresholds: the probe's new result once `ok` came often enough in a row, else None."""
    if worker.last_result == ok:
        worker.result_run += 1
    else:
        worker.last_result = ok
        worker.result_run = 1
    threshold = worker.probe.success_threshold if ok else worker.probe.failure_threshold
    if worker.result_run < threshold:
        return None
    if (worker.kind is ProbeKind.LIVENESS and not ok) or worker.kind is ProbeKind.STARTUP:
        # The container will be restarted (or has started): no more probing until a new container.
        worker.on_hold = True
        worker.result_run = 0
    return ok


# -- stopping a container (kuberuntime_container.go killContainer) -------------------------------------


def kill_container(template: PodTemplate, reason: str, now: float) -> Termination:
    """Begin stopping a container: its preStop hook first, if it has one and the grace period is not 0."""
    grace = template.termination_grace
    runs_pre_stop = template.pre_stop_sleep > 0 and grace > 0
    return Termination(
        reason=reason,
        began=now,
        grace=grace,
        pre_stop_until=now + min(template.pre_stop_sleep, grace) if runs_pre_stop else None,
    )


def termination_signals(termination: Termination, now: float) -> list[signal.Signals]:
    """The signals due at `now`: SIGTERM once the preStop hook is over, SIGKILL when the grace is spent."""
    due: list[signal.Signals] = []
    if termination.sigterm_at is None and (termination.pre_stop_until is None or now >= termination.pre_stop_until):
        termination.sigterm_at = now
        remaining = termination.grace - (now - termination.began)
        termination.kill_at = now + max(remaining, MINIMUM_GRACE_S)
        due.append(signal.SIGTERM)
    if termination.kill_at is not None and not termination.killed and now >= termination.kill_at:
        termination.killed = True
        due.append(signal.SIGKILL)
    return due


# -- the pod's container --------------------------------------------------------------------------------


def sync_pod(
    pod: Pod, journal: Journal, *, exit_code: int | None, answers: Sequence[ProbeAnswer], back_off: CrashLoopBackOff
) -> None:
    """One kubelet pass over `pod`: note an exit, stop or (re)start its container, act on probe answers."""
    if pod.container is not None and exit_code is not None:
        container_exited(pod, exit_code, journal, back_off)
    if pod.terminating:
        if pod.container is None:
            terminated(pod, journal)
        else:
            advance_stop(pod, journal)
        return
    if pod.container is None:
        finished = pod.finished_at
        if finished is None or not in_back_off_since(back_off, pod.back_off, finished, journal.now):
            start_container(pod, journal, back_off)
        return
    if pod.stopping is not None:
        advance_stop(pod, journal)
        return
    container = pod.container
    for answer in answers:
        worker = container.probes.get(answer.kind)
        if answer.container != container.id or worker is None:
            continue  # an answer about an earlier container
        worker.in_flight = False
        probe_answered(pod, worker, answer, journal)
        if pod.stopping is not None:
            return
    for worker in container.probes.values():
        if pod.address is not None and probe_due(worker, container.started, journal.now):
            worker.in_flight = True
            worker.next_due = journal.now + worker.probe.period
            journal.do(RunProbe(container=container.id, kind=worker.kind, address=pod.address, probe=worker.probe))
    if pod.template.readiness_probe is None and container.started and not pod.containers_ready:
        # No readiness probe: the pod is ready as soon as its container has started.
        set_ready(pod, True, journal)


def start_container(pod: Pod, journal: Journal, back_off: CrashLoopBackOff) -> None:
    """Ask for the pod's next container; a restart after an exit moves the back-off on (doBackOff → Next)."""
    if pod.finished_at is not None:
        pod.back_off = next_back_off(back_off, pod.back_off, pod.finished_at, journal.now)
    pod.attempts += 1
    journal.do(
        StartContainer(pod=pod.name, container=f"{pod.name}/{pod.attempts}", template=pod.template, address=pod.address)
    )


def container_started(pod: Pod, started: ContainerStarted, journal: Journal) -> None:
    """The runtime started the container: probes begin, the pod runs (and is stopped at once if deleted meanwhile)."""
    pod.address = started.address
    pod.container = Container(
        id=started.container,
        started_at=journal.now,
        pid=started.pid,
        started=pod.template.startup_probe is None,
        probes=probe_workers(pod.template, journal.now),
    )
    if pod.terminating:
        pod.stopping = pod.stopping or kill_container(pod.template, "deleted", journal.now)
    else:
        pod.phase = PodPhase.RUNNING
    journal.pod(pod, PodChange.STARTED, pid=started.pid, restarts=pod.restarts)


def container_start_failed(
    pod: Pod, failed: ContainerStartFailed, journal: Journal, back_off: CrashLoopBackOff
) -> None:
    """The runtime could not start the container: it counts as an exit, and is retried after the back-off."""
    journal.pod(pod, PodChange.START_FAILED, error=failed.error)
    _finished(pod, journal, back_off)


def container_exited(pod: Pod, exit_code: int, journal: Journal, back_off: CrashLoopBackOff) -> None:
    """The container's main process exited: its other processes go too; restart it unless the pod is going."""
    container = pod.container
    if container is not None:
        journal.do(RemoveContainer(container=container.id))
    pod.container = None
    if pod.terminating:
        return
    pod.stopping = None
    set_ready(pod, False, journal)
    delay = _finished(pod, journal, back_off)
    journal.pod(pod, PodChange.CONTAINER_EXITED, exit_code=exit_code, restart_in_s=round(delay, 2))


def _finished(pod: Pod, journal: Journal, back_off: CrashLoopBackOff) -> float:
    # The wait before the restart, as IsInBackOffSince will see it: the entry's back-off, unless expired.
    pod.finished_at = journal.now
    pod.restarts += 1
    waiting = in_back_off_since(back_off, pod.back_off, journal.now, journal.now)
    delay = get(pod.back_off) if waiting else 0.0
    pod.phase = PodPhase.CRASH_LOOP_BACK_OFF if delay > 0 else PodPhase.PENDING
    return delay


def probe_answered(pod: Pod, worker: ProbeWorker, answer: ProbeAnswer, journal: Journal) -> None:
    """Record a probe's answer; act when it changes the probe's result."""
    journal.probe(pod, answer.kind, answer.ok, answer.detail)
    result = record_answer(worker, answer.ok)
    if result is None or pod.container is None:
        return
    if worker.kind is ProbeKind.STARTUP:
        if result:
            pod.container.started = True
            journal.pod(pod, PodChange.STARTUP_SUCCEEDED)
        else:
            restart_container(pod, STARTUP_FAILED, journal)
    elif worker.kind is ProbeKind.READINESS:
        if result != pod.containers_ready:
            set_ready(pod, result, journal)
    elif not result:
        restart_container(pod, LIVENESS_FAILED, journal)


def restart_container(pod: Pod, reason: str, journal: Journal) -> None:
    """A liveness or startup probe failed: the container is stopped (preStop, SIGTERM, SIGKILL) and started again."""
    set_ready(pod, False, journal)
    pod.stopping = kill_container(pod.template, reason, journal.now)
    journal.pod(pod, PodChange.RESTARTING, reason=reason)
    advance_stop(pod, journal)


def terminate_pod(pod: Pod, journal: Journal) -> None:
    """The pod was deleted: it leaves the endpoints and its container begins to stop in the same moment."""
    pod.deleted_at = journal.now
    pod.phase = PodPhase.TERMINATING
    pre_stop = 0.0
    if pod.container is not None:
        pod.stopping = pod.stopping or kill_container(pod.template, "deleted", journal.now)
        pre_stop = pod.template.pre_stop_sleep
    journal.pod(pod, PodChange.TERMINATING, pre_stop_s=pre_stop, grace_s=pod.template.termination_grace)


def advance_stop(pod: Pod, journal: Journal) -> None:
    """Send the signals the container's termination has due now."""
    termination, container = pod.stopping, pod.container
    if termination is None or container is None:
        return
    for due in termination_signals(termination, journal.now):
        if due is signal.SIGTERM:
            journal.do(SignalContainer(container=container.id, signal=signal.SIGTERM))
            if termination.pre_stop_until is None:
                journal.pod(pod, PodChange.SIGTERM, reason=NO_PRE_STOP)
            elif pod.template.pre_stop_sleep >= termination.grace:
                journal.pod(pod, PodChange.SIGTERM, reason=PRE_STOP_OUTLASTED_GRACE)
            else:
                journal.pod(pod, PodChange.SIGTERM, after_pre_stop_s=pod.template.pre_stop_sleep)
        else:
            journal.pod(pod, PodChange.SIGKILL, reason=GRACE_OVER)
            journal.do(KillContainer(container=container.id))


def terminated(pod: Pod, journal: Journal) -> None:
    """The deleted pod's container is gone: the pod is gone."""
    pod.phase = PodPhase.TERMINATED
    pod.ready = pod.containers_ready = False
    pod.ready_since = None
    journal.pod(pod, PodChange.TERMINATED, after_s=round(journal.now - (pod.deleted_at or journal.now), 2))


def set_ready(pod: Pod, containers_ready: bool, journal: Journal) -> None:
    """ContainersReady changes; the Ready condition follows when the readiness gates allow it."""
    pod.containers_ready = containers_ready
    _update_ready(pod, journal)


def set_readiness_gates(pod: Pod, passed: bool, journal: Journal) -> None:
    """The readiness gates' conditions change (status.conditions patched by their controller, e.g. the AWS LB
    controller's target-health condition); Ready = ContainersReady and every gate (pod-readiness-gate.md)."""
    if pod.template.readiness_gates:
        pod.gates_passed = passed
        _update_ready(pod, journal)


def _update_ready(pod: Pod, journal: Journal) -> None:
    ready = pod.containers_ready and (not pod.template.readiness_gates or bool(pod.gates_passed))
    if ready == pod.ready:
        return
    pod.ready = ready
    pod.ready_since = journal.now if ready else None
    journal.pod(pod, PodChange.READY if ready else PodChange.NOT_READY)
