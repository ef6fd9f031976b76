"""The Flask app: a page that shows its version, plus the endpoints a platform needs to run it safely."""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import time
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app import metrics
from app.serving import LIVENESS_PATH, METRICS_PATH, PAGE_PATH, PAGE_VERSION_ID, READINESS_PATH, VERSION_PATH
from app.slo import UNMATCHED_ROUTE
from app.version import BuildInfo

PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;"
    "background:#f4f6f8;color:#1b2733}main{text-align:center}"
    "h1{font-size:1.1rem;font-weight:500;margin:0 0 .5rem}"
    ".version{font-size:3.5rem;font-weight:700;margin:0;color:#0b5cad}"
    ".meta{color:#5b6b7b;font-size:.9rem}"
)
# A hash lets the one inline style through a CSP that allows nothing else: no external assets at all.
_STYLE_HASH = base64.b64encode(hashlib.sha256(PAGE_STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
REQUEST_ID_HEADER = "X-Request-ID"


class Draining:
    """Set once the process has been asked to stop; /readyz then answers 503."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def start(self) -> None:
        """Mark this process as draining (called from the SIGTERM handler)."""
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


DRAINING = Draining()


def _page(build: BuildInfo) -> str:
    meta = f"commit {html.escape(build.commit)}"
    if build.built:
        meta += f" · built {html.escape(build.built)}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>example-app {html.escape(build.version)}</title><style>{PAGE_STYLE}</style></head>"
        "<body><main><h1>example-app</h1>"
        f'<p class="version" id="{PAGE_VERSION_ID}">{html.escape(build.version)}</p>'
        f'<p class="meta">{meta}</p></main></body></html>'
    )


def _error_body(code: int, name: str, wants_json: bool) -> tuple[Any, int]:
    if wants_json:
        return jsonify(error=name, status=code), code
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{code} {html.escape(name)}'
        f"</title></head><body><h1>{code} {html.escape(name)}</h1></body></html>"
    )
    return Response(page, status=code, mimetype="text/html"), code


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; `config` may carry BUILD_INFO (tests) and any Flask setting."""
    app = Flask(__name__)
    app.config.from_mapping(config or {})
    build: BuildInfo = app.config.get("BUILD_INFO") or BuildInfo.from_environ()
    app.config["BUILD_INFO"] = build
    metrics.publish_build_info(build.version, build.commit)
    # `is None`, not `or`: a fresh Draining is falsy, and a test's own must not fall back to the global.
    configured_draining = app.config.get("DRAINING")
    draining: Draining = DRAINING if configured_draining is None else configured_draining

    @app.before_request
    def _start_clock() -> None:
        g.started = time.perf_counter()
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = supplied if 0 < len(supplied) <= 128 and supplied.isprintable() else uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        elapsed = time.perf_counter() - g.get("started", 0.0)
        metrics.observe(rule, request.method, response.status_code, elapsed, scheme=request.scheme)
        return response

    @app.get(PAGE_PATH)
    def page() -> Response:
        return Response(_page(build), mimetype="text/html")

    @app.get(VERSION_PATH)
    def version() -> Response:
        return jsonify(version=build.version, commit=build.commit)

    @app.get(LIVENESS_PATH)
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get(READINESS_PATH)
    def readyz() -> tuple[Response, int]:
        if draining:
            return jsonify(status="draining"), 503
        return jsonify(status="ready"), 200

    @app.get(METRICS_PATH)
    def metrics_page() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Any, int]:
        code = error.code or 500
        body, code = _error_body(code, error.name, _wants_json())
        if code == 405 and error.valid_methods:  # type: ignore[attr-defined]
            body.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return body, code

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Any, int]:
        app.logger.exception("unhandled error", exc_info=error)
        return _error_body(500, "Internal Server Error", _wants_json())

    return app


def _wants_json() -> bool:
    # Browsers ask for text/html first and get a small page; scripts and `*/*` get JSON.
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html"
