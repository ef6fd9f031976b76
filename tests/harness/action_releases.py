"""The action releases the workflows may run, as read in each action's own repository: one row per action.

A `uses:` line names a commit; GitHub runs that commit whatever the `# vX.Y.Z` comment beside it says.
So each row records what was read at the tag, offline nothing else can vouch for a pin:
- `commit`: `git rev-parse <tag>^{commit}` in the action's repository, the tag on its default branch;
- `runtime`: `runs.using` of the action.yml at that commit (node24, composite or docker).
The workflow tests require every pin to be a row here, at that commit, with that tag in its comment. A
Dependabot pull request therefore fails them until someone has read the new tag the same way and
updated its row: no commit runs in CI or a deploy that nobody matched to its release.
"""

from __future__ import annotations

from dataclasses import dataclass

# actions/runner v2.336.0 src/Runner.Common/Constants.cs (NodeMigration): Node 24 became the runner's
# default on 2026-06-16 and Node 20 was removed on 2026-09-16; an action written for node20 now runs on
# Node 24 untested by its authors. Composite and docker actions bring their own runtime.
SUPPORTED_RUNTIMES = frozenset({"node24", "composite", "docker"})


@dataclass(frozen=True, kw_only=True)
class ActionRelease:
    """One release of an action, checked at its source."""

    tag: str
    """The release tag the `# …` comment beside the pin names."""
    commit: str
    """The commit that tag points to."""
    runtime: str
    """`runs.using` in the action.yml at that commit."""


# Read from each repository's snapshot (Aug 2026); where the move changed a major version, the inputs
# the workflows pass were checked against both action.yml files and the release notes (issue 10, part 5).
RELEASES: dict[str, ActionRelease] = {
    "actions/checkout": ActionRelease(
        tag="v6.0.0", commit="1af3b93b6815bc44a9784bd300feb67ff0d1eeb3", runtime="node24"
    ),
    "actions/setup-python": ActionRelease(
        tag="v6.1.0", commit="83679a892e2d95755f2dac6acb0bfd1e9ac5d548", runtime="node24"
    ),
    # v5 ran on node20; v6.0.0's only breaking change is node24 (CHANGELOG.md). v6.2.0 started
    # validating role-session-name (tested in test_action_pins.py); its new default session tags are
    # dropped for OIDC (src/assumeRole.ts assumeRoleWithOIDC), so the roles' trust policies need no
    # sts:TagSession. output-env-credentials still defaults to true without aws-profile (src/index.ts).
    "aws-actions/configure-aws-credentials": ActionRelease(
        tag="v6.2.3", commit="e6de054238d6b7531b4efff3b6587d9aade6a06c", runtime="node24"
    ),
    # v2.0.1 ran on node20; up to v2.1.7 action.yml changed only runs.using; index.js now prefers the
    # environment's credentials (those configure-aws-credentials exported), then EKS Pod Identity.
    "aws-actions/amazon-ecr-login": ActionRelease(
        tag="v2.1.7", commit="03f1aad4c6c7ffd436567f42f9384779290529bd", runtime="node24"
    ),
    # v3 ran on node20; v4 removed the inputs install, config and config-inline and stopped setting the
    # deprecated outputs endpoint, status and flags (none used here); no default changed (action.yml, src/).
    "docker/setup-buildx-action": ActionRelease(
        tag="v4.3.0", commit="37fe631027851001ddb9b187196cc803df7f5f0e", runtime="node24"
    ),
    # v6 ran on node20; v7's action.yml changed only runs.using. v7 dropped the DOCKER_BUILD_NO_SUMMARY
    # and DOCKER_BUILD_EXPORT_RETENTION_DAYS variables (unused here); a path context (`context: app`)
    # is passed through as before, and the default provenance attestation is unchanged (src/context.ts).
    "docker/build-push-action": ActionRelease(
        tag="v7.3.0", commit="53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", runtime="node24"
    ),
    "pulumi/actions": ActionRelease(tag="v7.0.0", commit="8e5e406f4007fca908480587cb9893c07090f58d", runtime="node24"),
}
