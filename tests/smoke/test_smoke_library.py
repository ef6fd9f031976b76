"""app/smoke.py against real servers on loopback: the real app under gunicorn, and small misbehaving ones."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app import smoke
from app.contract.canary import canary_replicas
from harness.appserver import RunningApp, make_certificate, serve_app
from harness.smoke_release import LOCAL_FIRST_VERSION, LOCAL_RELEASED_VERSION, LocalRollout
from localenv.profile import DEFAULT_REPLICAS

Answer = tuple[int, str, str]  # status, content type, body
Route = Callable[[str, int], Answer]  # (path, request number) -> answer


@pytest.fixture(scope="module")
def app_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with serve_app("v1.0.0", tmp_path_factory.mktemp("gunicorn")) as running:
        yield running


@contextmanager
def scripted_server(route: Route) -> Iterator[str]:
    """A loopback HTTP server that answers as `route` says: a release that misbehaves on purpose."""
    counter = iter(range(1_000_000))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = route(self.path, next(counter))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def version_json(version: str) -> Answer:
    return 200, "application/json", json.dumps({"version": version, "commit": "abc"})


def page(version: str) -> Answer:
    return 200, "text/html", f'<html><body><p class="version" id="version">{version}</p></body></html>'


def healthy_release(version_for: Callable[[int], str]) -> Route:
    def route(path: str, n: int) -> Answer:
        if path == "/version":
            return version_json(version_for(n))
        if path == "/healthz":
            return 200, "application/json", '{"status": "ok"}'
        return page(version_for(n))

    return route


@pytest.mark.process
def test_release_passes_against_the_real_app(app_v1: RunningApp) -> None:
    report = smoke.check_release(
        app_v1.url, "v1.0.0", patience=smoke.Patience(consecutive=3, timeout=10, interval=0.05)
    )
    assert report.ok, report.message()
    assert report.problems == []
    assert [o.seen for o in report.observations if o.check == "version"] == ["v1.0.0"] * 3
    assert {o.check for o in report.observations} == {"version", "health", "page"}
    assert report.message().splitlines()[0].endswith("v1.0.0: passed")
    assert "v1.0.0 ×3" in report.message()


@pytest.mark.process
def test_wrong_expected_version_fails_within_the_timeout_and_says_what_it_saw(app_v1: RunningApp) -> None:
    started = time.monotonic()
    report = smoke.check_release(
        app_v1.url, "v2.0.0", patience=smoke.Patience(consecutive=3, timeout=1.0, interval=0.1)
    )
    took = time.monotonic() - started
    assert not report.ok
    assert took < 1.0 + smoke.REQUEST_TIMEOUT
    version_problem, page_problem = report.problems
    assert "/version did not report v2.0.0 on 3 consecutive requests within 1 s" in version_problem
    assert "longest run 0" in version_problem
    assert "saw: v1.0.0 ×" in version_problem
    assert page_problem == "the page / shows 'v1.0.0', expected 'v2.0.0'"
    assert "FAILED (2 problem(s))" in report.message()


@pytest.mark.process
def test_https_with_an_untrusted_certificate_is_reported_as_a_tls_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    certificate = make_certificate(tmp_path / "tls")
    with serve_app("v1.0.0", tmp_path, certfile=certificate.certfile, keyfile=certificate.keyfile) as running:
        assert running.url.startswith("https://")
        untrusted = smoke.check_release(
            running.url, "v1.0.0", patience=smoke.Patience(consecutive=2, timeout=0.5, interval=0.1)
        )
        trusted = smoke.check_release(
            running.url,
            "v1.0.0",
            patience=smoke.Patience(consecutive=2, timeout=5, interval=0.1),
            verify=str(certificate.certfile),
        )
        direct = smoke.check_tls(running.url)
        # How `pulumi up` trusts int's Let's Encrypt staging chain: the provider inherits the environment.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.certfile))
        from_environment = smoke.check_release(
            running.url, "v1.0.0", patience=smoke.Patience(consecutive=2, timeout=5, interval=0.1)
        )
    assert from_environment.ok, from_environment.message()
    assert not untrusted.ok
    tls_problems = [p for p in untrusted.problems if p.startswith("TLS did not verify for 127.0.0.1")]
    assert len(tls_problems) == 1, untrusted.message()
    assert "self-signed certificate" in tls_problems[0]
    assert "is the certificate issued, and trusted for this host?" in tls_problems[0]
    assert trusted.ok, trusted.message()
    assert [o.check for o in trusted.observations].count("tls") == 1
    assert not direct.ok and direct.problems[0].startswith("TLS did not verify")


def test_tls_check_has_nothing_to_verify_on_plain_http() -> None:
    result = smoke.check_tls("http://127.0.0.1:1")
    assert result.ok and result.observations == []


def test_waits_while_the_old_version_still_answers() -> None:
    # The first five answers come from the old release, as during a rollout.
    with scripted_server(healthy_release(lambda n: "v1" if n < 5 else "v2")) as url:
        result = smoke.wait_for_version(url, "v2", patience=smoke.Patience(consecutive=3, timeout=10, interval=0.01))
    assert result.ok, result.problems
    assert [o.seen for o in result.observations] == ["v1"] * 5 + ["v2"] * 3


def test_alternating_versions_never_count_as_consecutive() -> None:
    with scripted_server(healthy_release(lambda n: ("v1", "v2")[n % 2])) as url:
        result = smoke.wait_for_version(url, "v2", patience=smoke.Patience(consecutive=2, timeout=0.5, interval=0.01))
    assert not result.ok
    assert "longest run 1" in result.problems[0]
    assert "v2 ×" in result.problems[0] and "v1 ×" in result.problems[0]


def test_broken_release_reports_every_problem_at_once() -> None:
    def route(path: str, n: int) -> Answer:
        if path == "/version":
            return 200, "text/plain", "v2"
        if path == "/healthz":
            return 503, "application/json", '{"status": "down"}'
        return 200, "text/html", "<html><body>welcome</body></html>"

    with scripted_server(route) as url:
        report = smoke.check_release(url, "v2", patience=smoke.Patience(consecutive=1, timeout=0.2, interval=0.05))
    assert not report.ok
    version_problem, health_problem, page_problem = report.problems
    assert "saw: (not JSON) ×" in version_problem
    assert health_problem == "/healthz gave HTTP 503, expected HTTP 200"
    assert page_problem == "the page / shows '(no version on the page)', expected 'v2'"


def test_error_status_and_missing_field_are_observed_not_raised() -> None:
    def route(path: str, n: int) -> Answer:
        if n == 0:
            return 502, "text/html", "<h1>502 Bad Gateway</h1>"
        return 200, "application/json", json.dumps({"commit": "abc"})

    with scripted_server(route) as url:
        result = smoke.wait_for_version(url, "v2", patience=smoke.Patience(consecutive=1, timeout=0.1, interval=0.05))
    assert [o.status for o in result.observations][:2] == [502, 200]
    assert result.observations[0].seen == "<h1>502 Bad Gateway</h1>"
    assert result.observations[1].seen == "(no version field)"
    assert "HTTP 502 ×1" in result.problems[0]


def test_nothing_listening_is_no_answer() -> None:
    with socket.socket() as probe:  # a port the kernel just handed out and nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = smoke.check_release(
        f"http://127.0.0.1:{port}", "v1", patience=smoke.Patience(consecutive=1, timeout=0.1, interval=0.05)
    )
    assert not report.ok
    assert "no answer (ConnectionError" in report.problems[0]
    assert report.problems[1].startswith("/healthz gave no answer")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("example.com", "must be an http:// or https:// URL"),
        ("ftp://example.com", "must be an http:// or https:// URL"),
        ("https://example.com/app", "must not have a path"),
        ("https://example.com:99999", "invalid port"),
    ],
)
def test_unusable_base_url_is_one_clear_problem(url: str, words: str) -> None:
    report = smoke.check_release(url, "v1")
    assert len(report.problems) == 1 and words in report.problems[0]
    assert report.observations == []


@pytest.mark.parametrize(
    ("consecutive", "timeout", "interval", "refusal"),
    [
        (0, 10.0, 1.0, "consecutive must be ≥ 1"),
        (3, 10.0, 0.0, "interval must be > 0 s"),
        (5, 4.9, 1.0, "timeout 4.9 s is shorter than 5 polls 1 s apart"),  # the streak could never complete
    ],
)
def test_a_patience_that_could_never_pass_is_refused(
    consecutive: int, timeout: float, interval: float, refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        smoke.Patience(consecutive=consecutive, timeout=timeout, interval=interval)


def test_a_patience_just_long_enough_for_its_streak_is_accepted() -> None:
    assert smoke.Patience(consecutive=5, timeout=5.0, interval=1.0).problem() is None


def test_local_patience_sees_every_local_pod_in_its_streak() -> None:
    # One local nginx round-robins over the ready pods: a streak at least as long as the pods means each
    # of them answered the new version (every stable pod; every canary pod even at 100 %).
    assert smoke.LOCAL_RELEASE_PATIENCE.consecutive >= DEFAULT_REPLICAS
    assert smoke.LOCAL_CANARY_PATIENCE.consecutive >= canary_replicas(DEFAULT_REPLICAS, 100)
    # The same checks at a human scale: the local ones give up sooner.
    assert smoke.LOCAL_RELEASE_PATIENCE.timeout < smoke.RELEASE_PATIENCE.timeout
    assert smoke.LOCAL_CANARY_PATIENCE.timeout < smoke.CANARY_PATIENCE.timeout


def test_page_version_reads_the_version_element_only() -> None:
    assert smoke.page_version('<p>v9</p><p class="version" id="version"> <b>v1.2.3</b> </p><p>v8</p>') == "v1.2.3"
    assert smoke.page_version("<p>v1.2.3</p>") is None


@pytest.mark.process
def test_command_line_exit_codes(app_v1: RunningApp, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--consecutive", "1", "--timeout", "0.5", "--interval", "0.05"]
    assert smoke.main([app_v1.url, "v1.0.0", *args]) == 0
    assert "passed" in capsys.readouterr().out
    assert smoke.main([app_v1.url, "v9.9.9", *args]) == 1
    assert "FAILED" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        smoke.main([app_v1.url, "v1.0.0", "--consecutive", "0"])
    assert usage.value.code == 2
    assert "--consecutive must be ≥ 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        smoke.main([app_v1.url, "v1.0.0", "--consecutive", "5", "--timeout", "2", "--interval", "1"])
    assert usage.value.code == 2
    assert "--timeout 2 s is shorter than 5 polls 1 s apart" in capsys.readouterr().err


@pytest.mark.process
def test_polling_waits_through_a_real_rollout(local_rollout: LocalRollout) -> None:
    """Started before `deploy`, the check sees the old version answer, then only the new one."""
    polled = local_rollout.polled_during_rollout
    assert polled.ok, polled.problems
    seen = [o.seen for o in polled.observations]
    assert seen[0] == LOCAL_FIRST_VERSION
    assert seen[-4:] == [LOCAL_RELEASED_VERSION] * 4
    assert all(o.status == 200 for o in polled.observations), smoke.tally(polled.observations)
