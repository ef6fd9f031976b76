"""A test-only release that starts and stays alive but never becomes ready (/readyz is always 503).

Run by the local image `example-app-never-ready`; it lets tests prove that a rollout of a release that
never becomes ready fails at its progress deadline while the old pods keep serving.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from app.serving import LIVENESS_PATH, READINESS_PATH

StartResponse = Callable[..., Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer /healthz 200 (alive), /readyz 503 (never ready), anything else with the version."""
    path = environ.get("PATH_INFO", "/")
    if path == READINESS_PATH:
        status, body = "503 Service Unavailable", {"status": "never ready"}
    elif path == LIVENESS_PATH:
        status, body = "200 OK", {"status": "ok"}
    else:
        status, body = "200 OK", {"version": os.environ.get("APP_VERSION", "dev"), "commit": "never-ready"}
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
