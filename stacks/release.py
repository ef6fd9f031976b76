"""What one `pulumi up` of a stack may deploy: the platform alone, or the app once its image is in ECR.

A new stack cannot start with its app: the deploy workflow's build job pushes the image, and it needs
the ECR repository and the CI role that the stack's own first `pulumi up` creates. So every stack goes
through the same three steps (README "First deploy"), and the program refuses any other order:

1. **platform phase** (no `imageTag`): network, cluster, platform charts, DNS, the registry and the CI
   roles; no app objects and no smoke test. The program says what to run next (`next_step`, also the
   stack output `nextStep`).
2. **the image**: a pushed release tag; the Deploy workflow's build job pushes `<repository>:<tag>`.
3. **the app** (`imageTag` set): the tag is looked up in ECR before any resource is registered, and
   the program stops with one message naming the tag, the repository and what to run when it is not
   there (`require_release_images`). Nothing is half-applied: no resource exists yet at that point.

Once a stack runs the app it never goes back to step 1: `imageTag` is never committed (the deploy jobs
pass it on the command line), so an operator's plain `pulumi up` has none, and a platform phase would
delete the running app. The program reads the stack's own last outputs (infra/stack_outputs.py; the app
phase exports `imageTag`) and refuses such a run before anything is registered, naming the deployed
release and the command that keeps it (`require_app_kept`).

    settings = load_settings()
    require_app_kept(settings, OwnStackOutputs())   # stops the program, or returns: no running app is lost
    require_release_images(settings, EcrImages())   # stops the program, or returns: the images are there
    if settings.platform_only:
        pulumi.export("nextStep", next_step(settings))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.registry import EcrRepository, ReleaseImages
from infra.stack_outputs import LastOutputs, StackOutputs
from stacks.settings import StackSettings

FIRST_DEPLOY = 'README "First deploy"'


def wanted_images(settings: StackSettings) -> list[tuple[str, str, str]]:
    """(config key, tag, digest the stack pins or "") of every image this update runs; none in the platform phase."""
    if settings.platform_only:
        return []
    wanted = [("imageTag", settings.app.image_tag, settings.app.image_digest)]
    if settings.release.step is not None:
        wanted.append(("canaryTag", settings.release.step.tag, ""))
    return wanted


def release_image_problems(settings: StackSettings, images: ReleaseImages) -> list[str]:
    """Why this update cannot deploy its images, each naming the tag, the repository and what to run; [] if it can."""
    wanted = wanted_images(settings)
    repository = EcrRepository.locate(settings.app.image_repository)
    if not wanted or repository is None:  # no app yet, or a registry the settings already refused
        return []
    problems = []
    for key, tag, digest in wanted:
        found = images.find(repository, tag)
        if not found.digest:
            if not images.repository_exists(repository):
                return [f"{_missing_repository(settings, repository, tag)} (ECR lookup: {found.error or 'no image'})"]
            problems.append(
                f"{key} {tag}: no such image in ECR repository {repository.display}. Push it first: push the git "
                f"tag {tag} (the Deploy workflow's build job pushes the image, then deploys it) or re-run its "
                f"failed build, or deploy a tag that is there (ECR lookup: {found.error or 'no image'})"
            )
        elif digest and found.digest != digest:
            problems.append(
                f"imageDigest {digest} is not the digest of {tag} in ECR repository {repository.display} "
                f"(ECR has {found.digest}): deploy the digest the build recorded, or leave imageDigest empty"
            )
    return problems


def _missing_repository(settings: StackSettings, repository: EcrRepository, tag: str) -> str:
    stack = settings.stack
    if settings.owns_registry:
        return (
            f"ECR repository {repository.display} does not exist yet, so image {tag} cannot be in it: this stack "
            f"creates it in its platform phase (if it does exist, this identity cannot read it: check the AWS "
            f"credentials). Run `pulumi up -s {stack}` without imageTag first "
            f"(`pulumi config rm -s {stack} imageTag` if Pulumi.{stack}.yaml holds one), then release {tag} "
            f"({FIRST_DEPLOY})"
        )
    return (
        f"ECR repository {repository.display} does not exist or this identity cannot read it, so image {tag} "
        "cannot be in it: run the platform phase of the stack that creates it (the one whose imageRepository is "
        f"the bare repository name) first, then release {tag} ({FIRST_DEPLOY})"
    )


def require_release_images(settings: StackSettings, images: ReleaseImages) -> None:
    """Stop the program (before any resource exists) unless every image this update runs is in ECR."""
    problems = release_image_problems(settings, images)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise pulumi.RunError(f"stack {settings.stack!r}: the app cannot be deployed; nothing was changed:\n{listing}")


@dataclass(frozen=True, kw_only=True)
class DeployedRelease:
    """The release a stack runs, as its last update's outputs record it (stacks/__main__.py exports them)."""

    tag: str
    """`imageTag`: the app's release."""
    digest: str = ""
    """`imageDigest`, when the deploy pinned one (a different image reference would roll the pods)."""
    canary_tag: str = ""
    """The running canary step's tag (the `release` output), if a canary step runs."""
    canary_weight: str = ""
    """That step's weight, as the config value `canaryWeight` takes it."""

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> DeployedRelease | None:
        """The release a stack's outputs record; None when they hold no `imageTag` (the stack runs no app)."""
        tag = outputs.get("imageTag")
        if not isinstance(tag, str) or not tag.strip():
            return None
        release = outputs.get("release")
        canary = release.get("canary") if isinstance(release, Mapping) else None
        step = canary if isinstance(canary, Mapping) else {}
        weight = step.get("weight")
        return cls(
            tag=tag.strip(),
            digest=str(outputs.get("imageDigest") or ""),
            canary_tag=str(step.get("tag") or ""),
            # Numbers come back from the state as floats (10.0); the config value is written 10.
            canary_weight=f"{weight:g}" if isinstance(weight, int | float) else str(weight or ""),
        )


def keep_app_command(stack: str, deployed: DeployedRelease) -> str:
    """The `pulumi up` that applies a change to `stack` and leaves its app exactly as deployed."""
    values = {
        "imageTag": deployed.tag,
        "imageDigest": deployed.digest,
        "canaryTag": deployed.canary_tag,
        "canaryWeight": deployed.canary_weight,
    }
    return " ".join([f"pulumi up -s {stack}", *(f"-c {key}={value}" for key, value in values.items() if value)])


def app_removal_problem(settings: StackSettings, outputs: LastOutputs) -> str:
    """Why this update must not run: no imageTag on a stack that runs the app (or cannot tell); "" when it may."""
    if not settings.platform_only:
        return ""
    stack = settings.stack
    if outputs.error:
        return (
            f"stack {stack!r}: cannot tell whether it runs the app, and an update without imageTag would delete it; "
            f"nothing was changed. Its last outputs could not be read ({outputs.error}): check the state backend "
            "login and this identity's access to the stack's state (README \"Releases\", one-time setup), or pass "
            f"the release it runs: `pulumi up -s {stack} -c imageTag=<its tag>` ({FIRST_DEPLOY})"
        )
    deployed = DeployedRelease.from_outputs(outputs.values)
    if deployed is None:  # a new stack, or one still in its platform phase
        return ""
    return (
        f"stack {stack!r} runs the app at {deployed.tag} (its last update's imageTag output), and this update has no "
        "imageTag: it would delete the app; nothing was changed. Apply your change and keep the app as deployed "
        f"with `{keep_app_command(stack, deployed)}` (`-c` also saves these values in your Pulumi.{stack}.yaml: "
        f"don't commit them). No update removes the app alone; `pulumi destroy -s {stack}` removes the whole stack "
        '(README "Teardown").'
    )


def require_app_kept(settings: StackSettings, outputs: StackOutputs) -> None:
    """Stop the program (before any resource exists) if an update without imageTag would delete a running app."""
    if not settings.platform_only:
        return  # an update with imageTag deploys that release: nothing to read
    problem = app_removal_problem(settings, outputs.last())
    if problem:
        raise pulumi.RunError(problem)


def next_step(settings: StackSettings) -> str:
    """What to run after a platform-phase `pulumi up`: the one message a new stack's operator reads."""
    stack, repository = settings.stack, settings.app.image_repository
    done = (
        f"Stack {stack} is in its platform phase: no imageTag, so everything but the app is deployed ({FIRST_DEPLOY})."
    )
    if not settings.ci.repository:
        then = (
            f"Next: set githubRepository (`pulumi config set -s {stack} githubRepository <owner>/<name>`, commit "
            f"Pulumi.{stack}.yaml) and run `pulumi up -s {stack}` again for the CI roles the Deploy workflow runs as."
        )
    elif settings.owns_registry:
        then = (
            f"Next: the one-time GitHub setup from this stack's outputs, then release: `git tag v0.1.0 && git push "
            f"origin v0.1.0` - the Deploy workflow's build job pushes the image to {repository} and its {stack} "
            "job deploys the app."
        )
    else:
        then = (
            f"Next: the one-time GitHub setup for {stack}; the Deploy workflow's {stack} job then deploys the app with "
            "the next release that passes the stages before it."
        )
    return f"{done} {then}"
