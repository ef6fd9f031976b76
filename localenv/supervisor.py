"""The background supervisor behind `up`: one process owning a `LocalEnvironment`, driven over a unix socket.

`up` starts it detached (its own session) so that `deploy`, `status`, `rollback`, `watch` and `down`
work from any later command. Each request is one JSON line on `supervisor.sock` in the state
directory; the answer is zero or more `{"event": …}` lines (progress, as it happens) and one final
`{"result": …}` or `{"error": "…"}` line.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.contract.analysis import CanaryOutcome, Verdict
from app.contract.routers import DEFAULT_ROUTER
from localenv.control.wire import to_json
from localenv.environment import LOCK_FILE, LocalEnvironment, RolloutResult
from localenv.errors import LocalEnvError
from localenv.events import Event
from localenv.images import APP_IMAGE, REPO_ROOT
from localenv.processes import REGISTRY_FILE, is_alive, signal_process, spawn

SOCKET_FILE = "supervisor.sock"
PID_FILE = "supervisor.pid"
ERROR_FILE = "supervisor-error.txt"
LOG_FILE = "supervisor.log"
# A unix socket path is limited to 107 bytes by the kernel (sun_path).
MAX_SOCKET_PATH = 107
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def socket_path(state_dir: Path) -> Path:
    """Where the supervisor listens; a clear error when the path is too long for a unix socket."""
    path = state_dir.resolve() / SOCKET_FILE
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise LocalEnvError(f"state directory {state_dir} is too deep for a unix socket; use a shorter --state-dir")
    return path


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline()
        try:
            request = json.loads(line)
            command = str(request.pop("command"))
        except (ValueError, KeyError, AttributeError):
            self._send({"error": "malformed request"})
            return
        try:
            for message in self.server.dispatch(command, request):
                self._send(message)
        except LocalEnvError as error:
            self._send({"error": str(error)})
        except BrokenPipeError:
            pass  # the client went away (e.g. Ctrl-C); whatever it started carries on
        except Exception as error:  # one bad request must not take the environment down
            self._send({"error": f"internal error: {error!r} (see {LOG_FILE} in the state directory)"})
            raise

    def _send(self, message: dict[str, Any]) -> None:
        self.wfile.write((json.dumps(message, default=str) + "\n").encode())
        self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, env: LocalEnvironment) -> None:
        self.env = env
        self.stopping = threading.Event()
        self.canary: str | None = None
        """The version running as a canary, while `deploy --strategy canary` runs."""
        self.canary_override: Verdict | None = None
        super().__init__(str(path), _Handler)

    def dispatch(self, command: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        env = self.env
        if command == "status":
            yield {"result": env.status().to_json()}
        elif command == "indicator":
            yield {"result": {"indicator": env.indicator()}}
        elif command == "up":
            yield from self._streamed(lambda: env.up(version=request["version"], replicas=int(request["replicas"])))
        elif command == "deploy" and request.get("strategy") == "canary":
            yield from self._streamed(lambda: self._release_canary(request))
        elif command in ("promote", "abort"):
            yield {"result": self._decide_canary(Verdict.PROMOTE if command == "promote" else Verdict.ABORT)}
        elif command == "deploy" and self.canary is not None:
            yield {"error": f"a canary of {self.canary} is running; `promote` or `abort` it before deploying"}
        elif command == "deploy":
            yield from self._streamed(
                lambda: env.deploy(request["version"], image_repository=request.get("image", APP_IMAGE))
            )
        elif command == "rollback":
            yield from self._streamed(env.rollback)
        elif command == "ingress-release":
            yield from self._streamed(lambda: env.release_ingress(str(request["version"])))
        elif command == "watch":
            yield from self._follow(float(request.get("seconds") or 0))
        elif command == "kill":
            yield {"result": {"killed": env.kill_pod(request.get("pod"))}}
        elif command == "nodes":
            yield {"result": {"nodes": [to_json(n) for n in env.node_status()]}}
        elif command == "drain":
            seconds = env.drain(str(request["node"]), float(request["timeout"]))
            yield {"result": {"node": request["node"], "seconds": seconds}}
        elif command == "uncordon":
            env.uncordon(str(request["node"]))
            yield {"result": {"node": request["node"]}}
        elif command == "nodegroup-update":
            yield {"result": {"steps": env.update_node_group(float(request["timeout"]))}}
        elif command == "down":
            self.stopping.set()
            threading.Thread(target=self.shutdown, daemon=True).start()
            yield {"result": {"stopping": os.getpid()}}
        else:
            yield {"error": f"unknown command {command!r}"}

    def _release_canary(self, request: dict[str, Any]) -> CanaryOutcome:
        """Run a canary release (localenv/canary.py) to its end; one at a time, never during a rollout."""
        from localenv.canary import release_canary

        if self.canary is not None:
            raise LocalEnvError(f"a canary of {self.canary} is already running; `promote` or `abort` it first")
        self.canary, self.canary_override = str(request["version"]), None
        try:
            return release_canary(
                self.env,
                self.canary,
                image_repository=request.get("image", APP_IMAGE),
                override=lambda: self.canary_override,
            )
        finally:
            self.canary = None

    def _decide_canary(self, verdict: Verdict) -> dict[str, Any]:
        """An operator's promote/abort for the running canary, acted on at the analysis's next look."""
        if self.canary is None:
            raise LocalEnvError("no canary is running; start one with `deploy --strategy canary --version TAG`")
        self.canary_override = verdict
        return {"canary": self.canary, "requested": verdict.value}

    def _streamed(self, action: Callable[[], RolloutResult | CanaryOutcome]) -> Iterator[dict[str, Any]]:
        """Run a rollout in a thread and stream its events until it ends; it carries on if the client leaves."""
        watcher = self.env.event_log.watch()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = action().to_dict()
            except LocalEnvError as error:
                outcome["error"] = str(error)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        try:
            while worker.is_alive() or not watcher.empty():
                with contextlib.suppress(queue.Empty):
                    yield {"event": watcher.get(timeout=0.1).to_json()}
        finally:
            self.env.event_log.unwatch(watcher)
        yield outcome

    def _follow(self, seconds: float) -> Iterator[dict[str, Any]]:
        watcher = self.env.event_log.watch()
        deadline = time.monotonic() + seconds if seconds > 0 else None
        try:
            while not self.stopping.is_set() and (deadline is None or time.monotonic() < deadline):
                try:
                    event: Event = watcher.get(timeout=0.2)
                except queue.Empty:
                    continue
                yield {"event": event.to_json()}
        finally:
            self.env.event_log.unwatch(watcher)
        yield {"result": {"stopped": True}}


def serve(
    state_dir: Path, port: int, endpoint_propagation: float, router: str = DEFAULT_ROUTER, monitoring: bool = False
) -> int:
    """The supervisor's main: start the environment, answer requests until `down` or SIGTERM; 0 on a clean exit."""
    error_file = state_dir / ERROR_FILE
    error_file.unlink(missing_ok=True)
    env = LocalEnvironment(
        state_dir, port=port, endpoint_propagation=endpoint_propagation, router=router, monitoring=monitoring
    )

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server: _Server | None = None
    try:
        try:
            env.start()
            path = socket_path(state_dir)
            path.unlink(missing_ok=True)
            server = _Server(path, env)
        except LocalEnvError as error:
            error_file.write_text(str(error))
            return 1
        (state_dir / PID_FILE).write_text(str(os.getpid()))
        server.serve_forever(poll_interval=0.2)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish cleaning up even if asked twice
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            server.server_close()
        env.down()
        with contextlib.suppress(OSError):
            socket_path(state_dir).unlink()
        (state_dir / PID_FILE).unlink(missing_ok=True)


def start_daemon(
    state_dir: Path, port: int, endpoint_propagation: float, router: str = DEFAULT_ROUTER, monitoring: bool = False
) -> int:
    """Start the supervisor detached and wait until it answers; returns its pid or raises its error."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = socket_path(state_dir)
    (state_dir / ERROR_FILE).unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "localenv",
        "_supervise",
        "--state-dir",
        str(state_dir.resolve()),
        "--port",
        str(port),
        "--propagation",
        str(endpoint_propagation),
        "--router",
        router,
        "--monitoring" if monitoring else "--no-monitoring",
    ]
    process = spawn(command, env=os.environ, log_path=state_dir / LOG_FILE, cwd=REPO_ROOT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = (state_dir / ERROR_FILE).read_text() if (state_dir / ERROR_FILE).exists() else ""
            raise LocalEnvError(error or f"the supervisor exited at start; see {state_dir / LOG_FILE}")
        if path.exists():
            with contextlib.suppress(LocalEnvError):
                request(state_dir, "status")
                return process.pid
        time.sleep(0.05)
    process.kill()
    raise LocalEnvError(f"the supervisor did not start within {START_TIMEOUT_S:g} s; see {state_dir / LOG_FILE}")


def stream(state_dir: Path, command: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Send one request to the supervisor and yield every answer line (events, then result or error)."""
    path = socket_path(state_dir)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        client.close()
        if (state_dir / REGISTRY_FILE).exists():
            raise LocalEnvError(
                f"the local environment in {state_dir} is not up: its supervisor has gone (crashed?) and left "
                "processes behind; run `python -m localenv down` to clean up, or `up` to start again"
            ) from None
        raise LocalEnvError(
            f"the local environment is not up (no supervisor in {state_dir}); run `python -m localenv up` first"
        ) from None
    with client, client.makefile("rwb") as channel:
        channel.write((json.dumps({"command": command, **fields}) + "\n").encode())
        channel.flush()
        for line in channel:
            message = json.loads(line)
            if "error" in message:
                raise LocalEnvError(message["error"])
            yield message


def request(state_dir: Path, command: str, **fields: Any) -> dict[str, Any]:
    """Send one request and return its final result (events are skipped)."""
    result: dict[str, Any] = {}
    for message in stream(state_dir, command, **fields):
        if "result" in message:
            result = message["result"]
    return result


def supervisor_pid(state_dir: Path) -> int | None:
    """The running supervisor's pid, if that process is alive and really is a localenv supervisor.

    The pid file appears once the supervisor answers; the lock file names it from its first moment,
    so a supervisor interrupted while starting is found too.
    """
    for name in (PID_FILE, LOCK_FILE):
        try:
            pid = int((state_dir / name).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"_supervise" in cmdline and is_alive(pid):
            return pid
    return None


def stop_supervisor(state_dir: Path, pid: int) -> None:
    """Ask the supervisor to stop (socket, then SIGTERM, then SIGKILL) and wait until it has exited."""
    with contextlib.suppress(LocalEnvError, OSError):
        request(state_dir, "down")
    if wait_gone(pid):
        return
    signal_process(pid, signal.SIGTERM)
    if wait_gone(pid):
        return
    signal_process(pid, signal.SIGKILL)
    if not wait_gone(pid, timeout=5):
        raise LocalEnvError(f"the supervisor (pid {pid}) did not stop; kill it with `kill -9 {pid}`")


def wait_gone(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Wait until `pid` has exited; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return False
