"""`LocalEnvironment`: the in-process API for the whole local environment (ingress, pods, control loop).

The CLI's supervisor daemon, the proof tests, the benchmark and the smoke tests all drive this class.
See the package docstring (`localenv/__init__.py`) for a usage example.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from app.timing import LOCAL_TIMING
from localenv.controller import COMPLETE, FAILED, Controller, Rollout
from localenv.errors import LocalEnvError
from localenv.events import INGRESS, Event, EventLog
from localenv.images import APP_IMAGE, command_for
from localenv.ingress import ACCESS_LOG, TEMP_DIR, CanaryBackend, Ingress, find_nginx
from localenv.processes import ProcessRegistry, kill_orphans
from localenv.profile import DEFAULT_REPLICAS, local_deployment
from localenv.spec import DeploymentSpec

DEFAULT_STATE_DIR = Path(".local-env")
STATE_DIR_ENV = "LOCALENV_STATE_DIR"
LOCK_FILE = "lock"
EVENTS_FILE = "events.jsonl"


def default_state_dir() -> Path:
    """`$LOCALENV_STATE_DIR`, else ./.local-env."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


@dataclass(frozen=True, kw_only=True)
class RolloutResult:
    """How a rollout ended: complete, failed (progress deadline) or still progressing when we stopped waiting."""

    revision: int
    version: str
    state: str
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
        return self.state == COMPLETE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the events)."""
        data = dataclasses.asdict(self)
        data.pop("events")
        data["ok"] = self.ok
        return data


class LocalEnvironment:
    """Real nginx and real gunicorn pods on loopback, run by a Deployment controller; one per state directory."""

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        port: int = 0,
        endpoint_propagation: float = LOCAL_TIMING.endpoint_propagation,
    ) -> None:
        if endpoint_propagation < 0:
            raise LocalEnvError("endpoint propagation delay must be ≥ 0 seconds")
        if not 0 <= port <= 65535:
            raise LocalEnvError(f"port {port} is not a TCP port; use 1–65535, or 0 for any free port")
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.requested_port = port
        self.endpoint_propagation = endpoint_propagation
        self._lock_file: IO[str] | None = None
        self._registry: ProcessRegistry | None = None
        self._events: EventLog | None = None
        self._ingress: Ingress | None = None
        self._controller: Controller | None = None
        self._canary_controller: Controller | None = None
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
        """Take the state directory, clean up after a crashed run, start nginx and the control loop (no pods yet)."""
        if self._controller is not None:
            return
        find_nginx()  # a missing nginx or Lua module is reported before anything starts
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self.recovered = len(kill_orphans(self.state_dir))
            for leftover in ("pods", TEMP_DIR):
                shutil.rmtree(self.state_dir / leftover, ignore_errors=True)
            for leftover in (EVENTS_FILE, ACCESS_LOG):
                (self.state_dir / leftover).unlink(missing_ok=True)
            self._registry = ProcessRegistry(self.state_dir)
            self._events = EventLog(self.state_dir / EVENTS_FILE)
            if self.recovered:
                self._events.emit(INGRESS, step="recovered", killed_orphans=self.recovered)
            self._ingress = Ingress(self.state_dir, self.requested_port, self._registry)
            self._ingress.start()
            self._events.emit(INGRESS, step="started", url=self._ingress.url, pid=self._ingress.pid)
            self._controller = Controller(
                state_dir=self.state_dir,
                ingress=self._ingress,
                events=self._events,
                registry=self._registry,
                endpoint_propagation=self.endpoint_propagation,
            )
            self._controller.start()
        except BaseException:
            self.down()
            raise

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
        self.stop_canary_controller()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._ingress is not None:
            self._ingress.stop()
            self._ingress = None
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
    ) -> RolloutResult:
        """Start (if needed) and bring the Deployment up at `version` with `replicas` pods (or a custom dict)."""
        self.start()
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
            message=rollout.message or f"rollout to {rollout.version} is {rollout.state}",
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

    # ---- a second Deployment: the canary (localenv/canary.py) --------------------------------

    def canary_controller(self) -> Controller:
        """The canary Deployment's controller (started on first use): its ready pods fill the ingress's canary backend.

        It shares this environment's nginx, event log and process registry, so `down` stops its pods too.
        """
        self._require_up()
        if self._ingress is None or self._events is None or self._registry is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        if self._canary_controller is None:
            self._canary_controller = Controller(
                state_dir=self.state_dir,
                ingress=CanaryBackend(self._ingress, self._registry),
                events=self._events,
                registry=self._registry,
                endpoint_propagation=self.endpoint_propagation,
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
        if self._ingress is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        self._ingress.set_canary_route(weight, header, value)

    # ---- looking and poking ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the ingress, e.g. http://127.0.0.1:8080."""
        if self._ingress is None:
            raise LocalEnvError("the local environment is not up; run `python -m localenv up` first")
        return self._ingress.url

    @property
    def port(self) -> int:
        """The ingress's port."""
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

    def status(self) -> dict[str, Any]:
        """Rollout state, pod counts, every pod, the ingress's endpoints and its request/retry counts."""
        controller = self._require_up()
        ingress = controller.ingress
        status = controller.status()
        access = ingress.access_log_summary()
        status["url"] = ingress.url
        status["state_dir"] = str(self.state_dir)
        status["recovered_orphans"] = self.recovered
        status["ingress"] = {
            "pid": ingress.pid,
            "requests": access.requests,
            "by_status": access.by_status,
            "retried": access.retried,
        }
        return status

    def kill_pod(self, name: str | None = None, signum: int = signal.SIGKILL) -> str:
        """SIGKILL (or `signum`) a running pod's processes, as a crashed node or OOM kill would; returns its name."""
        return self._require_up().kill_pod(name, signum)

    def pids(self) -> list[int]:
        """Every process this environment runs right now (nginx master and pod masters)."""
        controller = self._require_up()
        status = controller.status()
        pids = [p["pid"] for p in status["pods"] if p["pid"]]
        if self._ingress is not None and self._ingress.pid:
            pids.append(self._ingress.pid)
        return pids

    def wait_for(self, predicate: Any, timeout: float, what: str) -> None:
        """Poll `predicate(status)` until true; a clear error naming `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.status()):
                return
            time.sleep(0.05)
        raise LocalEnvError(f"timed out after {timeout:g} s waiting for {what}")


__all__ = ["FAILED", "LocalEnvironment", "RolloutResult", "default_state_dir"]
