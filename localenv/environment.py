"""`LocalEnvironment`: the in-process API for the whole local environment (ingress, pods, control loop).

The CLI's supervisor daemon, the proof tests, the benchmark and the smoke tests all drive this class.
See the package docstring (`localenv/__init__.py`) for a usage example.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypedDict

from app.contract import rules
from app.contract.routers import DEFAULT_ROUTER
from app.slo import AVAILABILITY, FAST_BURN, LATENCY_THRESHOLD, Scope, page_latency_quantile
from app.timing import LOCAL_TIMING
from infra.ingress_timing import LOCAL_INGRESS_TIMING
from localenv.control.disruption import DisruptionBudget
from localenv.control.objects import Rollout, RolloutState
from localenv.control.status import Status
from localenv.control.target_group import TargetGroupPolicy
from localenv.controller import Controller
from localenv.errors import LocalEnvError
from localenv.events import Event, EventLog, IngressEvent, IngressStep
from localenv.images import APP_IMAGE, command_for
from localenv.ingress import ACCESS_LOG, METRICS_PORT_FILE, TEMP_DIR, AccessLogSummary, find_nginx, summarize_access_log
from localenv.ingress_pod import DEFAULT_INGRESS_REPLICAS, ingress_budget, ingress_deployment, replica_dir
from localenv.loadbalancer import IngressTier, LoadBalancer, NoService, TierCanaryBackend, find_haproxy
from localenv.monitoring import (
    Monitoring,
    MonitoringSources,
    find_servers,
    kube_state_lines,
    kube_state_text,
)
from localenv.nodegroup import NodeGroup
from localenv.processes import ProcessRegistry, ensure_port_free, kill_orphans
from localenv.profile import (
    DEFAULT_REPLICAS,
    LOCAL_NODES,
    local_deployment,
    local_manifests,
    local_routes,
    local_settings,
)
from localenv.runtime.process import ProcessRuntime
from localenv.spec import DeploymentSpec

DEFAULT_STATE_DIR = Path(".local-env")
STATE_DIR_ENV = "LOCALENV_STATE_DIR"
LOCK_FILE = "lock"
EVENTS_FILE = "events.jsonl"
INGRESS_DIR = "ingress"
INGRESS_VERSION = "v1"


def default_state_dir() -> Path:
    """`$LOCALENV_STATE_DIR`, else ./.local-env."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


class RolloutResultJSON(TypedDict):
    """A rollout's result as the supervisor sends it and `--json` prints it."""

    revision: int
    version: str
    state: str
    message: str
    started_monotonic: float
    seconds: float | None
    drained_seconds: float | None
    ok: bool


@dataclass(frozen=True, kw_only=True)
class RolloutResult:
    """How a rollout ended: complete, failed (progress deadline) or still progressing when we stopped waiting."""

    revision: int
    version: str
    state: RolloutState
    message: str
    started_monotonic: float
    """When the Deployment was applied, on `time.monotonic()` (the traffic generator's clock)."""
    seconds: float | None
    """Apply → every new pod available (Kubernetes' 'complete'); None unless complete."""
    drained_seconds: float | None
    """Apply → the last old pod has exited and the ingress has the final endpoints; None unless drained."""
    events: list[Event]
    """Every event from the apply to the end of the wait."""

    @property
    def ok(self) -> bool:
        """True when the rollout completed."""
        return self.state is RolloutState.COMPLETE

    def to_dict(self) -> RolloutResultJSON:
        """JSON-ready form (without the events)."""
        return RolloutResultJSON(
            revision=self.revision,
            version=self.version,
            state=self.state.value,
            message=self.message,
            started_monotonic=self.started_monotonic,
            seconds=self.seconds,
            drained_seconds=self.drained_seconds,
            ok=self.ok,
        )


@dataclass(frozen=True, kw_only=True)
class IngressStatus:
    """The load balancer's pid and what the ingress replicas' access logs counted: requests by status, and
    those an ingress retried on another pod."""

    pid: int | None
    requests: int
    by_status: dict[str, int]
    retried: int


@dataclass(frozen=True, kw_only=True)
class TargetStatus:
    """One load balancer target (an ingress pod) as `status` shows it."""

    name: str
    address: str
    health: str
    accepting_new: bool


@dataclass(frozen=True, kw_only=True)
class NodeStatus:
    """One node as `nodes` and `status` show it: zone, cordoned or not, and the pods bound to it."""

    name: str
    zone: str
    unschedulable: bool
    pods: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class EnvironmentStatus(Status):
    """The Deployment's status, plus where the environment lives and what its ingress has seen."""

    url: str
    state_dir: str
    recovered_orphans: int
    ingress: IngressStatus
    nodes: tuple[NodeStatus, ...] = ()
    ingress_deployment: Status | None = None
    """The ingress controller's Deployment: its rollout, pods and revisions."""
    targets: tuple[TargetStatus, ...] = ()
    """The load balancer's target group: each ingress pod's target and its health."""


class LocalEnvironment:
    """HAProxy (the NLB) → ingress replicas (nginx) → gunicorn pods on loopback; one per state directory.

    Two Deployments run on one control-loop core: the ingress controller's (`ingress_replicas` pods, gated
    on their load balancer target) and the app's. `legacy_ingress_tier` runs the tier as issue 12 found it
    (health-check-only removal, reset when unhealthy, no gate, unready at the first signal, no preStop) —
    the negative control.
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        port: int = 0,
        endpoint_propagation: float = LOCAL_TIMING.endpoint_propagation,
        ingress_replicas: int = DEFAULT_INGRESS_REPLICAS,
        legacy_ingress_tier: bool = False,
        router: str = DEFAULT_ROUTER,
        # Off by default here, on in the CLI (`--no-monitoring` there): the proofs and localenv.bench measure
        # latency on two cores, and a Prometheus scraping the pods every 0.25 s costs ≈ +9 ms at rollout p99 (README).
        monitoring: bool = False,
    ) -> None:
        if endpoint_propagation < 0:
            raise LocalEnvError("endpoint propagation delay must be ≥ 0 seconds")
        if not 0 <= port <= 65535:
            raise LocalEnvError(f"port {port} is not a TCP port; use 1–65535, or 0 for any free port")
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.requested_port = port
        self.endpoint_propagation = endpoint_propagation
        self.ingress_replicas = ingress_replicas
        self.legacy_ingress_tier = legacy_ingress_tier
        self.router = router
        """Whose route objects the ingress serves (`ingress-nginx` or `gateway-api`), as the `router` setting."""
        # The stable route and the tuning the ingress replicas get, read from that router's rendered objects.
        self.route = local_routes(local_settings("v1", router=router))
        if self.route.stable_service != local_manifests("v1", router=router).service["metadata"]["name"]:
            raise LocalEnvError(f"the {router} routes send requests to {self.route.stable_service!r}, not the app")
        self.monitoring_enabled = monitoring
        self._monitoring: Monitoring | None = None
        self._balancer: LoadBalancer | None = None
        self._tier: IngressTier | None = None
        self._ingress_controller: Controller | None = None
        self._lock_file: IO[str] | None = None
        self._registry: ProcessRegistry | None = None
        self._events: EventLog | None = None
        self._controller: Controller | None = None
        self._canary_controller: Controller | None = None
        self._node_group: NodeGroup | None = None
        self._api_lock = threading.Lock()
        self._rollout_since = 0
        self.recovered: int = 0
        """Orphan processes of a crashed earlier run that `start` killed."""

    # ---- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalEnvironment:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    def start(self) -> None:
        """Take the state directory, clean up after a crashed run, start the load balancer, the ingress tier
        (its replicas serving and their targets healthy) and the app's control loop (no app pods yet)."""
        if self._controller is not None:
            return
        find_nginx()  # a missing nginx, Lua module or HAProxy is reported before anything starts
        find_haproxy()
        if self.monitoring_enabled:
            find_servers()  # and a missing Prometheus or Alertmanager, naming its package
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self.recovered = len(kill_orphans(self.state_dir))
            for leftover in ("pods", TEMP_DIR, INGRESS_DIR):
                shutil.rmtree(self.state_dir / leftover, ignore_errors=True)
            for leftover in (EVENTS_FILE, ACCESS_LOG):
                (self.state_dir / leftover).unlink(missing_ok=True)
            self._registry = ProcessRegistry(self.state_dir)
            self._events = EventLog(self.state_dir / EVENTS_FILE)
            if self.recovered:
                self._events.emit(IngressEvent(step=IngressStep.RECOVERED, killed_orphans=self.recovered))
            balancer, tier = self._start_ingress_tier(self._registry, self._events)
            self._events.emit(IngressEvent(step=IngressStep.STARTED, url=balancer.url, pid=balancer.pid))
            runtime = ProcessRuntime(state_dir=self.state_dir, registry=self._registry, ingress=tier)
            self._controller = Controller(
                runtime=runtime, events=self._events, endpoint_propagation=self.endpoint_propagation
            )
            self._node_group = NodeGroup(LOCAL_NODES, controllers=self._controllers, events=self._events)
            self._controller.set_budget(
                DisruptionBudget.from_manifest(local_manifests("v1").pod_disruption_budget)
            )  # the contract's PodDisruptionBudget; `up(budget=…)` may replace it
            self._controller.start()
            if self.monitoring_enabled:
                self._monitoring = self._start_monitoring(self._registry)
        except BaseException:
            self.down()
            raise

    def _start_monitoring(self, registry: ProcessRegistry) -> Monitoring:
        """Prometheus scraping this environment's pods and ingress replicas, with its rules, Alertmanager, receiver."""
        metadata = local_manifests("v1").deployment["metadata"]
        scope = rules.scope_named(metadata["name"], metadata["namespace"])
        sources = MonitoringSources(
            app_pods=lambda: self._app_targets(scope.namespace),
            ingress_replicas=self._ingress_targets,
            kube_state=lambda: self._kube_state(scope),
        )
        monitoring = Monitoring(self.state_dir, registry, sources, scope=scope)
        monitoring.start()
        return monitoring

    def _app_targets(self, namespace: str) -> list[tuple[str, dict[str, str]]]:
        """Every running app pod (stable and canary), as a PodMonitor lists them: address, namespace and pod name."""
        return [
            (pod.address, {"namespace": namespace, "pod": pod.name})
            for controller in (self._controller, self._canary_controller)
            if controller is not None
            for pod in controller.status().pods
            if pod.address and pod.pid
        ]

    def _ingress_targets(self) -> list[tuple[str, dict[str, str]]]:
        """Every running ingress replica's metrics server (the port it wrote beside its nginx.conf)."""
        controller = self._ingress_controller
        found: list[tuple[str, dict[str, str]]] = []
        for pod in controller.status().pods if controller else ():
            if not (pod.address and pod.pid):
                continue
            port_file = replica_dir(self.state_dir / INGRESS_DIR, pod.address) / METRICS_PORT_FILE
            with contextlib.suppress(OSError, ValueError):
                found.append((f"127.0.0.1:{int(port_file.read_text())}", {"controller_pod": pod.name}))
        return found

    def _kube_state(self, scope: Scope) -> str:
        """kube-state-metrics' series for the app's Deployment, its canary's, their pods and the budget."""
        lines: list[str] = []
        stable, canary = scope.deployments
        for controller, name in ((self._controller, stable), (self._canary_controller, canary)):
            if controller is not None:
                budget = controller.budget_status() if controller is self._controller else None
                lines += kube_state_lines(
                    namespace=scope.namespace, deployment=name, status=controller.status(), budget=budget
                )
        return kube_state_text(lines)

    def indicator(self) -> dict[str, Any] | None:
        """Availability and page p99 over the fast-burn alert's long window, from Prometheus; None without monitoring.

        The same PromQL the alerts and the dashboard read (app/slo.py); a value is None while there is no traffic.
        """
        if self._monitoring is None:
            return None
        metadata = local_manifests("v1").deployment["metadata"]
        scope = rules.scope_named(metadata["name"], metadata["namespace"])
        window = self._monitoring.profile.window(FAST_BURN.long_window)
        api = self._monitoring.api
        error_ratio = api.value(AVAILABILITY.error_ratio(scope, window))
        p99 = api.value(page_latency_quantile(0.99, scope, window))
        usable = [v if v is not None and math.isfinite(v) else None for v in (error_ratio, p99)]
        return {
            "window": window,
            "availability": None if usable[0] is None else 1.0 - usable[0],
            "availability_objective": AVAILABILITY.target,
            "p99_seconds": usable[1],
            "latency_bound_seconds": LATENCY_THRESHOLD,
            "prometheus": self._monitoring.prometheus_url,
        }

    @property
    def monitoring(self) -> Monitoring:
        """Prometheus, Alertmanager and the webhook receiver of this environment (started with monitoring=True)."""
        if self._monitoring is None:
            raise LocalEnvError("monitoring is not running: start the environment with monitoring=True")
        return self._monitoring

    def _start_ingress_tier(self, registry: ProcessRegistry, events: EventLog) -> tuple[LoadBalancer, IngressTier]:
        """HAProxy, then the ingress Deployment under its own control loop; returns once its rollout is complete."""
        if self.requested_port:
            ensure_port_free(self.requested_port)
        timing = LOCAL_INGRESS_TIMING
        balancer = self._balancer = LoadBalancer(self.state_dir, registry, timing, port=self.requested_port)
        balancer.start()
        policy = TargetGroupPolicy.legacy(timing) if self.legacy_ingress_tier else TargetGroupPolicy(timing=timing)
        tier = self._tier = IngressTier(balancer, policy, self.state_dir / INGRESS_DIR)
        # ingress-nginx is healthy once its balancer has its first (possibly empty) backends: none yet.
        tier.set_endpoints(())
        runtime = ProcessRuntime(state_dir=self.state_dir, registry=registry, ingress=NoService())
        self._ingress_controller = Controller(
            runtime=runtime,
            events=events,
            endpoint_propagation=self.endpoint_propagation,
            before_sync=tier.sync,
            nodes=LOCAL_NODES,
        )
        self._ingress_controller.set_budget(DisruptionBudget.from_manifest(ingress_budget()))
        self._ingress_controller.start()
        result = self.release_ingress(INGRESS_VERSION)
        if not result.ok:
            raise LocalEnvError(f"the ingress tier did not come up: {result.message}")
        return balancer, tier

    def _ingress_spec(self, version: str) -> DeploymentSpec:
        return DeploymentSpec.from_manifest(
            ingress_deployment(
                version,
                self.ingress_replicas,
                self.state_dir / INGRESS_DIR,
                legacy=self.legacy_ingress_tier,
                tuning=self.route.tuning,
            )
        )

    def release_ingress(self, version: str, *, wait: bool = True) -> RolloutResult:
        """Roll the ingress controller's Deployment to a new controller `version` (surge one, gated on targets)."""
        controller = self._ingress_controller
        if controller is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        if not version:
            raise LocalEnvError("ingress-release needs a version, e.g. ingress-release --version v2")
        with self._api_lock:
            since = len(self._events) if self._events else 0
            rollout = controller.apply(self._ingress_spec(version))
        return self._result(controller, rollout, since, wait=wait)

    def kill_ingress_pod(self, name: str | None = None, signum: int = signal.SIGKILL) -> str:
        """SIGKILL (or `signum`) an ingress replica's processes, as a crash would; returns the pod's name."""
        if self._ingress_controller is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        return self._ingress_controller.kill_pod(name, signum)

    def _take_lock(self) -> None:
        lock = (self.state_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "another process"
            lock.close()
            raise LocalEnvError(
                f"the local environment in {self.state_dir} is already running (pid {owner}); "
                "run `python -m localenv down` first, or use another --state-dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock_file = lock

    def down(self) -> None:
        """Stop every pod and nginx, and release the state directory; safe to call twice."""
        if self._monitoring is not None:
            self._monitoring.stop()
            self._monitoring = None
        self.stop_canary_controller()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._node_group = None
        if self._ingress_controller is not None:
            self._ingress_controller.stop()
            self._ingress_controller = None
        self._tier = None
        if self._balancer is not None:
            self._balancer.stop()
            self._balancer = None
        if self._registry is not None:
            self._registry.clear()
            self._registry = None
        if self._events is not None:
            self._events.close()
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                (self.state_dir / LOCK_FILE).unlink()
            self._lock_file.close()
            self._lock_file = None

    # ---- the Deployment ----------------------------------------------------------------------

    def up(
        self,
        version: str = "v1",
        replicas: int = DEFAULT_REPLICAS,
        *,
        deployment: dict[str, Any] | None = None,
        image_repository: str = APP_IMAGE,
        wait: bool = True,
        budget: dict[str, Any] | None = None,
    ) -> RolloutResult:
        """Start (if needed) and bring the Deployment up at `version` with `replicas` pods (or a custom dict).

        `budget`: a PodDisruptionBudget dict to use instead of the contract's.
        """
        self.start()
        if budget is not None:
            try:
                parsed = DisruptionBudget.from_manifest(budget)
            except ValueError as error:
                raise LocalEnvError(f"the PodDisruptionBudget cannot be used: {error}") from None
            self._require_up().set_budget(parsed)
        return self._apply(self._spec(version, replicas, deployment, image_repository), wait=wait)

    def deploy(
        self,
        version: str | None = None,
        *,
        deployment: dict[str, Any] | None = None,
        image_repository: str = APP_IMAGE,
        wait: bool = True,
    ) -> RolloutResult:
        """Roll out `version` (or a custom Deployment dict) with the current replica count; refused mid-rollout."""
        controller = self._require_up()
        if deployment is None and version is None:
            raise LocalEnvError("deploy needs a version, e.g. deploy --version v2")
        replicas = controller.spec.replicas if controller.spec else DEFAULT_REPLICAS
        return self._apply(self._spec(version or "", replicas, deployment, image_repository), wait=wait)

    def rollback(self, *, wait: bool = True) -> RolloutResult:
        """Roll back to the previous revision's pod template (allowed even while a rollout progresses)."""
        controller = self._require_up()
        previous = controller.previous_template()
        if previous is None or controller.spec is None:
            raise LocalEnvError("there is no earlier revision to roll back to; deploy a version first")
        spec = dataclasses.replace(controller.spec, template=previous)
        return self._apply(spec, wait=wait, rollback=True)

    def wait(self) -> RolloutResult:
        """Wait for the current rollout (one started with wait=False) to complete and drain, or fail."""
        controller = self._require_up()
        rollout = controller.rollout
        if rollout is None:
            raise LocalEnvError("nothing to wait for: no rollout has started; run up or deploy first")
        return self._result(controller, rollout, self._rollout_since, wait=True)

    def _spec(
        self, version: str, replicas: int, deployment: dict[str, Any] | None, image_repository: str
    ) -> DeploymentSpec:
        if deployment is None:
            deployment = local_deployment(version, replicas, image_repository)
        spec = DeploymentSpec.from_manifest(deployment)
        command_for(spec.template.repository)  # an unknown image is refused before anything changes
        return spec

    def _apply(self, spec: DeploymentSpec, *, wait: bool, rollback: bool = False) -> RolloutResult:
        controller = self._require_up()
        with self._api_lock:
            since = len(self._events) if self._events else 0
            rollout = controller.apply(spec, allow_during_rollout=rollback)
            self._rollout_since = since
        return self._result(controller, rollout, since, wait=wait)

    def _result(self, controller: Controller, rollout: Rollout, since: int, *, wait: bool) -> RolloutResult:
        spec = controller.spec
        if wait and spec is not None:
            # A rollout always ends: complete, or failed at the progress deadline; draining is bounded by the
            # grace period. The bound below only guards against a stuck machine.
            bound = spec.rollout_timeout * (spec.replicas + 2)
            controller.wait_rollout(rollout, timeout=bound, drained=True)
        events = self._events.snapshot(since) if self._events else []
        return RolloutResult(
            revision=rollout.revision,
            version=rollout.version,
            state=rollout.state,
            message=rollout.message or f"rollout to {rollout.version} is {rollout.state.value}",
            started_monotonic=rollout.started,
            seconds=round(rollout.completed - rollout.started, 3) if rollout.completed else None,
            drained_seconds=round(rollout.drained - rollout.started, 3) if rollout.drained else None,
            events=events,
        )

    def _require_up(self) -> Controller:
        if self._controller is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        if self._controller.failure:
            raise LocalEnvError(self._controller.failure)
        return self._controller

    # ---- nodes (localenv/nodegroup.py) ------------------------------------------------------

    def _controllers(self) -> list[Controller]:
        return [c for c in (self._controller, self._canary_controller, self._ingress_controller) if c is not None]

    @property
    def node_group(self) -> NodeGroup:
        """The nodes, cordon, drain and node-group update."""
        self._require_up()
        if self._node_group is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        return self._node_group

    def drain(self, node: str, timeout: float) -> float:
        """`kubectl drain NODE`: cordon it, evict its pods through their budget; seconds it took (error on timeout)."""
        return self.node_group.drain(node, timeout)

    def uncordon(self, node: str) -> None:
        """Let the scheduler use `node` again."""
        self.node_group.set_unschedulable(node, False)

    def update_node_group(self, timeout: float) -> list[str]:
        """Replace every node as an EKS managed node group update does; the steps taken."""
        return self.node_group.update(timeout)

    # ---- a second Deployment: the canary (localenv/canary.py) --------------------------------

    def canary_controller(self) -> Controller:
        """The canary Deployment's controller (started on first use): its ready pods fill every ingress replica's
        canary backend.

        It shares this environment's ingress tier, event log and process registry, so `down` stops its pods too.
        """
        self._require_up()
        if self._tier is None or self._events is None or self._registry is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        if self._canary_controller is None:
            backend = TierCanaryBackend(self._tier)
            runtime = ProcessRuntime(state_dir=self.state_dir, registry=self._registry, ingress=backend)
            self._canary_controller = Controller(
                runtime=runtime,
                events=self._events,
                endpoint_propagation=self.endpoint_propagation,
                nodes=self._node_group.nodes if self._node_group else LOCAL_NODES,
            )
            self._canary_controller.start()
        return self._canary_controller

    def stop_canary_controller(self) -> None:
        """Stop the canary's controller and any pod it still runs (remove its pods gracefully first)."""
        if self._canary_controller is not None:
            self._canary_controller.stop()
            self._canary_controller = None

    def set_canary_route(self, weight: int, header: str = "", value: str = "") -> None:
        """Send `weight` % of requests, and those whose `header` equals `value`, to the canary's pods."""
        if self._tier is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        self._tier.set_canary_route(weight, header, value)

    # ---- looking and poking ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the load balancer in front of the ingress tier, e.g. http://127.0.0.1:8080."""
        if self._balancer is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        return self._balancer.url

    @property
    def port(self) -> int:
        """The load balancer's port."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def events(self) -> list[Event]:
        """Every event since `start`, oldest first."""
        return self._events.snapshot() if self._events else []

    @property
    def event_log(self) -> EventLog:
        """The live event log (to `watch()` events as they happen)."""
        if self._events is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        return self._events

    def status(self) -> EnvironmentStatus:
        """Rollout state, pod counts, every pod, the ingress's endpoints and its request/retry counts."""
        controller = self._require_up()
        balancer, tier, ingress_controller = self._balancer, self._tier, self._ingress_controller
        if balancer is None or tier is None or ingress_controller is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        deployment = controller.status()
        access = self.ingress_access_log()
        return EnvironmentStatus(
            **{f.name: getattr(deployment, f.name) for f in dataclasses.fields(Status)},
            url=balancer.url,
            state_dir=str(self.state_dir),
            recovered_orphans=self.recovered,
            ingress=IngressStatus(
                pid=balancer.pid, requests=access.requests, by_status=access.by_status, retried=access.retried
            ),
            nodes=self.node_status(),
            ingress_deployment=ingress_controller.status(),
            targets=tuple(
                TargetStatus(name=t.name, address=t.address, health=t.health.value, accepting_new=t.accepting_new)
                for t in tier.targets()
            ),
        )

    def ingress_access_logs(self) -> list[Path]:
        """Every ingress replica's JSON access log, past replicas' too (each replica keeps its own)."""
        return sorted((self.state_dir / INGRESS_DIR).glob(f"*/{ACCESS_LOG}"))

    def ingress_access_log(self) -> AccessLogSummary:
        """Every ingress replica's access log (past replicas' too), summed."""
        by_status: Counter[str] = Counter()
        retried = 0
        for log in self.ingress_access_logs():
            summary = summarize_access_log(log)
            by_status.update(summary.by_status)
            retried += summary.retried
        return AccessLogSummary(requests=sum(by_status.values()), by_status=dict(by_status), retried=retried)

    def node_status(self) -> tuple[NodeStatus, ...]:
        """Every node, its zone, whether it is cordoned and which pods it runs (of every Deployment)."""
        group = self.node_group
        controllers = self._controllers()
        return tuple(
            NodeStatus(
                name=n.name,
                zone=n.zone,
                unschedulable=n.unschedulable,
                pods=tuple(p for c in controllers for p in c.pods_on(n.name)),
            )
            for n in group.nodes
        )

    def kill_pod(self, name: str | None = None, signum: int = signal.SIGKILL) -> str:
        """SIGKILL (or `signum`) a running pod's processes, as a crashed node or OOM kill would; returns its name."""
        return self._require_up().kill_pod(name, signum)

    def pids(self) -> list[int]:
        """Every process this environment runs right now (nginx master and pod masters)."""
        controller = self._require_up()
        pids = [p.pid for p in controller.status().pods if p.pid]
        if self._ingress_controller is not None:
            pids += [p.pid for p in self._ingress_controller.status().pods if p.pid]
        if self._balancer is not None and self._balancer.pid:
            pids.append(self._balancer.pid)
        if self._monitoring is not None:
            pids += self._monitoring.pids()
        return pids

    def wait_for(self, predicate: Callable[[EnvironmentStatus], bool], timeout: float, what: str) -> None:
        """Poll `predicate(status)` until true; a clear error naming `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.status()):
                return
            time.sleep(0.05)
        raise LocalEnvError(f"timed out after {timeout:g} s waiting for {what}")


__all__ = [
    "EnvironmentStatus",
    "IngressStatus",
    "LocalEnvironment",
    "NodeStatus",
    "RolloutResult",
    "TargetStatus",
    "default_state_dir",
]
