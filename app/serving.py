"""Where the app process answers: its port, worker pool, routes and the page's version, written once.

app/web.py serves these routes and app/gunicorn.conf.py binds the port with this pool; the deployment
contract points the kubelet's probes at the same paths and defaults the settings to the same numbers;
the smoke checks, the canary analysis and the local environment's traffic ask the same paths. Part of
the image (nothing beyond the standard library), so the process and everything that talks to it read
one definition.
"""

from __future__ import annotations

from html.parser import HTMLParser

PORT = 8080
"""Port gunicorn listens on in the container (unprivileged; app/Dockerfile EXPOSEs it)."""
WORKERS = 2
"""gunicorn worker processes."""
THREADS = 4
"""Threads per gunicorn worker."""

PAGE_PATH = "/"
"""The HTML page a visitor sees, with the version in it."""
VERSION_PATH = "/version"
"""JSON {version, commit}: what the smoke checks and the traffic generators ask."""
LIVENESS_PATH = "/healthz"
"""Alive: 200 while the process can answer at all (liveness and startup probes)."""
READINESS_PATH = "/readyz"
"""Ready for traffic: 200, or 503 once the process is draining (readiness probe)."""
METRICS_PATH = "/metrics"
"""Prometheus exposition of the app's request counts (canary analysis)."""

PAGE_VERSION_ID = "version"
"""id of the page element whose text is the version: app/web.py writes it, `page_version` reads it."""


class _VersionText(HTMLParser):
    """Collects the text inside the element whose id is PAGE_VERSION_ID."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self.found = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth:
            self._depth += 1
        elif dict(attrs).get("id") == PAGE_VERSION_ID:
            self._depth, self.found = 1, True

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.text += data


def page_version(html_text: str) -> str | None:
    """The version the page shows (the text of its PAGE_VERSION_ID element), or None without one.

    An HTML parser, not a pattern: the element may hold markup or whitespace around the version.
    """
    parser = _VersionText()
    parser.feed(html_text)
    parser.close()
    return parser.text.strip() if parser.found else None
