"""The deploy workflows' script: release-tag checks and the job summary, run as the workflows run it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.workflow_files import REPO_ROOT

SCRIPT = REPO_ROOT / ".github" / "scripts" / "release.py"
DIGEST = "sha256:" + "a" * 64


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The workflows call it with the runner's python3 before any virtualenv exists: stdlib only.
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("tag", ["v1.2.3", "v0.0.1", "v10.20.30", "v1.2.3-rc.1", "v2.0.0-beta-2"])
def test_release_tags_pass(tag: str) -> None:
    result = _run("check-tag", tag)
    assert result.returncode == 0, result.stdout
    assert f"{tag} is a valid release tag." in result.stdout


@pytest.mark.parametrize(
    "tag",
    ["", "1.2.3", "v1.2", "v01.2.3", "v1.2.3+build.5", "latest", "v1.2.3;rm -rf /", "v1.2.3'", "v1.2.3-" + "x" * 130],
)
def test_other_tags_fail_with_one_sentence(tag: str) -> None:
    result = _run("check-tag", env={"RELEASE_TAG": tag})
    assert result.returncode == 2
    assert result.stdout.startswith("::error title=Invalid release tag::")
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stdout.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """JUnit files of two real pytest runs: all checks passing (False) and one failing (True)."""
    folder = tmp_path_factory.mktemp("smoke")
    return {fail: _smoke_report(folder, fail=fail) for fail in (False, True)}


def _smoke_report(tmp_path: Path, *, fail: bool) -> Path:
    """Run a real pytest with one passing and (optionally) one failing check; return its JUnit file."""
    suite = tmp_path / f"test_smoke_{'bad' if fail else 'good'}.py"
    suite.write_text(
        textwrap.dedent(
            f"""
            def test_version_is_expected():
                assert {"False, 'version: saw v1.2.2 on 5 of 5 requests, expected v1.2.3'" if fail else "True"}

            def test_health_answers_200():
                assert True
            """
        ),
        encoding="utf-8",
    )
    report = tmp_path / f"{suite.stem}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", str(suite)],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return report


def _summary(tmp_path: Path, **deploy: str) -> tuple[subprocess.CompletedProcess[str], str]:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)} | {f"DEPLOY_{k.upper()}": v for k, v in deploy.items()}
    result = _run("summary", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, summary.read_text(encoding="utf-8")


def _deploy(**overrides: str) -> dict[str, str]:
    return {
        "stack": "stg",
        "tag": "v1.2.3",
        "digest": DIGEST,
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app",
        "url": "https://example-app.stg.example.com",
        "previous_tag": "v1.2.2",
    } | overrides


def test_a_good_release_summary_shows_url_version_digest_and_smoke_results(
    tmp_path: Path, reports: dict[bool, Path]
) -> None:
    report = reports[False]
    result, text = _summary(
        tmp_path, **_deploy(release_up="success", release_smoke="success", release_report=str(report))
    )
    assert "v1.2.3 is live on `stg` and passed the smoke suite." in text
    for expected in ("https://example-app.stg.example.com", "`v1.2.3`", DIGEST, "2 passed, 0 failed"):
        assert expected in text
    assert "Rollback" not in text
    assert result.stdout.startswith("::notice title=Deploy to stg::")


def test_a_rolled_back_release_says_what_failed_and_where_the_stack_is_now(
    tmp_path: Path, reports: dict[bool, Path]
) -> None:
    bad, good = reports[True], reports[False]
    result, text = _summary(
        tmp_path,
        **_deploy(
            release_up="success",
            release_smoke="failure",
            release_report=str(bad),
            previous_digest="sha256:" + "b" * 64,
            rollback_up="success",
            rollback_smoke="success",
            rollback_report=str(good),
        ),
    )
    assert "rolled back to v1.2.2, which is deployed again and passed the smoke suite" in text
    assert "the smoke suite failed" in text
    assert "1 passed, 1 failed" in text and "2 passed, 0 failed" in text
    assert "test_version_is_expected: AssertionError: version: saw v1.2.2 on 5 of 5 requests" in text
    assert result.stdout.startswith("::error title=Deploy to stg::")


def test_a_failed_rollback_asks_for_attention(tmp_path: Path) -> None:
    _, text = _summary(
        tmp_path,
        **_deploy(release_up="failure", release_smoke="skipped", rollback_up="failure", rollback_smoke="skipped"),
    )
    assert "`pulumi up` failed" in text
    assert "the rollback to v1.2.2 failed too; `stg` needs attention" in text
    assert "not run" in text


def test_a_first_deploy_that_fails_has_nothing_to_roll_back_to(tmp_path: Path) -> None:
    _, text = _summary(tmp_path, **_deploy(previous_tag="", release_up="failure", release_smoke="skipped"))
    assert "no previous tag to roll back to (first deploy)" in text


def test_a_failure_before_the_up_leaves_the_stack_unchanged(tmp_path: Path) -> None:
    _, text = _summary(tmp_path, **_deploy(digest="", release_up="skipped"))
    assert "was not deployed to `stg`" in text and "`stg` is unchanged" in text


def test_a_missing_or_broken_report_reads_as_not_run(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites><testsuite>", encoding="utf-8")
    _, text = _summary(tmp_path, **_deploy(release_up="success", release_smoke="failure", release_report=str(broken)))
    assert "failure (not run)" in text


SET_UP = {
    "DEPLOY_STACK": "stg",
    "AWS_DEPLOY_ROLE_ARN": "arn:aws:iam::123456789012:role/example-app-stg-deploy",
    "AWS_REGION": "eu-west-1",
    "ECR_REPOSITORY": "example-app",
}


def test_a_set_up_stack_passes_the_setup_check() -> None:
    result = _run("check-setup", env=SET_UP)
    assert result.returncode == 0, result.stdout
    assert result.stdout == "The GitHub variables stg needs are set.\n"


def test_a_release_before_the_setup_names_each_missing_variable_and_its_command() -> None:
    # A tag pushed before the stack's platform phase: GitHub hands the job empty variables.
    result = _run("check-setup", env={**SET_UP, "AWS_DEPLOY_ROLE_ARN": "", "ECR_REPOSITORY": " "})
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("::error title=stg is not set up::AWS_DEPLOY_ROLE_ARN is empty")
    assert (
        'gh variable set AWS_DEPLOY_ROLE_ARN --env stg --body "$(pulumi stack output ciDeployRoleArn -s stg)"'
        in (lines[0])
    )
    assert lines[1].startswith("::error title=stg is not set up::ECR_REPOSITORY is empty")
    assert 'README "First deploy"' in lines[1]
