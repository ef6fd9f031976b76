"""Starting, tracking and killing the local environment's processes, so none is ever orphaned.

Every process (nginx, each pod's gunicorn, the supervisor) starts in its own session, so its whole
tree can be signalled as one group — as a container runtime kills everything in a container. Each
one is written to `processes.json` in the state directory with its start time from /proc, so a later
run can tell "still our orphan" from "a recycled pid that now belongs to someone else".
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from localenv.errors import LocalEnvError

LOOPBACK = "127.0.0.1"
REGISTRY_FILE = "processes.json"


# Ports handed out lately. The kernel may return the same free port to two bind(0) calls in a row
# when the first taker has not bound it yet (seen here: nginx's admin and client ports came out equal),
# so a port is not handed out twice within this window.
_RECENT_PORTS: list[int] = []
_RECENT_PORTS_KEPT = 256
_RECENT_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now and that this process has not just handed out."""
    with _RECENT_PORTS_LOCK:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((LOOPBACK, 0))
                port = int(probe.getsockname()[1])
            if port not in _RECENT_PORTS:
                break
        _RECENT_PORTS.append(port)
        del _RECENT_PORTS[:-_RECENT_PORTS_KEPT]
        return port


def ensure_port_free(port: int, flag: str = "--port") -> None:
    """Raise a clear error when something already listens on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise LocalEnvError(
                    f"port {port} on {LOOPBACK} is already in use; stop whatever listens there "
                    f"or choose another port with {flag} (e.g. {flag} 0 for any free port)"
                ) from None
            raise


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def spawn(
    command: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in a new session (its own process group), stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def signal_group(pid: int, signum: int) -> None:
    """Send `signum` to the process group led by `pid`; quietly nothing if it has already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def signal_process(pid: int, signum: int) -> None:
    """Send `signum` to `pid` alone (as the kubelet signals a container's PID 1)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def group_alive(pgid: int) -> bool:
    """True while any process of group `pgid` is still running."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg succeeds for zombies too; look for a live member.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, SIGKILL it after `grace` seconds, and reap the leader; returns once all are gone."""
    signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    kill_group(process)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the group and reap the leader."""
    signal_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while group_alive(process.pid) and time.monotonic() < deadline:
        signal_group(process.pid, signal.SIGKILL)
        time.sleep(0.02)


@dataclass(frozen=True)
class ProcessRecord:
    """One process we started: enough to find it again after a crash, and to be sure it is ours."""

    pid: int
    start_time: int
    role: str
    name: str


class ProcessRegistry:
    """`processes.json` in the state directory: every live process this environment started."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / REGISTRY_FILE
        self._lock = threading.Lock()
        self._records: dict[int, ProcessRecord] = {}

    def add(self, pid: int, role: str, name: str) -> None:
        """Remember a process we just started."""
        started = start_time(pid)
        if started is None:
            return
        with self._lock:
            self._records[pid] = ProcessRecord(pid=pid, start_time=started, role=role, name=name)
            self._save()

    def remove(self, pid: int) -> None:
        """Forget a process that has exited."""
        with self._lock:
            if self._records.pop(pid, None) is not None:
                self._save()

    def clear(self) -> None:
        """Forget everything and delete the file (after a clean shutdown)."""
        with self._lock:
            self._records.clear()
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in self._records.values()], indent=1))
        tmp.replace(self._path)


def kill_orphans(state_dir: Path) -> list[ProcessRecord]:
    """Kill the process groups a crashed run left behind (only those still provably ours); returns them."""
    path = state_dir / REGISTRY_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return []
    killed: list[ProcessRecord] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            record = ProcessRecord(**item)
        except TypeError:
            continue
        # A recycled pid has a different start time: never signal a stranger.
        if start_time(record.pid) == record.start_time and is_alive(record.pid):
            signal_group(record.pid, signal.SIGKILL)
            signal_process(record.pid, signal.SIGKILL)
            killed.append(record)
    deadline = time.monotonic() + 5
    while any(is_alive(r.pid) for r in killed) and time.monotonic() < deadline:
        time.sleep(0.02)
    path.unlink(missing_ok=True)
    return killed
