"""gunicorn entry point for process tests: the real app plus routes only tests have.

`/slow` holds a request open so a test can SIGTERM gunicorn mid-request; `/worker` names the worker
process that answered, so a test can prove /metrics adds up over several workers. The production
app (app/wsgi.py) has neither: no fault switches ship.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Response, jsonify, request

from app.web import create_app

# Set by the test: the slow route drops a file here once it has started, so the test knows the
# request is in flight before it sends SIGTERM (no guessing with sleeps).
STARTED_DIR_ENV = "SLOW_REQUEST_STARTED_DIR"

application = create_app()


@application.get("/slow")
def slow() -> Response:
    seconds = min(float(request.args.get("seconds", "1")), 30.0)
    started_dir = os.environ.get(STARTED_DIR_ENV)
    if started_dir:
        Path(started_dir, request.headers.get("X-Request-ID", "slow")).touch()
    time.sleep(seconds)
    return jsonify(slept=seconds, worker=os.getpid())


@application.get("/worker")
def worker() -> Response:
    return jsonify(worker=os.getpid())
