"""The delivery pipeline's promises, read from the workflow files: order, gates, rollback, concurrency."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from harness.actions_model import JobRun, run_job, step_key
from harness.project_files import stack_names
from harness.workflow_files import REPO_ROOT, Workflow

# The promotion order is the pipeline's decision, written here and in deploy.yml; which stacks exist is the
# stack files' (test_the_workflows_name_exactly_the_stacks_the_files_define).
CHAIN = ("int", "stg", "prd")
GATED = ("stg", "prd")
REUSABLE = "$/.github/workflows/deploy-stack.yml"
RELEASE = "v1.2.3"
PREVIOUS = "v1.2.2"


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def _ancestors(jobs: dict[str, dict[str, Any]], job_id: str) -> set[str]:
    found: set[str] = set()
    pending = list(_needs(jobs[job_id]))
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(_needs(jobs[current]))
    return found


def _steps_by_key(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step_key(step): step for step in job["steps"]}


def _order(job: dict[str, Any]) -> list[str]:
    return [step_key(step) for step in job["steps"]]


# --- order and gates -----------------------------------------------------------------------------


def test_a_tag_builds_once_then_deploys_int_then_stg_then_prd(workflows: dict[str, Workflow]) -> None:
    deploy = workflows["deploy.yml"]
    assert deploy.triggers == {"push": {"tags": ["v*"]}}
    jobs = deploy.jobs
    assert set(CHAIN) <= set(jobs)
    assert _ancestors(jobs, "int") == {"build"}
    assert _ancestors(jobs, "stg") == {"build", "int"}
    assert _ancestors(jobs, "prd") == {"build", "int", "stg"}
    for stack in CHAIN:
        job = jobs[stack]
        assert job["uses"] == REUSABLE, f"{stack} must deploy through the shared workflow"
        assert job["with"]["environment"] == stack
        assert job["with"]["tag"] == "${{ github.ref_name }}"
        assert job["with"]["digest"] == "${{ needs.build.outputs.digest }}", "deploy the digest that was built"
        assert "if" not in job, f"{stack} must run only when every earlier stage succeeded"


def _deployed_stacks(workflows: dict[str, Workflow]) -> dict[str, list[str]]:
    """Where each workflow names stacks: the release chain's jobs, the manual choice, CI's preview matrix."""
    chain = [job["with"]["environment"] for job in workflows["deploy.yml"].jobs.values() if job.get("uses") == REUSABLE]
    manual = workflows["deploy-manual.yml"].triggers["workflow_dispatch"]["inputs"]["environment"]["options"]
    preview = [entry["stack"] for entry in workflows["ci.yml"].jobs["preview"]["strategy"]["matrix"]["include"]]
    return {"deploy.yml jobs": chain, "deploy-manual.yml options": manual, "ci.yml preview matrix": preview}


def test_the_workflows_name_exactly_the_stacks_the_files_define(workflows: dict[str, Workflow]) -> None:
    stacks = sorted(stack_names())
    assert stacks, "no Pulumi.<stack>.yaml found"
    for where, named in _deployed_stacks(workflows).items():
        assert sorted(named) == stacks, f"{where} names {named}; the stack files define {stacks}"
    assert sorted(CHAIN) == stacks, "the release chain must promote through every stack"


def test_the_stacks_are_the_stack_files_beside_the_project_file(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.prd.yaml", "Pulumi.dev.yaml", "Pulumi.int.yaml.orig", "README.md"):
        (tmp_path / name).touch()
    assert stack_names(tmp_path) == ("dev", "prd")


def test_the_build_pushes_app_dockerfile_with_buildx_tagged_with_the_git_tag(workflows: dict[str, Workflow]) -> None:
    build = workflows["deploy.yml"].jobs["build"]
    uses = [step.get("uses", "").split("@")[0] for step in build["steps"]]
    assert "docker/setup-buildx-action" in uses
    assert uses.index("docker/setup-buildx-action") < uses.index("docker/build-push-action")
    push = next(step for step in build["steps"] if step.get("uses", "").startswith("docker/build-push-action@"))
    assert push["with"]["context"] == "app"
    assert push["with"]["file"] == "app/Dockerfile"
    assert push["with"]["push"] is True
    assert push["with"]["tags"].endswith(":${{ github.ref_name }}")
    assert "VERSION=${{ github.ref_name }}" in push["with"]["build-args"]
    assert "cache-from" not in push["with"], "a release image must not be built from a cache others can write"
    assert build["outputs"]["digest"] == f"${{{{ steps.{push['id']}.outputs.digest }}}}"


def test_stg_and_prd_run_in_their_gated_environment_and_int_in_its_own(
    workflows: dict[str, Workflow], deploy_stack: dict[str, Any]
) -> None:
    # The called job's environment is the caller's `environment` input: stg and prd jobs run in the
    # `stg` and `prd` GitHub environments, whose required reviewers are the manual gates.
    assert deploy_stack["environment"]["name"] == "${{ inputs.environment }}"
    inputs = workflows["deploy-stack.yml"].triggers["workflow_call"]["inputs"]
    assert inputs["environment"]["required"] is True
    for stack in GATED:
        assert workflows["deploy.yml"].jobs[stack]["with"]["environment"] == stack
    manual = workflows["deploy-manual.yml"].triggers["workflow_dispatch"]["inputs"]
    assert manual["environment"]["type"] == "choice"
    assert manual["environment"]["options"] == list(CHAIN)
    assert manual["tag"]["required"] is True


def test_a_manual_deploy_checks_the_tag_before_deploying_and_uses_the_same_steps(
    workflows: dict[str, Workflow], deploy_stack: dict[str, Any]
) -> None:
    jobs = workflows["deploy-manual.yml"].jobs
    assert jobs["deploy"]["uses"] == REUSABLE
    assert _needs(jobs["deploy"]) == {"check-tag"}
    assert any("release.py check-tag" in step.get("run", "") for step in jobs["check-tag"]["steps"])
    # Inside the shared job the image must be found in ECR before `pulumi up` may run.
    order = _order(deploy_stack)
    assert order.index("image") < order.index("release-up")
    assert "aws ecr describe-images" in _steps_by_key(deploy_stack)["image"]["run"]


# --- rollback ------------------------------------------------------------------------------------


def test_the_deployed_tag_is_read_before_the_up(deploy_stack: dict[str, Any]) -> None:
    order = _order(deploy_stack)
    assert order.index("before") < order.index("release-up") < order.index("release-smoke")
    script = _steps_by_key(deploy_stack)["before"]["run"]
    assert 'pulumi stack output --json --stack "$stack"' in script
    assert '.get("imageTag")' in script
    assert "exit 1" in script, "unreadable outputs must stop the deploy, not look like a first deploy"


def test_the_up_and_the_rollback_set_the_image_tag_and_digest(deploy_stack: dict[str, Any]) -> None:
    steps = _steps_by_key(deploy_stack)
    for key, tag, digest in (
        ("release-up", "inputs.tag", "steps.image.outputs.digest"),
        ("rollback-up", "steps.before.outputs.tag", "steps.previous.outputs.digest"),
    ):
        step = steps[key]
        assert step["uses"].startswith("pulumi/actions@")
        assert step["with"]["command"] == "up"
        config = step["with"]["config-map"]
        assert re.search(r"imageTag: \{value: '\$\{\{ " + re.escape(tag) + r" \}\}'", config), config
        assert re.search(r"imageDigest: \{value: '\$\{\{ " + re.escape(digest) + r" \}\}'", config), config
        assert "continue-on-error" not in step, "a failed up must fail the job"


def test_both_smoke_runs_use_the_readme_command_against_the_stack_url(deploy_stack: dict[str, Any]) -> None:
    steps = _steps_by_key(deploy_stack)
    for key, up, version in (
        ("release-smoke", "release-up", "$RELEASE_TAG"),
        ("rollback-smoke", "rollback-up", "$PREVIOUS_TAG"),
    ):
        step = steps[key]
        assert step["env"]["URL"] == f"${{{{ steps.{up}.outputs.url }}}}"
        assert "pytest tests/smoke" in step["run"]
        assert f'--base-url "$URL" --expected-version "{version}"' in step["run"]
        # Without --base-url the suite tests a local environment: an empty URL must fail, not pass.
        assert '[ -n "$URL" ] ||' in step["run"]


def _simulate(deploy_stack: dict[str, Any], failing: set[str], previous: str = PREVIOUS) -> JobRun:
    outputs = {
        "image": {"digest": "sha256:" + "1" * 64, "image": "123.dkr.ecr.eu-west-1.amazonaws.com/example-app"},
        "before": {"stack": "int", **({"tag": previous} if previous else {})},
        "release-up": {"url": "https://example-app.int.example.com"},
        "previous": {"digest": "sha256:" + "2" * 64},
        "rollback-up": {"url": "https://example-app.int.example.com"},
    }
    inputs = {"environment": "int", "tag": RELEASE, "digest": ""}
    return run_job(deploy_stack, inputs=inputs, failing=failing, outputs=outputs)


ROLLBACK_STEPS = ("previous", "rollback-up", "rollback-smoke")
SUMMARY = "Write the job summary"


def test_a_good_release_never_rolls_back_and_still_writes_its_summary(deploy_stack: dict[str, Any]) -> None:
    run = _simulate(deploy_stack, failing=set())
    assert not run.failed
    assert run.did_run("release-up") and run.did_run("release-smoke")
    assert not any(run.did_run(step) for step in ROLLBACK_STEPS)
    assert run.did_run(SUMMARY)


@pytest.mark.parametrize("broken", ["release-up", "release-smoke"])
def test_a_failed_up_or_smoke_suite_redeploys_the_previous_tag_and_fails_the_job(
    deploy_stack: dict[str, Any], broken: str
) -> None:
    run = _simulate(deploy_stack, failing={broken})
    assert run.failed, "the job must fail even when the rollback succeeds"
    assert all(run.did_run(step) for step in ROLLBACK_STEPS)
    assert run.did_run(SUMMARY)


def test_a_failed_rollback_is_not_smoke_tested_and_the_summary_still_runs(deploy_stack: dict[str, Any]) -> None:
    run = _simulate(deploy_stack, failing={"release-smoke", "rollback-up"})
    assert run.failed
    assert run.did_run("rollback-up") and not run.did_run("rollback-smoke")
    assert run.did_run(SUMMARY)


@pytest.mark.parametrize(
    ("case", "failing", "previous"),
    [
        ("first deploy: nothing to roll back to", {"release-up"}, ""),
        ("the failed tag was already deployed", {"release-smoke"}, RELEASE),
        ("image missing from ECR: nothing was changed", {"image"}, PREVIOUS),
        ("bad tag: nothing was changed", {"Check the release tag"}, PREVIOUS),
        ("a policy violation: nothing was changed", {"policy-preview"}, PREVIOUS),
    ],
)
def test_no_rollback_when_there_is_nothing_to_roll_back(
    deploy_stack: dict[str, Any], case: str, failing: set[str], previous: str
) -> None:
    run = _simulate(deploy_stack, failing=failing, previous=previous)
    assert run.failed, case
    assert not any(run.did_run(step) for step in ROLLBACK_STEPS), case
    assert run.did_run(SUMMARY), case


def test_a_failure_before_the_up_does_not_deploy(deploy_stack: dict[str, Any]) -> None:
    run = _simulate(deploy_stack, failing={"before"})
    assert not run.did_run("release-up")
    assert not run.did_run("rollback-up")


# --- the policy pack -------------------------------------------------------------------------------

POLICY_PACK = "infra/policy_pack"


def test_every_pulumi_preview_and_up_runs_the_policy_pack(workflows: dict[str, Workflow]) -> None:
    operations = [
        (f"{workflow.name}:{job_id}:{step_key(step)}", step["with"])
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("pulumi/actions@") and "command" in step.get("with", {})
    ]
    assert {where.rsplit(":", 1)[-1] for where, _ in operations} >= {"policy-preview", "release-up", "rollback-up"}
    for where, inputs in operations:
        assert inputs["command"] in ("preview", "up"), where
        # The input's name is camelCase in pulumi/actions v7.0.0's action.yml (not policy-packs).
        assert inputs.get("policyPacks") == POLICY_PACK, f"{where} must run the policy pack"
    assert (REPO_ROOT / POLICY_PACK / "PulumiPolicy.yaml").is_file()


def test_the_policies_are_checked_before_the_release_changes_anything(deploy_stack: dict[str, Any]) -> None:
    steps = _steps_by_key(deploy_stack)
    order = _order(deploy_stack)
    assert order.index("before") < order.index("policy-preview") < order.index("release-up")
    preview = steps["policy-preview"]
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["config-map"] == steps["release-up"]["with"]["config-map"], "preview what the up deploys"
    assert "continue-on-error" not in preview and "if" not in preview
    run = _simulate(deploy_stack, failing={"policy-preview"})
    assert run.failed and not run.did_run("release-up") and not run.did_run("rollback-up")


def test_ci_proves_the_pack_on_the_real_engine(workflows: dict[str, Workflow]) -> None:
    job = workflows["ci.yml"].jobs["policy-pack"]
    runs = [step.get("run") for step in job["steps"]]
    assert runs[-1] == ".ci/policy-pack.sh"
    assert "make .venv/.installed" in runs, "the pack runs in the program's virtualenv"
    assert any(step.get("uses", "").startswith("pulumi/actions@") for step in job["steps"]), "the pinned CLI"
    assert job["permissions"] == {"contents": "read"}


# --- concurrency, permissions, injection (pins: test_action_pins.py) ----------------------------


def _jobs_running_pulumi_up(workflows: dict[str, Workflow]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for workflow in workflows.values():
        for job_id, job in workflow.jobs.items():
            steps = job.get("steps", [])
            if any(
                s.get("uses", "").startswith("pulumi/actions@") and s.get("with", {}).get("command") == "up"
                for s in steps
            ):
                found.append((workflow.name, job_id, job))
    return found


def test_every_job_that_runs_pulumi_up_holds_its_stack_lock_and_never_cancels(workflows: dict[str, Workflow]) -> None:
    deployers = _jobs_running_pulumi_up(workflows)
    assert [(name, job_id) for name, job_id, _ in deployers] == [("deploy-stack.yml", "deploy")]
    for _, _, job in deployers:
        assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}


def test_no_deploy_concurrency_group_anywhere_cancels(workflows: dict[str, Workflow]) -> None:
    for workflow in workflows.values():
        holders = [workflow.data, *workflow.jobs.values()]
        for holder in holders:
            concurrency = holder.get("concurrency")
            if isinstance(concurrency, dict) and str(concurrency["group"]).startswith("deploy-"):
                assert concurrency.get("cancel-in-progress") is False, workflow.name


def _assumes_aws_role(job: dict[str, Any], workflows: dict[str, Workflow]) -> bool:
    if "uses" in job:  # a reusable workflow call: it assumes a role when any of its jobs does
        called = workflows[job["uses"].rsplit("/", 1)[-1]]
        return any(_assumes_aws_role(inner, workflows) for inner in called.jobs.values())
    return any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for s in job.get("steps", []))


def test_permissions_are_empty_at_the_top_and_minimal_per_job(workflows: dict[str, Workflow]) -> None:
    for workflow in workflows.values():
        assert workflow.data.get("permissions") == {}, f"{workflow.name}: top-level permissions must be {{}}"
        for job_id, job in workflow.jobs.items():
            where = f"{workflow.name}:{job_id}"
            permissions = job.get("permissions")
            assert isinstance(permissions, dict), f"{where} must declare its permissions"
            assert permissions.get("contents") == "read", where
            assert set(permissions) <= {"contents", "id-token"}, f"{where} asks for more than it needs"
            if _assumes_aws_role(job, workflows):
                assert permissions.get("id-token") == "write", f"{where} assumes an AWS role through OIDC"
            else:
                assert "id-token" not in permissions, f"{where} gets an OIDC token it never uses"


def test_aws_credentials_come_only_from_oidc_role_assumption(workflows: dict[str, Workflow]) -> None:
    for workflow in workflows.values():
        assert "aws-access-key-id" not in workflow.text and "AWS_SECRET_ACCESS_KEY" not in workflow.text
        for job in workflow.jobs.values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                    assert set(step["with"]) == {"role-to-assume", "aws-region", "role-session-name"}


def _runs(workflows: dict[str, Workflow]) -> list[tuple[str, str]]:
    return [
        (f"{workflow.name}:{job_id}:{step_key(step)}", step["run"])
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        for step in job.get("steps", [])
        if "run" in step
    ]


def test_no_expression_is_pasted_into_a_script(workflows: dict[str, Workflow]) -> None:
    runs = _runs(workflows)
    assert len(runs) >= 10
    for where, script in runs:
        assert "${{" not in script, f"{where}: pass values through env:, never ${{{{ }}}} inside run:"


def test_checkouts_do_not_leave_the_token_in_git_config(workflows: dict[str, Workflow]) -> None:
    for workflow in workflows.values():
        for job in workflow.jobs.values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, workflow.name


def test_ci_runs_the_readme_test_command(workflows: dict[str, Workflow]) -> None:
    ci = workflows["ci.yml"]
    assert {"push", "pull_request"} <= set(ci.triggers)
    runs = [step.get("run") for step in ci.jobs["test"]["steps"]]
    assert ".ci/run" in runs
    ci_run = (ci.path.parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci_run, re.MULTILINE)


def test_every_job_has_a_timeout(workflows: dict[str, Workflow]) -> None:
    for workflow in workflows.values():
        for job_id, job in workflow.jobs.items():
            if "uses" not in job:
                assert 0 < job["timeout-minutes"] <= 60, f"{workflow.name}:{job_id}"


# --- CI's preview gate, run for real in bash --------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("", "", "false", "repository variable AWS_PREVIEW_ROLE_ARN_INT is not set"),
        ("arn:aws:iam::123456789012:role/example-app-int-preview", "", "false", "gets no OIDC token"),
        ("arn:aws:iam::123456789012:role/example-app-int-preview", "https://token.example/x", "true", ""),
    ],
)
def test_ci_previews_only_with_a_role_and_an_oidc_token_and_says_why_not(
    workflows: dict[str, Workflow], tmp_path: Path, case: tuple[str, str, str, str]
) -> None:
    role, token_url, configured, notice = case
    preview = workflows["ci.yml"].jobs["preview"]
    script = _steps_by_key(preview)["credentials"]["run"]
    output = tmp_path / "github_output"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GITHUB_OUTPUT": str(output),
        "STACK": "int",
        "ROLE_ARN": role,
        "ROLE_VARIABLE": "AWS_PREVIEW_ROLE_ARN_INT",
        **({"ACTIONS_ID_TOKEN_REQUEST_URL": token_url} if token_url else {}),
    }
    result = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=10, check=False
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8") == f"configured={configured}\n"
    if notice:
        assert result.stdout.startswith("::notice title=pulumi preview int skipped::") and notice in result.stdout
    else:
        assert result.stdout == ""
    # Every later step waits for that answer.
    for step in preview["steps"][1:]:
        assert (
            "steps.credentials.outputs.configured == 'true'" in step["if"] or "steps.deployed.outputs.tag" in step["if"]
        )


def test_every_pulumi_step_uses_one_pinned_cli_inside_the_sdk_range(workflows: dict[str, Workflow]) -> None:
    requirements = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    sdk = next(Requirement(line) for line in requirements if re.match(r"pulumi\s*[<>=~]", line))
    pins = set()
    for workflow in workflows.values():
        for job_id, job in workflow.jobs.items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("pulumi/actions@"):
                    assert step["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}", f"{workflow.name}:{job_id}"
                    pins.add(str(job["env"]["PULUMI_VERSION"]))
    assert len(pins) == 1, f"one Pulumi CLI for every job: {pins}"
    (pin,) = pins
    assert Version(pin) in sdk.specifier, f"CLI {pin} is outside the program's SDK range {sdk.specifier}"


def test_the_build_passes_only_build_args_the_dockerfile_declares(workflows: dict[str, Workflow]) -> None:
    build = workflows["deploy.yml"].jobs["build"]
    push = next(step for step in build["steps"] if step.get("uses", "").startswith("docker/build-push-action@"))
    passed = {line.split("=", 1)[0] for line in push["with"]["build-args"].splitlines() if line.strip()}
    declared = set(re.findall(r"^ARG (\w+)", (REPO_ROOT / "app" / "Dockerfile").read_text(), re.MULTILINE))
    assert passed == {"VERSION", "COMMIT", "BUILD_DATE"}
    assert passed <= declared, f"app/Dockerfile does not declare {passed - declared}"


def test_ci_tests_on_the_apps_base_image(workflows: dict[str, Workflow]) -> None:
    dockerfile = (REPO_ROOT / "app" / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base, "app/Dockerfile names its base in ARG PYTHON_IMAGE"
    assert workflows["ci.yml"].jobs["test"]["container"]["image"] == base.group(1)
