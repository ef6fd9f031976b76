"""gunicorn settings for example-app; every timing value comes from app/timing.py.

Environment (all optional): PORT or BIND, WEB_WORKERS, WEB_THREADS, GRACEFUL_TIMEOUT, KEEPALIVE.
The deployment contract sets GRACEFUL_TIMEOUT and KEEPALIVE from the same Timing it renders into
the pod's probes and grace period, so the pod and the process agree.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from typing import Any

# `app` imports from gunicorn's working directory (the image's /srv/app; the repository, where it is also
# installed): gunicorn puts it on sys.path before it reads this file (gunicorn 27.0.1 gunicorn/app/base.py
# Application.load_config calls chdir() first).
from app import serving
from app.timing import Timing
from app.version import BuildInfo, VersionError

_timing = Timing()

# Refuse a bad APP_VERSION here, in the master, before binding: one clear line and exit 1, instead of
# every worker failing to import the app with a traceback and the master giving up afterwards.
try:
    BuildInfo.from_environ()
except VersionError as error:
    raise SystemExit(f"example-app refuses to start: {error}") from None


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SystemExit(f"{name}={raw!r} is not a whole number ≥ {minimum}: fix or unset it.")
    return int(raw)


bind = os.environ.get("BIND") or f"0.0.0.0:{_int_env('PORT', serving.PORT)}"
workers = _int_env("WEB_WORKERS", serving.WORKERS)
# gthread keeps connections alive (sync workers never do) so the ingress can reuse them.
worker_class = "gthread"
threads = _int_env("WEB_THREADS", serving.THREADS)
# After SIGTERM, in-flight requests get graceful_timeout to finish; the pod's grace period covers it.
graceful_timeout = _int_env("GRACEFUL_TIMEOUT", _timing.graceful_timeout)
# keep-alive 75 s > ingress-nginx's upstream keep-alive 60 s: the ingress always closes an idle
# connection first, so it never reuses one gunicorn has just closed ("upstream prematurely closed").
keepalive = _int_env("KEEPALIVE", _timing.keepalive)
timeout = _int_env("WORKER_TIMEOUT", _timing.worker_timeout)
# The worker heartbeat file on tmpfs: a container's overlay disk can stall it and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
accesslog = "-"
errorlog = "-"
logger_class = "app.access_log.JsonAccessLogger"
# The ingress sets X-Forwarded-*; trust them only from addresses we are told to (default: loopback).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
wsgi_app = "app.wsgi:application"
# gunicorn 27's control socket sits at one per-user path: several pods on one host would fight over
# it, and a read-only root filesystem has nowhere to put it. Nothing here uses gunicornc.
control_socket_disable = True

# prometheus_client multiprocess mode needs its directory before any worker imports the app. When none
# is given, the master makes one in on_starting (not at import: `--print-config` would leak it), named
# after its pid so a later start can sweep the directories of masters that were SIGKILLed.
_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_PREFIX = "example-app-metrics-"
_created_metrics_dirs: list[str] = []


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _sweep_abandoned_metrics_dirs(parent: str) -> None:
    for entry in os.listdir(parent):
        owner = entry.removeprefix(_METRICS_PREFIX).split("-", 1)[0]
        if entry.startswith(_METRICS_PREFIX) and owner.isdigit() and not _is_running(int(owner)):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def on_starting(server: Any) -> None:
    """Give workers an empty metrics directory: files of a previous run would be summed in."""
    if not os.environ.get(_METRICS_ENV):
        parent = worker_tmp_dir or tempfile.gettempdir()
        _sweep_abandoned_metrics_dirs(parent)
        created = tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-", dir=parent)
        _created_metrics_dirs.append(created)
        os.environ[_METRICS_ENV] = created  # workers inherit it when forked
    metrics_dir = os.environ[_METRICS_ENV]
    os.makedirs(metrics_dir, exist_ok=True)
    for entry in os.listdir(metrics_dir):
        os.unlink(os.path.join(metrics_dir, entry))


def post_worker_init(worker: Any) -> None:
    """On SIGTERM, start gunicorn's graceful exit and mark the worker draining (/readyz → 503)."""
    previous = signal.getsignal(signal.SIGTERM)

    def exit_and_drain(signum: int, frame: Any) -> None:
        from app.web import DRAINING

        # gunicorn's handler first: once it has stopped keep-alive, no 503 can go out on a connection
        # that still says "keep-alive" (a request thread may answer between the two calls).
        if callable(previous):
            previous(signum, frame)
        DRAINING.start()

    signal.signal(signal.SIGTERM, exit_and_drain)
    # signal.signal() drops the SA_RESTART gunicorn asked for: keep SIGTERM from interrupting active requests.
    signal.siginterrupt(signal.SIGTERM, False)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges so /metrics reports only living processes."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the metrics directory if this process created it."""
    for created in _created_metrics_dirs:
        shutil.rmtree(created, ignore_errors=True)
