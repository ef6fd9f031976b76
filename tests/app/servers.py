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

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "app" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).with_name("gunicorn")
# The test entry point wraps the real app and adds /slow and /worker (tests/app/wsgi_with_slow_route.py).
TEST_WSGI_APP = "wsgi_with_slow_route:application"
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
        """Kill whatever is left of this server's process group (the master started its own session).

        Also when the master has exited: a worker that outlived it would still be in the group.
        """
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(10)
