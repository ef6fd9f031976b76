"""A test-only release with a bug: it starts, becomes ready, and answers one in four user requests with 500.

Run by the local image `example-app-faulty` (localenv/images.py). Probes pass, so a rolling update
would put it everywhere; only a canary's analysis of its error rate (or its smoke checks) catches
it. The failures happen inside the real app, so its own /metrics count them like any other answer.
"""

from __future__ import annotations

import itertools

from flask import Response, request

from app.web import create_app

FAIL_EVERY = 4
# The kubelet's probes and the metrics scrape keep working: the bug is in what users get.
UNAFFECTED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

application = create_app()
_user_requests = itertools.count(1)


@application.before_request
def _fail_some_requests() -> Response | None:
    """Answer every FAIL_EVERY-th user request with 500, as a bug on a common code path would."""
    if request.path in UNAFFECTED_PATHS or next(_user_requests) % FAIL_EVERY:
        return None
    return Response('{"error": "a bug in this build"}', status=500, mimetype="application/json")
