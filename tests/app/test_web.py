"""Every endpoint, header and error of the app, through Flask's test client on a freshly built app."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.version import BuildInfo
from app.web import CONTENT_SECURITY_POLICY, PAGE_STYLE, REQUEST_ID_HEADER, SECURITY_HEADERS, Draining, create_app

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _boom() -> str:
    raise RuntimeError("secret detail that must not leak")


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """The app plus one route that raises, to see what a crash looks like from outside."""
    app.config["TESTING"] = False  # TESTING would re-raise instead of answering 500
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.add_url_rule("/boom", view_func=_boom)
    return app


def test_page_shows_version_prominently_and_commit(client: FlaskClient, build_info: BuildInfo) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert f'<p class="version" id="version">{build_info.version}</p>' in body
    assert f"commit {build_info.commit}" in body
    assert f"<title>example-app {build_info.version}</title>" in body


def test_page_has_no_external_assets_and_its_style_is_allowed_by_the_csp(client: FlaskClient) -> None:
    body = client.get("/").get_data(as_text=True)
    assert not re.search(r"""(src|href)\s*=""", body), "the page must not load anything"
    assert "<script" not in body
    assert f"<style>{PAGE_STYLE}</style>" in body
    # The hash in the CSP is of exactly the inline style; a changed style without a new hash would be blocked.
    digest = base64.b64encode(hashlib.sha256(PAGE_STYLE.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY


def test_page_shows_build_time_when_known_and_escapes_everything() -> None:
    build = BuildInfo(version="v2", commit="abc", built="2026-01-01 <b>")
    body = create_app({"BUILD_INFO": build, "DRAINING": Draining()}).test_client().get("/").get_data(as_text=True)
    assert "built 2026-01-01 &lt;b&gt;" in body
    assert "<b>" not in body


def test_version_is_json_with_version_and_commit(client: FlaskClient, build_info: BuildInfo) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    assert response.get_json() == {"version": build_info.version, "commit": build_info.commit}


def test_healthz_is_200_even_while_draining(client: FlaskClient, draining: Draining) -> None:
    assert client.get("/healthz").status_code == 200
    draining.start()
    # Liveness must not fail during a drain, or the kubelet restarts a pod that is finishing requests.
    assert client.get("/healthz").status_code == 200


def test_readyz_is_200_until_draining_then_503(client: FlaskClient, draining: Draining) -> None:
    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (200, {"status": "ready"})
    draining.start()
    drained = client.get("/readyz")
    assert (drained.status_code, drained.get_json()) == (503, {"status": "draining"})
    assert drained.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_each_app_has_its_own_drain_flag(draining: Draining) -> None:
    draining.start()
    other = create_app({"BUILD_INFO": BuildInfo(version="v1"), "DRAINING": Draining()})
    assert other.test_client().get("/readyz").status_code == 200


def _sample(client: FlaskClient, name: str, labels: dict[str, str]) -> float:
    """One sample's value from /metrics, 0 when absent (the registry is shared by every app in this process)."""
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if found == labels:
                return float(match.group(2))
    return 0.0


def test_metrics_is_prometheus_text_with_target_info(client: FlaskClient, build_info: BuildInfo) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    build = {
        "service_name": "example-app",
        "service_version": build_info.version,
        "vcs_ref_head_revision": build_info.commit,
    }
    assert _sample(client, "target_info", build) == 1.0


def _request(route: str, status: int, method: str = "GET") -> dict[str, str]:
    """The labels of one request series: OpenTelemetry's HTTP server attributes, `.` written `_`."""
    return {
        "http_route": route,
        "http_request_method": method,
        "http_response_status_code": str(status),
        "url_scheme": "http",
        "error_type": str(status) if status >= 500 else "",
    }


def test_metrics_count_requests_by_route_method_and_status(client: FlaskClient) -> None:
    count = "http_server_request_duration_seconds_count"
    ok, missing = _request("/version", 200), _request("<unmatched>", 404)
    before_ok, before_missing = _sample(client, count, ok), _sample(client, count, missing)
    for _ in range(3):
        client.get("/version")
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    assert _sample(client, count, ok) == before_ok + 3
    # Unknown paths share one label value: a scanner cannot blow up the metric's cardinality.
    assert _sample(client, count, missing) == before_missing + 2


def test_methods_nobody_defined_share_one_label_value(client: FlaskClient) -> None:
    count = "http_server_request_duration_seconds_count"
    # A 405 matched no route either: Flask leaves url_rule unset when only the method is wrong.
    invented = _request("<unmatched>", 405, method="_OTHER")
    before = _sample(client, count, invented)
    for method in ("BREW", "WHEN", "PROPFIND"):
        assert client.open("/version", method=method).status_code == 405
    assert _sample(client, count, invented) == before + 3
    assert _sample(client, count, _request("<unmatched>", 405, method="BREW")) == 0.0


def test_server_errors_carry_their_status_as_error_type(failing_app: Flask) -> None:
    client = failing_app.test_client()
    failed = _request("/boom", 500)
    before = _sample(client, "http_server_request_duration_seconds_count", failed)
    assert client.get("/boom").status_code == 500
    assert _sample(client, "http_server_request_duration_seconds_count", failed) == before + 1


def test_the_page_is_timed_in_buckets_with_an_edge_at_the_latency_bound(client: FlaskClient) -> None:
    page = _request("/", 200)
    bucket = "http_server_request_duration_seconds_bucket"
    before_bound = _sample(client, bucket, {**page, "le": "0.1"})
    before_all = _sample(client, bucket, {**page, "le": "+Inf"})
    client.get("/")
    # A page answered in a test client takes well under 0.1 s: it lands in the objective's bucket.
    assert _sample(client, bucket, {**page, "le": "0.1"}) == before_bound + 1
    assert _sample(client, bucket, {**page, "le": "+Inf"}) == before_all + 1


ANSWERS = [
    ("GET", "/", 200),
    ("GET", "/version", 200),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/metrics", 200),
    ("HEAD", "/", 200),
    ("GET", "/nope", 404),
    ("POST", "/version", 405),
    ("GET", "/boom", 500),
]


@pytest.mark.parametrize(("method", "path", "status"), ANSWERS)
@pytest.mark.parametrize("accept", ["application/json", BROWSER_ACCEPT])
def test_security_headers_on_every_response(
    failing_app: Flask, method: str, path: str, status: int, accept: str
) -> None:
    response = failing_app.test_client().open(path, method=method, headers={"Accept": accept})
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name} missing on {method} {path}"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "status", "name"),
    [
        ("GET", "/nope", 404, "Not Found"),
        ("DELETE", "/", 405, "Method Not Allowed"),
        ("GET", "/boom", 500, "Internal Server Error"),
    ],
)
def test_errors_are_small_html_for_browsers(failing_app: Flask, method: str, path: str, status: int, name: str) -> None:
    response = failing_app.test_client().open(path, method=method, headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert f"<h1>{status} {name}</h1>" in body
    assert len(body) < 500
    assert "Traceback" not in body and "secret detail" not in body


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
@pytest.mark.parametrize(
    "error",
    [
        ("GET", "/nope", 404, "Not Found"),
        ("PUT", "/readyz", 405, "Method Not Allowed"),
        ("GET", "/boom", 500, "Internal Server Error"),
    ],
)
def test_errors_are_json_for_scripts(failing_app: Flask, accept: str | None, error: tuple[str, str, int, str]) -> None:
    method, path, status, name = error
    headers = {"Accept": accept} if accept else {}
    response = failing_app.test_client().open(path, method=method, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": name, "status": status}
    assert "Traceback" not in response.get_data(as_text=True)


def test_crash_is_logged_for_operators_but_not_shown(failing_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    failing_app.test_client().get("/boom")
    assert "secret detail that must not leak" in caplog.text


def test_405_names_the_allowed_methods(client: FlaskClient) -> None:
    response = client.post("/")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/", "/version", "/healthz", "/readyz", "/metrics"])
def test_head_answers_like_get_without_a_body(client: FlaskClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    if path != "/metrics":  # /metrics changes between the two requests: it counts them
        assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_request_id_is_echoed_when_supplied(client: FlaskClient) -> None:
    response = client.get("/version", headers={REQUEST_ID_HEADER: "trace-42"})
    assert response.headers[REQUEST_ID_HEADER] == "trace-42"


def test_request_id_is_generated_when_missing_and_differs_per_request(client: FlaskClient) -> None:
    first = client.get("/version").headers[REQUEST_ID_HEADER]
    second = client.get("/version").headers[REQUEST_ID_HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("supplied", ["x" * 129, "tab\there"])
def test_unusable_request_id_is_replaced(client: FlaskClient, supplied: str) -> None:
    echoed = client.get("/version", headers={REQUEST_ID_HEADER: supplied}).headers[REQUEST_ID_HEADER]
    assert echoed != supplied
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


def test_request_id_is_on_error_answers_too(client: FlaskClient) -> None:
    response = client.get("/nope", headers={REQUEST_ID_HEADER: "lost-7"})
    assert response.status_code == 404
    assert response.headers[REQUEST_ID_HEADER] == "lost-7"


def test_version_comes_from_app_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_VERSION", "v9.8.7")
    monkeypatch.setenv("APP_COMMIT", "feedbee")
    built = create_app({"DRAINING": Draining()})
    assert json.loads(built.test_client().get("/version").data) == {"version": "v9.8.7", "commit": "feedbee"}


def test_unset_app_version_means_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_VERSION", raising=False)
    monkeypatch.delenv("APP_COMMIT", raising=False)
    built = create_app({"DRAINING": Draining()})
    assert built.test_client().get("/version").get_json() == {"version": "dev", "commit": "unknown"}
