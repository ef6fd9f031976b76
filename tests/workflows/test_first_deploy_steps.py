"""The workflows on a stack's first deploy, and the one source of its settings (README "First deploy", "Settings").

The scripts that read a stack's outputs run for real in bash, with a fake `pulumi` on PATH answering as
the CLI does for a stack with an app, a stack after its platform phase (no imageTag output), and a stack
that does not exist.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.actions_model import step_key
from harness.workflow_files import REPO_ROOT, Workflow

FAKE_PULUMI = """#!/bin/sh
# `pulumi login …` succeeds; `pulumi stack output --json --stack S` prints $FAKE_OUTPUTS, or fails like a missing stack.
case "$1" in
  login) exit 0 ;;
  stack)
    if [ -z "$FAKE_OUTPUTS" ]; then echo "error: no stack named '$5' found" >&2; exit 255; fi
    printf '%s' "$FAKE_OUTPUTS" ;;
  *) echo "unexpected: pulumi $*" >&2; exit 2 ;;
esac
"""
WITH_APP = '{"imageTag": "v1.2.2", "imageDigest": "sha256:' + "2" * 64 + '", "url": "https://x"}'
PLATFORM_PHASE = '{"nextStep": "Stack int is in its platform phase", "clusterName": "example-app-int"}'


def _run_step(script: str, tmp_path: Path, outputs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    github_output = tmp_path / "github_output"
    github_output.write_text("", encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_OUTPUT": str(github_output),
        "STACK": "int",
        "RELEASE_TAG": "v1.2.3",
        "PULUMI_ORG": "acme",
        "FAKE_OUTPUTS": outputs,
    }
    result = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=10, check=False
    )
    written = dict(line.split("=", 1) for line in github_output.read_text(encoding="utf-8").splitlines())
    return result, written


def _step(job: dict[str, Any], key: str) -> dict[str, Any]:
    return next(step for step in job["steps"] if step_key(step) == key)


def test_the_deploy_reads_the_running_tag_as_its_rollback_target(deploy_stack: dict[str, Any], tmp_path: Path) -> None:
    result, written = _run_step(_step(deploy_stack, "before")["run"], tmp_path, WITH_APP)
    assert result.returncode == 0, result.stderr
    assert written == {"stack": "acme/int", "tag": "v1.2.2"}
    assert "::notice title=Rollback target::int runs v1.2.2" in result.stdout


def test_a_stack_after_its_platform_phase_has_no_rollback_target_and_the_up_creates_the_app(
    deploy_stack: dict[str, Any], tmp_path: Path
) -> None:
    result, written = _run_step(_step(deploy_stack, "before")["run"], tmp_path, PLATFORM_PHASE)
    assert result.returncode == 0, result.stderr
    assert written == {"stack": "acme/int"}  # no tag: the rollback steps never run (tests/workflows/test_pipeline.py)
    assert "::warning title=No rollback target::int runs no app yet (no imageTag output): this up creates it" in (
        result.stdout
    )


def test_a_stack_that_does_not_exist_stops_the_deploy_and_names_the_platform_phase(
    deploy_stack: dict[str, Any], tmp_path: Path
) -> None:
    result, _ = _run_step(_step(deploy_stack, "before")["run"], tmp_path, "")
    assert result.returncode == 1
    assert result.stdout.startswith("::error title=Cannot read acme/int::")
    assert 'needs its platform phase first: pulumi up -s int without imageTag (README "First deploy")' in result.stdout


@pytest.mark.parametrize(("outputs", "tag"), [(WITH_APP, "v1.2.2"), (PLATFORM_PHASE, "")])
def test_ci_previews_the_running_release_or_the_platform_phase(
    workflows: dict[str, Workflow], tmp_path: Path, outputs: str, tag: str
) -> None:
    preview = workflows["ci.yml"].jobs["preview"]
    result, written = _run_step(_step(preview, "deployed")["run"], tmp_path, outputs)
    assert result.returncode == 0, result.stderr
    assert written.get("tag", "") == tag
    if not tag:
        assert "previewing its platform phase" in result.stdout
    # The preview runs in both cases: an empty imageTag is the program's platform phase.
    assert _step(preview, "pulumi preview")["if"] == "steps.credentials.outputs.configured == 'true'"


def test_a_release_checks_the_one_time_setup_before_it_assumes_a_role(workflows: dict[str, Workflow]) -> None:
    for job in (workflows["deploy.yml"].jobs["build"], workflows["deploy-stack.yml"].jobs["deploy"]):
        keys = [step_key(step) for step in job["steps"]]
        check = keys.index("Check the one-time setup")
        assumes = next(i for i, s in enumerate(job["steps"]) if "configure-aws-credentials" in s.get("uses", ""))
        assert check < assumes
        step = job["steps"][check]
        assert step["run"] == "python3 .github/scripts/release.py check-setup"
        given = {**job.get("env", {}), **step["env"]}
        for name in ("DEPLOY_STACK", "AWS_DEPLOY_ROLE_ARN", "AWS_REGION", "ECR_REPOSITORY"):
            assert given.get(name), f"{name} does not reach the setup check"


# ---------------------------------------------------------------- one source of settings: the committed files


def _pulumi_steps(workflows: dict[str, Workflow]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{workflow.name}:{step_key(step)}", step)
        for workflow in workflows.values()
        for job in workflow.jobs.values()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("pulumi/actions@") and step.get("with", {}).get("command")
    ]


def test_every_pulumi_run_in_ci_passes_only_the_release_and_reads_the_committed_stack_file(
    workflows: dict[str, Workflow],
) -> None:
    steps = _pulumi_steps(workflows)
    assert len(steps) == 4  # the release's policy preview, its up, the rollback's up, CI's preview
    for where, step in steps:
        settings = step["with"]
        config = yaml.safe_load(settings["config-map"])
        assert set(config) == {"imageTag", "imageDigest"}, where
        # pulumi/actions v7.0.0 src/main.ts: LocalWorkspace.selectStack in `work-dir` (default ./, the
        # checkout), then setAllConfig(config-map) on top of that directory's Pulumi.<stack>.yaml.
        assert "work-dir" not in settings and "upsert" not in settings, where
        assert "secrets-provider" not in settings, where
    for workflow in workflows.values():
        assert "config set" not in workflow.text and "config-file" not in workflow.text, workflow.name
        assert "PULUMI_CONFIG:" not in workflow.text, workflow.name  # no config handed over the environment


def test_committed_stack_files_hold_settings_never_a_release() -> None:
    # What a deploy or the canary driver passes with `-c` lands in the working copy's stack file
    # (`pulumi up --config` saves it): it must not be committed, or every deploy would start from it.
    per_release = {"imageTag", "imageDigest", "canaryTag", "canaryWeight"}
    for path in sorted(REPO_ROOT.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
        committed = {key.split(":", 1)[1] for key in config if key.startswith("example-app:")}
        assert not committed & per_release, (
            f"{path.name} holds {committed & per_release}; remove them (`pulumi config rm`)"
        )


def test_stack_files_are_not_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "Pulumi.int.yaml", "Pulumi.stg.yaml", "Pulumi.prd.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    # Exit 1: none is ignored; 0 lists the ignored ones; 128 is git's own failure.
    assert ignored.returncode == 1, f"git-ignored (CI would not see them): {ignored.stdout}{ignored.stderr}"
