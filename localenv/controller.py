"""One control loop doing the work of the Deployment controller, the kubelet and the endpoints controller.

Every tick (20 ms) it, in Kubernetes' order:

1. kubelet — starts containers, runs startup/readiness/liveness probes (httpGet, with their periods,
   timeouts and thresholds), restarts a container that exits or fails liveness (with back-off), and
   terminates pods: preStop sleep, then SIGTERM, SIGKILL at terminationGracePeriodSeconds;
2. Deployment controller — the rolling-update surge algorithm of
   kubernetes/pkg/controller/deployment/rolling.go: scale the new ReplicaSet up by at most maxSurge
   above `replicas`, scale old ones down only as far as `replicas − maxUnavailable` available pods
   allow, unhealthy old pods first; progress tracked as `DeploymentProgressing` does, a rollout
   without progress for progressDeadlineSeconds is marked failed (old pods keep serving);
3. ReplicaSet controller — creates or deletes pods to match each ReplicaSet's count;
4. endpoints controller — the ready, non-terminating pods become the ingress's endpoints, pushed to
   nginx after the propagation delay. A pod that starts terminating leaves the endpoints *and*
   starts its preStop in the same tick: the same race as in a cluster.

All state lives in this object and is changed only by the loop thread or under its lock.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import itertools
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localenv.errors import LocalEnvError, RolloutInProgressError
from localenv.events import ENDPOINTS, INGRESS, POD, PROBE, ROLLOUT, EventLog
from localenv.images import REPO_ROOT, command_for
from localenv.ingress import Ingress
from localenv.processes import LOOPBACK, ProcessRegistry, free_port, kill_group, signal_group, signal_process, spawn
from localenv.spec import DeploymentSpec, PodTemplate, Probe

TICK_S = 0.02
# Container restart back-off: Kubernetes uses 10 s doubling to 5 min; the same shape at local scale.
RESTART_BACKOFF_S = (0.0, 1.0, 2.0, 4.0, 8.0)
# A container that ran this long without exiting has its back-off reset.
BACKOFF_RESET_S = 10.0
# Kubernetes' kubelet adds this once after the grace period before its final SIGKILL.
GRACE_EXTENSION_S = 2.0
# `down` is not a rollout: nobody waits for in-flight requests, so pods get a short SIGTERM then SIGKILL.
DOWN_GRACE_S = 0.5

STARTUP = "startup"
READINESS = "readiness"
LIVENESS = "liveness"

PENDING = "Pending"
RUNNING = "Running"
TERMINATING = "Terminating"
TERMINATED = "Terminated"

PROGRESSING = "progressing"
COMPLETE = "complete"
FAILED = "failed"


@dataclass
class ProbeState:
    """One probe's schedule and its consecutive results for the current container."""

    probe: Probe
    next_due: float
    successes: int = 0
    failures: int = 0
    in_flight: concurrent.futures.Future[tuple[bool, str]] | None = None


@dataclass
class Pod:
    """One pod: a process on its own loopback port, its probes, and where it is in its life."""

    name: str
    revision: int
    template: PodTemplate
    port: int
    created: float
    phase: str = PENDING
    process: subprocess.Popen[bytes] | None = None
    container_started: float = 0.0
    restarts: int = 0
    crash_streak: int = 0
    """Exits in a row without a long run in between: picks the restart back-off."""
    restart_at: float = 0.0
    started: bool = False
    """Startup probe passed (or there is none)."""
    ready: bool = False
    ready_since: float | None = None
    probes: dict[str, ProbeState] = field(default_factory=dict)
    deleted_at: float | None = None
    pre_stop_until: float | None = None
    sigterm_sent: bool = False
    kill_at: float | None = None
    killing_container: bool = False
    """The kubelet is stopping this container to restart it (failed liveness/startup)."""

    @property
    def address(self) -> str:
        """host:port the ingress sends to."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def version(self) -> str:
        """The version this pod serves."""
        return self.template.version

    @property
    def terminating(self) -> bool:
        """True once the pod has been deleted (it may still be draining)."""
        return self.deleted_at is not None

    @property
    def running(self) -> bool:
        """True while its container process runs."""
        return self.process is not None and self.process.poll() is None

    def available(self, now: float, min_ready: float) -> bool:
        """Ready for at least minReadySeconds, and not terminating."""
        return (
            not self.terminating and self.ready and self.ready_since is not None and now - self.ready_since >= min_ready
        )

    def describe(self, now: float, min_ready: float) -> dict[str, Any]:
        """The pod as `status` shows it."""
        return {
            "name": self.name,
            "revision": self.revision,
            "version": self.version,
            "image": self.template.image,
            "phase": self.phase,
            "pid": self.process.pid if self.running and self.process else None,
            "address": self.address,
            "ready": self.ready,
            "available": self.available(now, min_ready),
            "restarts": self.restarts,
            "age_s": round(now - self.created, 1),
        }


@dataclass
class ReplicaSet:
    """One revision of the Deployment: a pod template and how many pods of it should run."""

    revision: int
    template: PodTemplate
    replicas: int = 0
    pods: list[Pod] = field(default_factory=list)

    def active(self) -> list[Pod]:
        """Pods not yet terminating."""
        return [p for p in self.pods if not p.terminating]


@dataclass
class Rollout:
    """The state of the latest rollout, as `kubectl rollout status` would report it."""

    revision: int
    version: str
    started: float
    last_progress: float
    state: str = PROGRESSING
    message: str = ""
    completed: float | None = None
    drained: float | None = None
    status: tuple[int, int, int, int] = (0, 0, 0, 0)
    """(replicas, updated, ready, available) at the last progress check."""


class Controller:
    """The control loop and the cluster state it owns (ReplicaSets, pods, endpoints, rollout)."""

    def __init__(
        self,
        *,
        state_dir: Path,
        ingress: Ingress,
        events: EventLog,
        registry: ProcessRegistry,
        endpoint_propagation: float,
    ) -> None:
        self.state_dir = state_dir
        self.ingress = ingress
        self.events = events
        self.registry = registry
        self.endpoint_propagation = endpoint_propagation
        self.spec: DeploymentSpec | None = None
        self.replica_sets: list[ReplicaSet] = []
        self.rollout: Rollout | None = None
        self.endpoints: list[str] = []
        """Pod names currently in the endpoints object (not yet necessarily at the ingress)."""
        self.applied_endpoints: list[str] = []
        """Pod names the ingress balances over right now."""
        self._pending_pushes: list[tuple[float, list[str], list[str]]] = []
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._probers = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="probe")
        self._names = itertools.count(1)
        self._push_failing = False
        self.failure: str = ""
        """Why the loop stopped unexpectedly, if it did."""

    # ---- API (any thread) -------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread."""
        self._thread = threading.Thread(target=self._run, name="control-loop", daemon=True)
        self._thread.start()

    def apply(self, spec: DeploymentSpec, *, allow_during_rollout: bool = False) -> Rollout:
        """Make `spec` the Deployment (like `kubectl apply`); returns the rollout it started (or the current one)."""
        with self._lock:
            now = time.monotonic()
            if self.rollout and self.rollout.state == PROGRESSING and not allow_during_rollout:
                raise RolloutInProgressError(
                    f"a rollout to {self.rollout.version} (revision {self.rollout.revision}) is still in progress; "
                    "wait for it to finish (deploys are refused, not queued) or run rollback"
                )
            current = self._current()
            self.spec = spec
            if current is not None and current.template == spec.template:
                # Same template: only the replica count may change; no new revision.
                if self.rollout is None or self.rollout.state != PROGRESSING:
                    self.rollout = self._new_rollout(current, now)
                    self._emit_rollout(
                        "unchanged",
                        f"{spec.template.version} is already revision {current.revision}: nothing to roll out "
                        f"(replicas {spec.replicas})",
                    )
                self._wake.notify_all()
                return self.rollout
            existing = next((rs for rs in self.replica_sets if rs.template == spec.template), None)
            revision = max((rs.revision for rs in self.replica_sets), default=0) + 1
            if existing is not None:
                # Rolling back to an earlier template reuses its ReplicaSet under a new revision number.
                existing.revision = revision
                for pod in existing.pods:
                    pod.revision = revision
                self.replica_sets.remove(existing)
                self.replica_sets.append(existing)
                target = existing
            else:
                target = ReplicaSet(revision=revision, template=spec.template)
                self.replica_sets.append(target)
            self.rollout = self._new_rollout(target, now)
            self._emit_rollout(
                "started",
                f"rollout to {spec.template.version} started (revision {revision}, image {spec.template.image})",
            )
            self._trim_history()
            self._wake.notify_all()
            return self.rollout

    def previous_template(self) -> PodTemplate | None:
        """The template of the revision before the current one (what `rollback` returns to)."""
        with self._lock:
            if len(self.replica_sets) < 2:
                return None
            return self.replica_sets[-2].template

    def wait_rollout(self, rollout: Rollout, timeout: float, drained: bool = True) -> Rollout:
        """Block until `rollout` completes (and old pods have exited, if `drained`) or fails; or timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if rollout.state == FAILED:
                    return rollout
                if rollout.state == COMPLETE and (not drained or rollout.drained is not None):
                    return rollout
                if self._stop.is_set():
                    raise LocalEnvError(self.failure or "the local environment stopped during the rollout")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return rollout
                self._wake.wait(min(remaining, 0.1))

    def kill_pod(self, name: str | None = None, signum: int = signal.SIGKILL) -> str:
        """Send `signum` to a pod's whole container (default: SIGKILL the first serving pod); returns its name."""
        with self._lock:
            candidates = [p for rs in self.replica_sets for p in rs.active() if p.running]
            if name is not None:
                candidates = [p for p in candidates if p.name == name]
            if not candidates:
                raise LocalEnvError(f"no running pod named {name!r}" if name else "no running pod to kill")
            pod = candidates[0]
            if pod.process is not None:
                signal_group(pod.process.pid, signum)
            self._emit_pod(pod, "Killed", signal=signal.Signals(signum).name)
            return pod.name

    def status(self) -> dict[str, Any]:
        """Everything `status` shows: rollout, counts, pods, endpoints."""
        with self._lock:
            now = time.monotonic()
            min_ready = self.spec.min_ready if self.spec else 0.0
            rollout = self.rollout
            return {
                "deployment": self.spec.name if self.spec else None,
                "version": self.spec.template.version if self.spec else None,
                "image": self.spec.template.image if self.spec else None,
                "replicas": self.spec.replicas if self.spec else 0,
                "counts": self.counts(now),
                "rollout": None
                if rollout is None
                else {
                    "revision": rollout.revision,
                    "version": rollout.version,
                    "state": rollout.state,
                    "message": rollout.message,
                    "seconds": round((rollout.completed or now) - rollout.started, 2),
                },
                "revisions": [
                    {
                        "revision": rs.revision,
                        "version": rs.template.version,
                        "image": rs.template.image,
                        "replicas": rs.replicas,
                    }
                    for rs in self.replica_sets
                ],
                "pods": [p.describe(now, min_ready) for rs in self.replica_sets for p in rs.pods],
                "endpoints": list(self.applied_endpoints),
            }

    def counts(self, now: float | None = None) -> dict[str, int]:
        """Pods by kind right now, in the terms the rollout invariants use (terminating pods not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            current = self._current()
            min_ready = self.spec.min_ready if self.spec else 0.0
            active = [p for rs in self.replica_sets for p in rs.active()]
            new = [p for p in active if current is not None and p.revision == current.revision]
            return {
                "desired": self.spec.replicas if self.spec else 0,
                "pods": len(active),
                "new": len(new),
                "old": len(active) - len(new),
                "ready": sum(p.ready for p in active),
                "available": sum(p.available(now, min_ready) for p in active),
                "new_available": sum(p.available(now, min_ready) for p in new),
                "terminating": sum(
                    p.terminating and p.phase != TERMINATED for rs in self.replica_sets for p in rs.pods
                ),
                "endpoints": len(self.applied_endpoints),
            }

    def stop(self) -> None:
        """Stop the loop and every pod process (SIGKILL after a short grace); returns when all are gone."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._probers.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            processes = [p.process for rs in self.replica_sets for p in rs.pods if p.process is not None]
            for process in processes:
                signal_group(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + DOWN_GRACE_S
            while time.monotonic() < deadline and any(process.poll() is None for process in processes):
                time.sleep(0.02)
            for process in processes:
                kill_group(process)
                self.registry.remove(process.pid)

    # ---- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    now = time.monotonic()
                    self._kubelet(now)
                    if self.spec is not None:
                        self._sync_deployment(now)
                    self._endpoints_controller(now)
                    self._wake.notify_all()
                    self._wake.wait(TICK_S)
        except Exception as error:  # the loop must never die silently: say why, stop waiting callers
            self.failure = f"the control loop stopped: {error!r}"
            self.events.emit(ROLLOUT, step="error", message=self.failure)
            self._stop.set()
            with self._lock:
                self._wake.notify_all()
            raise

    # kubelet ----------------------------------------------------------------------------------

    def _kubelet(self, now: float) -> None:
        for rs in self.replica_sets:
            for pod in list(rs.pods):
                self._sync_pod(pod, now)
            rs.pods = [p for p in rs.pods if p.phase != TERMINATED]

    def _sync_pod(self, pod: Pod, now: float) -> None:
        if pod.terminating:
            self._sync_terminating(pod, now)
            return
        if pod.process is not None and pod.process.poll() is not None:
            self._container_exited(pod, pod.process, now)
        if pod.process is None:
            if now >= pod.restart_at:
                self._start_container(pod, now)
            return
        if pod.killing_container:
            if pod.kill_at is not None and now >= pod.kill_at:
                kill_group(pod.process)
            return
        self._run_probes(pod, now)
        if pod.template.readiness_probe is None and pod.started and not pod.ready:
            # No readiness probe: Kubernetes counts the pod ready as soon as its container has started.
            self._set_ready(pod, True, now)

    def _start_container(self, pod: Pod, now: float) -> None:
        command = command_for(pod.template.repository)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **dict(pod.template.env),
            # The container's port becomes this pod's own loopback port (a pod IP of its own in a cluster).
            "PORT": str(pod.port),
            "BIND": pod.address,
            "PROMETHEUS_MULTIPROC_DIR": str(self.state_dir / "pods" / f"{pod.name}.metrics"),
        }
        (self.state_dir / "pods" / f"{pod.name}.metrics").mkdir(parents=True, exist_ok=True)
        try:
            pod.process = spawn(command, env=env, log_path=self.state_dir / "pods" / f"{pod.name}.log", cwd=REPO_ROOT)
        except OSError as error:
            self._emit_pod(pod, "StartFailed", error=str(error))
            pod.restart_at = now + self._backoff(pod)
            pod.crash_streak += 1
            pod.restarts += 1
            return
        self.registry.add(pod.process.pid, "pod", pod.name)
        pod.container_started = now
        pod.phase = RUNNING
        pod.killing_container = False
        pod.kill_at = None
        pod.started = pod.template.startup_probe is None
        pod.probes = {}
        for kind, probe in (
            (STARTUP, pod.template.startup_probe),
            (READINESS, pod.template.readiness_probe),
            (LIVENESS, pod.template.liveness_probe),
        ):
            if probe is not None:
                pod.probes[kind] = ProbeState(probe=probe, next_due=now + probe.initial_delay)
        self._emit_pod(pod, "Started", pid=pod.process.pid, restarts=pod.restarts)

    def _container_exited(self, pod: Pod, process: subprocess.Popen[bytes], now: float) -> None:
        code = process.returncode
        kill_group(process)  # the container's other processes go with it
        self.registry.remove(process.pid)
        ran = now - pod.container_started
        pod.process = None
        if pod.ready:
            self._set_ready(pod, False, now)
        pod.started = False
        if ran >= BACKOFF_RESET_S:
            pod.crash_streak = 0
        delay = self._backoff(pod)
        pod.crash_streak += 1
        pod.restarts += 1
        pod.restart_at = now + delay
        pod.phase = "CrashLoopBackOff" if delay > 0 else PENDING
        self._emit_pod(pod, "ContainerExited", exit_code=code, restart_in_s=round(delay, 2))

    @staticmethod
    def _backoff(pod: Pod) -> float:
        return RESTART_BACKOFF_S[min(pod.crash_streak, len(RESTART_BACKOFF_S) - 1)]

    def _run_probes(self, pod: Pod, now: float) -> None:
        for kind, state in pod.probes.items():
            if kind != STARTUP and not pod.started:
                continue
            if kind == STARTUP and pod.started:
                continue
            if state.in_flight is not None:
                if not state.in_flight.done():
                    continue
                ok, detail = state.in_flight.result()
                state.in_flight = None
                self._probe_result(pod, kind, state, (ok, detail), now)
                if pod.process is None or pod.killing_container:
                    return
            if now >= state.next_due and state.in_flight is None:
                state.next_due = now + state.probe.period
                state.in_flight = self._probers.submit(_http_probe, pod.port, state.probe)

    def _probe_result(self, pod: Pod, kind: str, state: ProbeState, outcome: tuple[bool, str], now: float) -> None:
        ok, detail = outcome
        self.events.emit(PROBE, pod=pod.name, probe=kind, ok=ok, detail=detail, counts=self.counts(now))
        if ok:
            state.successes += 1
            state.failures = 0
        else:
            state.failures += 1
            state.successes = 0
        if kind == STARTUP:
            if ok:
                pod.started = True
                self._emit_pod(pod, "StartupSucceeded")
            elif state.failures >= state.probe.failure_threshold:
                self._restart_container(pod, now, "startup probe failed")
        elif kind == READINESS:
            if ok and not pod.ready and state.successes >= state.probe.success_threshold:
                self._set_ready(pod, True, now)
            elif not ok and pod.ready and state.failures >= state.probe.failure_threshold:
                self._set_ready(pod, False, now)
        elif kind == LIVENESS and not ok and state.failures >= state.probe.failure_threshold:
            self._restart_container(pod, now, "liveness probe failed")

    def _restart_container(self, pod: Pod, now: float, reason: str) -> None:
        if pod.ready:
            self._set_ready(pod, False, now)
        pod.killing_container = True
        if pod.process is not None:
            signal_process(pod.process.pid, signal.SIGTERM)
        pod.kill_at = now + pod.template.termination_grace
        self._emit_pod(pod, "Restarting", reason=reason)

    def _set_ready(self, pod: Pod, ready: bool, now: float) -> None:
        pod.ready = ready
        pod.ready_since = now if ready else None
        self._emit_pod(pod, "Ready" if ready else "NotReady")

    def _delete_pod(self, pod: Pod, now: float) -> None:
        """Start terminating: leave the endpoints and begin preStop in the same moment, as Kubernetes does."""
        pod.deleted_at = now
        pod.phase = TERMINATING
        grace = pod.template.termination_grace
        pod.kill_at = now + grace
        if pod.process is None or not pod.running:
            self._emit_pod(pod, "Terminating", pre_stop_s=0, grace_s=grace)
            return
        if pod.template.pre_stop_sleep > 0:
            pod.pre_stop_until = now + min(pod.template.pre_stop_sleep, grace)
        else:
            signal_process(pod.process.pid, signal.SIGTERM)
            pod.sigterm_sent = True
        self._emit_pod(pod, "Terminating", pre_stop_s=pod.template.pre_stop_sleep, grace_s=grace)
        self._endpoints_controller(now)

    def _sync_terminating(self, pod: Pod, now: float) -> None:
        process = pod.process
        if process is None or process.poll() is not None:
            if process is not None:
                kill_group(process)
                self.registry.remove(process.pid)
                pod.process = None
            pod.phase = TERMINATED
            pod.ready = False
            self._emit_pod(pod, "Terminated", after_s=round(now - (pod.deleted_at or now), 2))
            return
        if not pod.sigterm_sent and pod.pre_stop_until is not None and now >= pod.pre_stop_until:
            signal_process(process.pid, signal.SIGTERM)
            pod.sigterm_sent = True
            self._emit_pod(pod, "SIGTERM", after_pre_stop_s=pod.template.pre_stop_sleep)
        if pod.kill_at is not None and now >= pod.kill_at:
            if not pod.sigterm_sent:
                # preStop used the whole grace period: the kubelet grants SIGTERM 2 s more, once.
                signal_process(process.pid, signal.SIGTERM)
                pod.sigterm_sent = True
                pod.kill_at = now + GRACE_EXTENSION_S
                self._emit_pod(pod, "SIGTERM", reason="preStop outlasted the grace period")
                return
            self._emit_pod(pod, "SIGKILL", reason="grace period over")
            signal_group(process.pid, signal.SIGKILL)
            pod.kill_at = None

    # Deployment controller ----------------------------------------------------------------------

    def _current(self) -> ReplicaSet | None:
        return self.replica_sets[-1] if self.replica_sets else None

    def _sync_deployment(self, now: float) -> None:
        spec = self.spec
        new = self._current()
        if spec is None or new is None:
            return
        old = [rs for rs in self.replica_sets if rs is not new]
        surge, unavailable = spec.fenceposts()
        steps: list[str] = []
        # reconcileNewReplicaSet: grow the new ReplicaSet while total pods stay ≤ replicas + surge.
        total = sum(rs.replicas for rs in self.replica_sets)
        if new.replicas > spec.replicas:
            steps.append(f"scaled revision {new.revision} down to {spec.replicas}")
            new.replicas = spec.replicas
        elif new.replicas < spec.replicas:
            room = min(spec.replicas + surge - total, spec.replicas - new.replicas)
            if room > 0:
                new.replicas += room
                steps.append(f"scaled up revision {new.revision} ({new.template.version}) to {new.replicas}")
        # reconcileOldReplicaSets: never below replicas − unavailable available pods.
        if any(rs.replicas for rs in old):
            steps += self._scale_down_old(spec, new, old, unavailable, now)
        for rs in self.replica_sets:
            self._sync_replica_set(rs, now)
        if steps:
            self._emit_rollout("scaled", "; ".join(steps))
        self._track_progress(spec, new, now)

    def _scale_down_old(
        self, spec: DeploymentSpec, new: ReplicaSet, old: list[ReplicaSet], unavailable: int, now: float
    ) -> list[str]:
        steps: list[str] = []
        min_available = spec.replicas - unavailable
        all_pods = sum(rs.replicas for rs in self.replica_sets)
        new_available = sum(p.available(now, spec.min_ready) for p in new.active())
        new_unavailable = new.replicas - new_available
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return steps
        # cleanupUnhealthyReplicas: old pods that are not available go first, oldest ReplicaSet first.
        for rs in old:
            if budget <= 0:
                break
            unhealthy = rs.replicas - sum(p.available(now, spec.min_ready) for p in rs.active())
            cut = min(budget, unhealthy, rs.replicas)
            if cut > 0:
                rs.replicas -= cut
                budget -= cut
                steps.append(f"removed {cut} unavailable pod(s) of revision {rs.revision}")
        # scaleDownOldReplicaSetsForRollingUpdate: then available ones, above the available floor.
        available = sum(p.available(now, spec.min_ready) for rs in self.replica_sets for p in rs.active())
        removable = available - min_available
        for rs in old:
            if removable <= 0:
                break
            cut = min(rs.replicas, removable)
            if cut > 0:
                rs.replicas -= cut
                removable -= cut
                steps.append(f"scaled down revision {rs.revision} ({rs.template.version}) to {rs.replicas}")
        return steps

    def _sync_replica_set(self, rs: ReplicaSet, now: float) -> None:
        active = rs.active()
        if len(active) < rs.replicas:
            for _ in range(rs.replicas - len(active)):
                pod = Pod(
                    name=f"{self.spec.name if self.spec else 'app'}-{rs.revision}-{next(self._names)}",
                    revision=rs.revision,
                    template=rs.template,
                    port=free_port(),
                    created=now,
                )
                rs.pods.append(pod)
                self._emit_pod(pod, "Created")
                self._start_container(pod, now)
        elif len(active) > rs.replicas:
            # Like the ReplicaSet controller: not-yet-running, then unready, then most recently ready go first.
            victims = sorted(
                active,
                key=lambda p: (p.running, p.ready, -(p.ready_since or 0.0), -p.created),
            )[: len(active) - rs.replicas]
            for pod in victims:
                self._delete_pod(pod, now)

    def _track_progress(self, spec: DeploymentSpec, new: ReplicaSet, now: float) -> None:
        rollout = self.rollout
        if rollout is None:
            return
        active = [p for rs in self.replica_sets for p in rs.active()]
        status = (
            len(active),
            len(new.active()),
            sum(p.ready for p in active),
            sum(p.available(now, spec.min_ready) for p in active),
        )
        replicas, updated, ready, available = status
        before = rollout.status
        # DeploymentProgressing: more updated, fewer old, more ready or more available pods is progress.
        if (
            updated > before[1]
            or (replicas - updated) < (before[0] - before[1])
            or ready > before[2]
            or available > before[3]
        ):
            rollout.last_progress = now
        rollout.status = status
        if rollout.state == COMPLETE:
            draining = any(p.terminating for rs in self.replica_sets for p in rs.pods)
            if rollout.drained is None and not draining and not self._pending_pushes:
                rollout.drained = now
                self._emit_rollout("drained", f"every old pod has exited {now - rollout.started:.2f} s after start")
            return
        if rollout.state in {PROGRESSING, FAILED}:
            if updated == spec.replicas and replicas == spec.replicas and available == spec.replicas:
                rollout.state = COMPLETE
                rollout.completed = now
                rollout.message = (
                    f"rollout to {rollout.version} complete: {spec.replicas} of {spec.replicas} pods available "
                    f"after {now - rollout.started:.2f} s"
                )
                self._emit_rollout("complete", rollout.message)
            elif rollout.state == PROGRESSING and now - rollout.last_progress > spec.progress_deadline:
                not_ready = sum(not p.ready for p in new.active())
                rollout.state = FAILED
                rollout.message = (
                    f"rollout to {rollout.version} failed: no progress for {spec.progress_deadline:g} s "
                    f"(ProgressDeadlineExceeded; {not_ready} new pod(s) not ready); the old pods keep serving — "
                    "fix the release and deploy again, or run rollback"
                )
                self._emit_rollout("failed", rollout.message)

    def _new_rollout(self, target: ReplicaSet, now: float) -> Rollout:
        active = [p for rs in self.replica_sets for p in rs.active()]
        min_ready = self.spec.min_ready if self.spec else 0.0
        return Rollout(
            revision=target.revision,
            version=target.template.version,
            started=now,
            last_progress=now,
            status=(
                len(active),
                len(target.active()),
                sum(p.ready for p in active),
                sum(p.available(now, min_ready) for p in active),
            ),
        )

    def _trim_history(self) -> None:
        limit = self.spec.revision_history_limit if self.spec else 10
        old = [rs for rs in self.replica_sets[:-1] if rs.replicas == 0 and not rs.pods]
        for rs in old[: max(0, len(old) - limit)]:
            self.replica_sets.remove(rs)

    # endpoints controller ------------------------------------------------------------------------

    def _endpoints_controller(self, now: float) -> None:
        serving = sorted(
            (p for rs in self.replica_sets for p in rs.pods if p.ready and not p.terminating and p.running),
            key=lambda p: p.name,
        )
        names = [p.name for p in serving]
        if names != self.endpoints:
            self.endpoints = names
            self._pending_pushes.append((now + self.endpoint_propagation, names, [p.address for p in serving]))
            self.events.emit(ENDPOINTS, stage="changed", endpoints=names, counts=self.counts(now))
        while self._pending_pushes and self._pending_pushes[0][0] <= now:
            _, names, addresses = self._pending_pushes[0]
            try:
                self.ingress.set_endpoints(addresses)
            except OSError as error:
                # nginx busy or gone: keep the change and try again next tick, as the real controller retries.
                if not self._push_failing:
                    self.events.emit(INGRESS, step="unreachable", error=str(error), alive=self.ingress.alive())
                self._push_failing = True
                return
            self._push_failing = False
            self._pending_pushes.pop(0)
            self.applied_endpoints = names
            versions = sorted({p.version for rs in self.replica_sets for p in rs.pods if p.name in names})
            self.events.emit(ENDPOINTS, stage="applied", endpoints=names, versions=versions, counts=self.counts(now))

    # events ---------------------------------------------------------------------------------------

    def _emit_pod(self, pod: Pod, change: str, **fields: Any) -> None:
        self.events.emit(
            POD,
            pod=pod.name,
            change=change,
            phase=pod.phase,
            version=pod.version,
            revision=pod.revision,
            **fields,
            counts=self.counts(),
        )

    def _emit_rollout(self, step: str, message: str) -> None:
        rollout = self.rollout
        self.events.emit(
            ROLLOUT,
            step=step,
            message=message,
            revision=rollout.revision if rollout else None,
            version=rollout.version if rollout else None,
            counts=self.counts(),
        )


def _http_probe(port: int, probe: Probe) -> tuple[bool, str]:
    """One httpGet probe as the kubelet does it: any 2xx/3xx within the timeout is success."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=probe.timeout)
    try:
        connection.request("GET", probe.path, headers={"User-Agent": "kube-probe/local", "Connection": "close"})
        response = connection.getresponse()
        response.read()
        return 200 <= response.status < 400, str(response.status)
    except (OSError, http.client.HTTPException) as error:
        return False, type(error).__name__
    finally:
        with contextlib.suppress(OSError):
            connection.close()
