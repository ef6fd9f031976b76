"""A real gunicorn serving the app on a loopback port the kernel picks, for the smoke checks to talk to.

Used by the smoke library's own tests and by the SmokeTest provider's tests (tests/infra): the checks
run against the real app and its real server configuration, not a stand-in.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from harness.project_files import REPO_ROOT

GUNICORN_CONF = REPO_ROOT / "app" / "gunicorn.conf.py"
START_TIMEOUT = 20.0
_LISTENING = re.compile(r"Listening at: (https?://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class RunningApp:
    """A started gunicorn: where it answers and which version it reports."""

    url: str
    version: str
    pid: int


@contextmanager
def serve_app(
    version: str, log_dir: Path, *, certfile: Path | None = None, keyfile: Path | None = None
) -> Iterator[RunningApp]:
    """Run gunicorn with app/gunicorn.conf.py at `version` on 127.0.0.1:<free port>; stop it on exit.

    Binding port 0 lets the kernel choose; the port is read back from gunicorn's "Listening at" line,
    so two tests can never race for the same port.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"gunicorn-{version}-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        "APP_VERSION": version,
        "BIND": "127.0.0.1:0",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "4",
        "GRACEFUL_TIMEOUT": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    if certfile and keyfile:
        command += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    with log_path.open("wb") as log:
        # Own session: the master and its workers are stopped together, even if the master hangs.
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = _wait_listening(process, log_path)
        yield RunningApp(url=url, version=version, pid=process.pid)
    finally:
        _stop(process)


def _wait_listening(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        match = _LISTENING.search(text)
        if match and "Booting worker" in text:
            return match.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before listening:\n{text[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn did not listen within {START_TIMEOUT} s:\n{log_path.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Workers that outlived their master would still be in the group: make sure none is left.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class SelfSignedCertificate:
    """A throwaway certificate for `localhost` and 127.0.0.1, and its key."""

    certfile: Path
    keyfile: Path


def make_certificate(directory: Path) -> SelfSignedCertificate:
    """Create a self-signed certificate with openssl (its own CA, so it is also the trust bundle)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return SelfSignedCertificate(certfile=cert, keyfile=key)
