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

    settings = load_settings()
    require_release_images(settings, EcrImages())   # stops the program, or returns: the images are there
    if settings.platform_only:
        pulumi.export("nextStep", next_step(settings))
"""

from __future__ import annotations

import pulumi

from infra.registry import EcrRepository, ReleaseImages
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
    warning = (
        "If this stack already ran the app, this update removes it: pass the deployed tag instead "
        f"(`-c imageTag=$(pulumi stack output imageTag -s {stack})`)."
    )
    return f"{done} {then} {warning}"
