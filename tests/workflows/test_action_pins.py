"""Every action the workflows run is pinned to a commit that was matched to its release tag at the source."""

from __future__ import annotations

import re

import pytest

from harness.action_releases import RELEASES, SUPPORTED_RUNTIMES
from harness.workflow_files import REPO_ROOT, ActionUse, Workflow, action_uses


@pytest.fixture(scope="module")
def uses(workflows: dict[str, Workflow]) -> list[ActionUse]:
    """Every `uses:` line that runs another repository's code, across all workflows."""
    found = [use for workflow in workflows.values() for use in action_uses(workflow)]
    assert len(found) >= 10, "the workflows run more actions than this found"
    return found


def test_every_action_is_pinned_to_a_commit_with_its_release_beside_it(uses: list[ActionUse]) -> None:
    for use in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", use.ref), f"{use.where}: pin {use.action} to a commit SHA"
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", use.comment), f"{use.where}: add `# vX.Y.Z` after the SHA"


def test_every_pin_is_a_release_checked_at_its_source(uses: list[ActionUse]) -> None:
    for use in uses:
        release = RELEASES.get(use.action)
        assert release, f"{use.where}: read {use.action} at its tag, then record it in action_releases.py"
        assert (use.ref, use.comment.strip()) == (release.commit, f"# {release.tag}"), (
            f"{use.where}: {use.action} is recorded as {release.tag} at {release.commit}; a new pin needs its tag "
            "read at the source (git rev-parse <tag>^{commit}, runs.using) and its row in action_releases.py updated"
        )


def test_no_action_runs_on_a_node_version_the_runners_removed(uses: list[ActionUse]) -> None:
    running = {use.action: RELEASES[use.action] for use in uses if use.action in RELEASES}
    retired = sorted(
        f"{action} {r.tag} ({r.runtime})" for action, r in running.items() if r.runtime not in SUPPORTED_RUNTIMES
    )
    assert not retired, f"move these to a release that runs on node24: {retired}"


def test_every_recorded_release_is_one_the_workflows_run(uses: list[ActionUse]) -> None:
    assert set(RELEASES) == {use.action for use in uses}, "action_releases.py lists an action nothing uses"


# aws-actions/configure-aws-credentials v6.2.3 src/index.ts (checked since v6.2.0): the step fails unless
# role-session-name has 2–64 characters, each matching JavaScript's [\w+=,.@-] (ASCII).
ROLE_SESSION_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")
# The expressions our session names use; each is the name of a stack (Pulumi.<stack>.yaml).
STACK_NAMED = {"matrix.stack", "inputs.environment"}


def test_every_role_session_name_is_one_configure_aws_credentials_accepts(workflows: dict[str, Workflow]) -> None:
    stacks = sorted(path.name.split(".")[1] for path in REPO_ROOT.glob("Pulumi.*.yaml"))
    assert stacks
    templates = [
        (f"{workflow.name}:{job_id}", str(step["with"]["role-session-name"]))
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert templates
    for where, template in templates:
        expressions = set(re.findall(r"\$\{\{\s*(.*?)\s*\}\}", template))
        assert expressions <= STACK_NAMED, f"{where}: which values can {expressions - STACK_NAMED} take? Add them here"
        for stack in stacks:
            name = re.sub(r"\$\{\{.*?\}\}", stack, template)
            assert ROLE_SESSION_NAME.fullmatch(name), f"{where}: role-session-name {name!r} would fail the step"
