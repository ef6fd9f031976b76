"""A test-only release with a bug: it starts, becomes ready, and answers one in four /version requests with 500.

Run by the local image `example-app-faulty` (localenv/images.py). Its probes and its page work, so a
rolling update would put it everywhere and a quick look would pass it; only a canary's analysis of
its error rate under traffic catches it. The failures happen inside the real app, so its own
/metrics count them like any other answer.
"""

from __future__ import annotations

import itertools

from flask import Response, request

from app.serving import VERSION_PATH
from app.web import create_app

FAIL_EVERY = 4
BROKEN_PATH = VERSION_PATH
"""The API endpoint with the bug; probes, /metrics and the page are untouched."""

application = create_app()
_api_requests = itertools.count(1)


@application.before_request
def _fail_some_requests() -> Response | None:
    """Answer every FAIL_EVERY-th /version request with 500, as a bug on a common code path would."""
    if request.path != BROKEN_PATH or next(_api_requests) % FAIL_EVERY:
        return None
    return Response('{"error": "a bug in this build"}', status=500, mimetype="application/json")
