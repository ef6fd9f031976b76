"""The control loop: read the world through the runtime, let the core decide, carry out what it decided.

Every tick (20 ms) `sync` takes what happened since the last one — containers that exited, probes that
answered — hands it with the time to the pure core (localenv/control: kubelet, Deployment, ReplicaSet
and endpoints controllers, in Kubernetes' order) and performs each effect the core returns through the
runtime (localenv/runtime): start or signal a container, run a probe, push endpoints, record an event.
What comes of an effect (a container started or not, nginx took the endpoints or not) goes straight
back to the core. The API below (`apply`, `wait_rollout`, `kill_pod`, `status`) is safe from any thread.

With `FakeRuntime` nothing runs in the background: a test calls `sync()` as its manual clock moves.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from localenv.control import cluster as control
from localenv.control.actions import (
    Effect,
    Emit,
    KillContainer,
    Observation,
    Outcome,
    PushEndpoints,
    RemoveContainer,
    RunProbe,
    SignalContainer,
    StartContainer,
)
from localenv.control.backoff import CrashLoopBackOff
from localenv.control.disruption import BudgetStatus, DisruptionBudget
from localenv.control.drain import budget_now, cancel_drain, start_drain
from localenv.control.events import Counts, RolloutEvent, RolloutStep
from localenv.control.objects import Cluster, Rollout, RolloutState
from localenv.control.scheduling import Node
from localenv.control.status import Status, counts, describe
from localenv.errors import LocalEnvError
from localenv.events import EventLog
from localenv.profile import LOCAL_BACK_OFF, LOCAL_NODES
from localenv.runtime import Runtime
from localenv.spec import DeploymentSpec, PodTemplate

TICK_S = 0.02
# `down` is not a rollout: nobody waits for in-flight requests, so pods get a short SIGTERM then SIGKILL.
DOWN_GRACE_S = 0.5


class Controller:
    """One Deployment's control loop: the cluster state it owns, the runtime it acts through."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        events: EventLog,
        endpoint_propagation: float,
        back_off: CrashLoopBackOff = LOCAL_BACK_OFF,
        before_sync: Callable[[Cluster, float], list[Effect]] | None = None,
        nodes: Sequence[Node] = LOCAL_NODES,
    ) -> None:
        self.runtime = runtime
        self.before_sync = before_sync
        """Run first in every sync (the ingress tier's load balancer and readiness gates), its effects carried out."""
        self.events = events
        self.cluster = Cluster(endpoint_propagation=endpoint_propagation, back_off=back_off, nodes=tuple(nodes))
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: str = ""
        """Why the loop stopped unexpectedly, if it did."""

    @property
    def spec(self) -> DeploymentSpec | None:
        """The Deployment as last applied."""
        return self.cluster.spec

    @property
    def rollout(self) -> Rollout | None:
        """The latest rollout."""
        return self.cluster.rollout

    # ---- API (any thread) -------------------------------------------------------------------

    def start(self) -> None:
        """Sync every tick in a thread of its own."""
        self._thread = threading.Thread(target=self._run, name="control-loop", daemon=True)
        self._thread.start()

    def sync(self) -> None:
        """One pass: observe the world, let the core decide, carry the decisions out."""
        with self._lock:
            now = self.runtime.now()
            if self.before_sync is not None:
                self._carry_out(self.before_sync(self.cluster, now), now)
            observation = Observation(exits=self.runtime.exits(), probes=self.runtime.probe_answers())
            self._carry_out(control.sync(self.cluster, observation, now), now)
            self._wake.notify_all()

    def apply(self, spec: DeploymentSpec, *, allow_during_rollout: bool = False) -> Rollout:
        """Make `spec` the Deployment (like `kubectl apply`); returns the rollout it started (or the current one)."""
        with self._lock:
            now = self.runtime.now()
            rollout, effects = control.apply(self.cluster, spec, now, allow_during_rollout=allow_during_rollout)
            self._carry_out(effects, now)
            self._wake.notify_all()
            return rollout

    def previous_template(self) -> PodTemplate | None:
        """The template of the revision before the current one (what `rollback` returns to)."""
        with self._lock:
            previous = control.previous_template_revision(self.cluster)
            return previous.template if previous else None

    def wait_rollout(self, rollout: Rollout, timeout: float, drained: bool = True) -> Rollout:
        """Block until `rollout` completes (and old pods have exited, if `drained`) or fails; or timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if rollout.state is RolloutState.FAILED:
                    return rollout
                if rollout.state is RolloutState.COMPLETE and (not drained or rollout.drained is not None):
                    return rollout
                if self._stop.is_set():
                    raise LocalEnvError(self.failure or "the local environment stopped during the rollout")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return rollout
                self._wake.wait(min(remaining, 0.1))

    def kill_pod(self, name: str | None = None, signum: int = signal.SIGKILL) -> str:
        """Send `signum` to a pod's whole container (default: SIGKILL the first running pod); returns its name."""
        with self._lock:
            pod = control.pod_to_kill(self.cluster, name)
            sig = signal.Signals(signum)
            if pod.container is not None:
                self.runtime.kill(pod.container.id, sig)
            now = self.runtime.now()
            self._carry_out(control.killed(self.cluster, pod, sig.name, now), now)
            return pod.name

    def set_nodes(self, nodes: Sequence[Node]) -> None:
        """The cluster's nodes changed (added, cordoned, removed): the scheduler and pod GC see the new list."""
        with self._lock:
            self.cluster.nodes = tuple(nodes)

    def set_budget(self, budget: DisruptionBudget | None) -> None:
        """The PodDisruptionBudget over this Deployment's pods (None: none)."""
        with self._lock:
            self.cluster.budget = budget

    def start_drain(self, node: str, timeout: float) -> None:
        """Evict every pod of this Deployment on `node` (cordoned already), retrying refusals, within `timeout` s."""
        with self._lock:
            start_drain(self.cluster, node, timeout, self.runtime.now())
            self._wake.notify_all()

    def drain_state(self, node: str) -> tuple[bool, str, tuple[str, ...]]:
        """(done, why it failed or '', pods evicted so far) of the latest drain of `node`."""
        with self._lock:
            drain = next((d for d in reversed(self.cluster.drains) if d.node == node), None)
            if drain is None:
                return True, "", ()
            return drain.done is not None, drain.failed, tuple(drain.evicted)

    def cancel_drain(self, node: str, reason: str) -> None:
        """Stop draining `node`: no more evictions; pods not evicted keep running."""
        with self._lock:
            cancel_drain(self.cluster, node, reason)

    def pods_on(self, node: str) -> list[str]:
        """Names of this Deployment's pods bound to `node` (terminating ones included)."""
        with self._lock:
            return [p.name for p in self.cluster.pods() if p.node == node]

    def status(self) -> Status:
        """Everything `status` shows of this Deployment: rollout, counts, revisions, pods, endpoints."""
        with self._lock:
            return describe(self.cluster, self.runtime.now())

    def budget_status(self) -> tuple[str, BudgetStatus] | None:
        """The disruption budget's name and status right now (what kube-state-metrics reports), or None."""
        with self._lock:
            numbers = budget_now(self.cluster)
            return None if numbers is None or self.cluster.budget is None else (self.cluster.budget.name, numbers)

    def counts(self) -> Counts:
        """Pods by kind right now, in the terms the rollout invariants use."""
        with self._lock:
            return counts(self.cluster, self.runtime.now())

    def stop(self) -> None:
        """Stop the loop and every container (SIGKILL after a short grace); returns when all are gone."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._lock:
            self.runtime.shutdown(DOWN_GRACE_S)

    # ---- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.sync()
                with self._lock:
                    self._wake.wait(TICK_S)
        except Exception as error:  # the loop must never die silently: say why, stop waiting callers
            self.failure = f"the control loop stopped: {error!r}"
            with self._lock:
                rollout = self.cluster.rollout
                self.events.emit(
                    RolloutEvent(
                        step=RolloutStep.ERROR,
                        message=self.failure,
                        revision=rollout.revision if rollout else None,
                        version=rollout.version if rollout else None,
                        counts=counts(self.cluster, self.runtime.now()),
                    )
                )
                self._stop.set()
                self._wake.notify_all()
            raise

    def _carry_out(self, effects: Iterable[Effect], now: float) -> None:
        pending = deque(effects)
        while pending:
            outcome = self._perform(pending.popleft())
            if outcome is not None:
                pending.extend(control.handle(self.cluster, outcome, now))

    def _perform(self, effect: Effect) -> Outcome | None:
        runtime = self.runtime
        if isinstance(effect, Emit):
            self.events.emit(effect.event)
        elif isinstance(effect, StartContainer):
            return runtime.start_container(effect)
        elif isinstance(effect, RunProbe):
            runtime.run_probe(effect)
        elif isinstance(effect, SignalContainer):
            runtime.send_signal(effect.container, effect.signal)
        elif isinstance(effect, KillContainer):
            runtime.kill(effect.container)
        elif isinstance(effect, RemoveContainer):
            runtime.remove_container(effect.container)
        elif isinstance(effect, PushEndpoints):
            return runtime.push_endpoints(effect.push)
        return None
