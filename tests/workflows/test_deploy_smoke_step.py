"""The deploy job's smoke steps, run as the runner runs them, against a real app over real TLS.

The workflow's own `run:` script (read from deploy-stack.yml) calls the real smoke suite against a
real gunicorn on loopback; then the job summary is written from the JUnit file it left. This is the
glue between the pipeline and tests/smoke: option names, the CA bundle for int's staging
certificates, the empty-URL guard and the report all have to line up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.appserver import RunningApp, make_certificate, serve_app
from harness.workflow_files import REPO_ROOT, load_workflow

pytestmark = pytest.mark.process

VERSION = "v7.7.7"
SCRIPT = REPO_ROOT / ".github" / "scripts" / "release.py"
# The runner's checkout: the repository's files at the workspace root, and the step writes its report there.
WORKSPACE_ENTRIES = (".venv", "app", "localenv", "tests", "pyproject.toml", ".github")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runner-like workspace: links to the repository's files, so reports land here, not in the repository."""
    root = tmp_path_factory.mktemp("workspace")
    for entry in WORKSPACE_ENTRIES:
        (root / entry).symlink_to(REPO_ROOT / entry)
    return root


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Path]]:
    """The app at VERSION behind HTTPS with a certificate no system trusts (like Let's Encrypt staging)."""
    folder = tmp_path_factory.mktemp("tls")
    certificate = make_certificate(folder)
    with serve_app(VERSION, folder, certfile=certificate.certfile, keyfile=certificate.keyfile) as running:
        yield running, certificate.certfile


def _step(name: str) -> dict[str, Any]:
    job = load_workflow(REPO_ROOT / ".github" / "workflows" / "deploy-stack.yml").data["jobs"]["deploy"]
    return next(step for step in job["steps"] if step.get("id") == name)


def _run_step(workspace: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    # GitHub runs `run:` scripts with `bash -e -o pipefail` (the default shell).
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=workspace,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _summary(workspace: Path, **deploy: str) -> str:
    summary = workspace / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "PATH": os.environ.get("PATH", "")}
    env |= {f"DEPLOY_{key.upper()}": value for key, value in deploy.items()}
    subprocess.run([sys.executable, str(SCRIPT), "summary"], env=env, cwd=workspace, check=True, timeout=30)
    text = summary.read_text(encoding="utf-8")
    summary.unlink()
    return text


def test_the_release_passes_its_smoke_step_with_the_ca_bundle(workspace: Path, app: tuple[RunningApp, Path]) -> None:
    running, ca_bundle = app
    step = _step("release-smoke")
    result = _run_step(workspace, step["run"], URL=running.url, RELEASE_TAG=VERSION, SMOKE_CA_BUNDLE=str(ca_bundle))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = workspace / "smoke-release.xml"
    text = _summary(
        workspace, stack="int", tag=VERSION, url=running.url, release_up="success", release_smoke="success",
        release_report=str(report),
    )  # fmt: skip
    assert f"{VERSION} is live on `int` and passed the smoke suite." in text
    smoke = next(line for line in text.splitlines() if line.startswith("| Smoke suite |"))
    passed = int(smoke.split("(")[1].split(" passed")[0])
    assert passed >= 3 and " 0 failed" in smoke, smoke  # version, health, page (and TLS) really ran


def test_a_wrong_version_fails_the_step_and_the_summary_names_the_check(
    workspace: Path, app: tuple[RunningApp, Path]
) -> None:
    running, ca_bundle = app
    result = _run_step(
        workspace,
        _step("release-smoke")["run"],
        URL=running.url,
        RELEASE_TAG="v7.7.8",
        SMOKE_CA_BUNDLE=str(ca_bundle),
        PYTEST_ADDOPTS="--smoke-timeout=2 --smoke-consecutive=1",  # the deployed app will never turn into v7.7.8
    )
    assert result.returncode != 0
    text = _summary(
        workspace, stack="int", tag="v7.7.8", url=running.url, previous_tag="", release_up="success",
        release_smoke="failure", release_report=str(workspace / "smoke-release.xml"),
    )  # fmt: skip
    assert "v7.7.8 failed on `int` (the smoke suite failed)" in text
    assert "### Smoke failures" in text and "v7.7.7" in text


def test_without_the_ca_bundle_an_untrusted_certificate_fails(workspace: Path, app: tuple[RunningApp, Path]) -> None:
    running, _ = app
    result = _run_step(
        workspace,
        _step("rollback-smoke")["run"],
        URL=running.url,
        PREVIOUS_TAG=VERSION,
        PYTEST_ADDOPTS="--smoke-timeout=2 --smoke-consecutive=1",
    )
    assert result.returncode != 0
    assert "TLS" in result.stdout


@pytest.mark.parametrize("step", ["release-smoke", "rollback-smoke"])
def test_an_empty_url_fails_instead_of_testing_something_else(workspace: Path, step: str) -> None:
    result = _run_step(workspace, _step(step)["run"], URL="", RELEASE_TAG=VERSION, PREVIOUS_TAG=VERSION)
    assert result.returncode == 1
    assert result.stdout.startswith("::error title=No URL::")
