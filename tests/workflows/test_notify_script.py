"""The deploy workflow's chat notifications: what each event says, and that no webhook or a chat outage never
fails a deploy. The real POST goes to a fake chat webhook on loopback."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from harness.workflow_files import REPO_ROOT

SCRIPT = REPO_ROOT / ".github" / "scripts" / "notify.py"
DEPLOY = {"DEPLOY_STACK": "stg", "DEPLOY_TAG": "v1.3.0", "DEPLOY_PREVIOUS_TAG": "v1.2.0"}
GITHUB = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/example-app", "GITHUB_RUN_ID": "42"}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notify", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notify = _load()


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # As the workflow runs it: the runner's python3, stdlib only, before any virtualenv exists.
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class FakeChat(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        FakeChat.received.append(json.loads(self.rfile.read(length)))
        self.send_response(FakeChat.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def chat() -> Iterator[str]:
    FakeChat.received, FakeChat.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000"
    finally:
        server.shutdown()
        server.server_close()


def _report(tmp_path: Path, *, failed: int) -> Path:
    cases = "".join(
        f'<testcase name="test_{i}">' + ('<failure message="page answered 502"/>' if i < failed else "") + "</testcase>"
        for i in range(3)
    )
    path = tmp_path / "smoke-release.xml"
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite>{cases}</testsuite></testsuites>')
    return path


def test_each_event_says_what_happened() -> None:
    env = {**DEPLOY, **GITHUB, "DEPLOY_URL": "https://example-app.stg.example.org"}
    assert notify.message("started", env).splitlines() == [
        "Release v1.3.0 to stg started (running v1.2.0).",
        "https://github.com/acme/example-app/actions/runs/42",
    ]
    assert notify.message("passed", env).startswith(
        "Release v1.3.0 passed stg: deployed and smoke-tested at https://example-app.stg.example.org."
    )
    first = {**DEPLOY, "DEPLOY_PREVIOUS_TAG": ""}
    assert notify.message("started", first) == "Release v1.3.0 to stg started (running no app yet)."


def test_a_rollback_carries_the_smoke_report(tmp_path: Path) -> None:
    env = {**DEPLOY, "DEPLOY_RELEASE_REPORT": str(_report(tmp_path, failed=2))}
    text = notify.message("rolled-back", env)
    assert text.splitlines() == [
        "Release v1.3.0 to stg failed and was rolled back to v1.2.0. Smoke suite: 2 of 3 failed.",
        "• test_0: page answered 502",
        "• test_1: page answered 502",
    ]
    missing = {**DEPLOY, "DEPLOY_RELEASE_REPORT": str(tmp_path / "absent.xml")}
    assert "did not run" in notify.message("rolled-back", missing)


def test_without_a_webhook_the_job_gets_a_notice_and_goes_on() -> None:
    result = _run("started", env=DEPLOY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("::notice title=No chat notification::CHAT_WEBHOOK_URL is not set; skipped:")
    assert "Release v1.3.0 to stg started" in result.stdout


def test_the_webhook_receives_the_message(chat: str) -> None:
    assert notify.post(chat, "Release v1.3.0 passed stg") is None
    assert FakeChat.received == [{"text": "Release v1.3.0 passed stg"}]


def test_a_chat_outage_is_a_warning_not_a_failed_deploy(chat: str, capsys: pytest.CaptureFixture[str]) -> None:
    FakeChat.status = 500
    problem = notify.post(chat, "x")
    assert problem == "the chat webhook answered HTTP 500"
    assert chat not in problem  # the URL is a secret
    closed = chat.rsplit(":", 1)[0] + ":1/hooks"  # nothing listens on port 1
    assert notify.post(closed, "x") == "the chat webhook could not be reached (ConnectionRefusedError)"
    # main() turns either into a warning and exit 0.
    notify.post, saved = (lambda url, text: "the chat webhook answered HTTP 500"), notify.post
    try:
        assert notify.main(["passed"], {**DEPLOY, "CHAT_WEBHOOK_URL": "https://hooks.example.org/T0"}) == 0
    finally:
        notify.post = saved
    out = capsys.readouterr().out
    assert out.startswith("::warning title=Chat notification not sent::the chat webhook answered HTTP 500")
    assert "hooks.example.org" not in out


def test_a_webhook_that_is_not_https_is_never_called(capsys: pytest.CaptureFixture[str]) -> None:
    assert notify.main(["started"], {**DEPLOY, "CHAT_WEBHOOK_URL": "http://hooks.example.org/T0"}) == 0
    assert "is not an https:// URL" in capsys.readouterr().out


def test_the_module_doc_lists_every_event() -> None:
    doc = textwrap.dedent(notify.__doc__ or "")
    assert all(f"notify.py {event}" in doc for event in notify.EVENTS)


def test_the_deploy_job_notifies_at_each_stage_with_the_secret() -> None:
    from harness.workflow_files import WORKFLOWS_DIR, load_workflow

    workflow = load_workflow(WORKFLOWS_DIR / "deploy-stack.yml")
    steps = workflow.jobs["deploy"]["steps"]
    names = [step.get("name", "") for step in steps]
    notified = {step["run"].split()[-1]: step for step in steps if "scripts/notify.py" in step.get("run", "")}
    assert set(notified) == set(notify.EVENTS)
    for step in notified.values():
        assert step["env"]["CHAT_WEBHOOK_URL"] == "${{ secrets.CHAT_WEBHOOK_URL }}"
    # started before anything changes, passed right after the release's smoke suite, rolled back after the rollback.
    assert names.index(notified["started"]["name"]) < names.index("Deploy the release (pulumi up)")
    assert names.index(notified["passed"]["name"]) == names.index("Smoke-test the release") + 1
    assert "if" not in notified["passed"]  # only when every step before it succeeded
    assert notified["rolled-back"]["if"] == "failure() && steps.rollback-up.outcome == 'success'"
    assert notified["rolled-back"]["env"]["DEPLOY_RELEASE_REPORT"] == "smoke-release.xml"
    # Every caller hands the secret on.
    for caller in ("deploy.yml", "deploy-manual.yml"):
        jobs = load_workflow(WORKFLOWS_DIR / caller).jobs.values()
        calls = [job for job in jobs if str(job.get("uses", "")).endswith("deploy-stack.yml")]
        assert calls and all(job["secrets"]["CHAT_WEBHOOK_URL"] == "${{ secrets.CHAT_WEBHOOK_URL }}" for job in calls)
