"""Real gunicorn processes for tests: app/gunicorn.conf.py on a free loopback port, cleaned up afterwards."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.project_files import REPO_ROOT

GUNICORN_CONF = REPO_ROOT / "app" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).with_name("gunicorn")
# The test entry point wraps the real app and adds /slow and /worker (tests/harness/wsgi_with_slow_route.py).
TEST_WSGI_APP = "harness.wsgi_with_slow_route:application"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


@dataclass
class Gunicorn:
    """A real gunicorn master started with app/gunicorn.conf.py, bound to a free loopback port."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    port: int = 0

    def connect(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        """A new HTTP/1.1 connection (kept alive until closed) to this server."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET on a fresh connection: (status, body)."""
        connection = self.connect(timeout)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def logs(self) -> str:
        return self.stderr.read_text(errors="replace")

    def access_lines(self) -> list[str]:
        return self.stdout.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        """Stop this server and everything in its process group (the master started its own session).

        SIGINT first (gunicorn's quick shutdown still runs its exit hooks), then SIGKILL to the group:
        a worker that outlived its master would still be in it.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(10)


def gunicorn_environment(**overrides: str) -> dict[str, str]:
    """This environment minus anything that would change the app under test, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PROMETHEUS_", "GUNICORN_"))}
    for name in ("BIND", "PORT", "WEB_WORKERS", "WEB_THREADS", "GRACEFUL_TIMEOUT", "KEEPALIVE", "WORKER_TIMEOUT"):
        env.pop(name, None)
    env["BIND"] = "127.0.0.1:0"  # port 0: the kernel picks a free port, gunicorn logs which
    env.update(overrides)
    return env


def run_gunicorn(log_dir: Path, env: dict[str, str], app_uri: str = TEST_WSGI_APP) -> Gunicorn:
    """Start gunicorn in its own process group; output goes to files so a full pipe never blocks it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = log_dir / "stdout", log_dir / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(GUNICORN_CONF), app_uri],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Gunicorn(process=process, stdout=stdout, stderr=stderr)


def wait_until_serving(server: Gunicorn, workers: int, deadline_s: float = 20.0) -> None:
    """Wait for the port, every worker's boot line, and a 200 from /healthz."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {server.process.returncode}:\n{server.logs()}")
        logs = server.logs()
        match = _LISTENING.search(logs)
        if match and logs.count("Booting worker") >= workers:
            server.port = int(match.group(1))
            try:
                if server.get("/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not serve within {deadline_s} s:\n{server.logs()}")
