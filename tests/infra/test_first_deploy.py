"""A stack's first deploy, phase by phase, through the real program under mocks (README "First deploy").

platform phase (no imageTag) → the image is pushed → the app (imageTag set, found in ECR). Each phase
registers exactly what it may; a release whose image is not in ECR stops before any resource exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from infra.registry import EcrRepository, ImageLookup
from stacks.release import next_step, release_image_problems
from stacks.settings import parse_settings
from tests.infra.conftest import (
    ACCOUNT_ID,
    NEXT_RELEASE_TAG,
    NOT_FOUND,
    PUSHED,
    RELEASE_TAG,
    STACKS,
    Graph,
    Run,
    as_config_strings,
    image_digest,
    stack_config,
)

RunProgram = Callable[..., Run]
PLATFORM = {"imageTag": None}
APP_TYPES = (
    "example-app:infra:Workload",
    "example-app:infra:Canary",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "pulumi-python:dynamic:Resource",  # the SmokeTest
)
PLATFORM_TYPES = (
    "example-app:infra:Network",
    "example-app:infra:Cluster",
    "example-app:infra:IngressController",
    "example-app:infra:CertIssuers",
    "example-app:infra:MetricsServer",
    "example-app:infra:Dns",
    "example-app:infra:ImageRegistry",
    "example-app:infra:CiAccess",
)
ECR_LOOKUPS = ("aws:ecr/getImage:getImage", "aws:ecr/getRepository:getRepository")
SHARED = f"{ACCOUNT_ID}.dkr.ecr.eu-central-1.amazonaws.com/example-app"
CI = {"githubRepository": "acme/example-app"}


def _types(graph: Graph) -> set[str]:
    return {r.type for r in graph.resources}


def _ecr_lookups(graph: Graph) -> list[tuple[str, dict[str, object], int]]:
    return [
        (lookup.token, lookup.args, lookup.registered_before) for lookup in graph.lookups if lookup.token in ECR_LOOKUPS
    ]


# ---------------------------------------------------------------- the platform phase


@pytest.mark.parametrize("stack", STACKS)
def test_without_an_image_tag_the_platform_is_built_and_no_app(
    stack: str, run_program: RunProgram, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        run = run_program(stack, {**PLATFORM, **CI}, images=None)  # a new account: no repository, no image
    assert run.stopped is None, run.stopped
    types = _types(run.graph)
    assert set(PLATFORM_TYPES) <= types
    assert types.isdisjoint(APP_TYPES), types & set(APP_TYPES)
    assert _ecr_lookups(run.graph) == [], "the platform phase has no image to look up"
    outputs = run.graph.outputs
    # The deploy workflow reads imageTag as "the app runs here" (its rollback target): absent until it does.
    assert {"imageTag", "imageDigest", "release"}.isdisjoint(outputs)
    assert {"clusterName", "imageRepository", "ciDeployRoleArn", "url"} <= set(outputs)
    message = outputs["nextStep"]
    assert message.startswith(f"Stack {stack} is in its platform phase")
    assert "git tag v0.1.0 && git push origin v0.1.0" in message
    assert (
        f"-c imageTag=$(pulumi stack output imageTag -s {stack})" in message
    )  # never remove a running app by accident
    assert message in caplog.text, "pulumi up must print the next step, not only store it"


def test_the_next_step_says_what_is_missing_first() -> None:
    def settings(stack: str, overrides: dict[str, object]) -> object:
        values = as_config_strings(stack_config(stack, {**PLATFORM, **overrides}))
        raw = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("example-app:")}
        return parse_settings(raw, stack=stack, region=values["aws:region"], allow_placeholders=True)

    without_ci = next_step(settings("int", {}))  # type: ignore[arg-type]
    assert "`pulumi config set -s int githubRepository <owner>/<name>`" in without_ci
    owner = next_step(settings("int", CI))  # type: ignore[arg-type]
    assert "build job pushes the image to example-app and its int job deploys the app" in owner
    consumer = next_step(settings("prd", {**CI, "imageRepository": SHARED}))  # type: ignore[arg-type]
    assert "the Deploy workflow's prd job then deploys the app with the next release" in consumer


# ---------------------------------------------------------------- the app phase


@pytest.mark.parametrize("stack", STACKS)
def test_with_the_image_in_ecr_the_app_is_deployed_after_one_lookup_made_before_any_resource(
    stack: str, run_program: RunProgram
) -> None:
    run = run_program(stack)
    assert run.stopped is None, run.stopped
    assert set(APP_TYPES) - {"example-app:infra:Canary"} <= _types(run.graph)
    assert "nextStep" not in run.graph.outputs
    assert run.graph.outputs["imageTag"] == RELEASE_TAG
    (lookup,) = _ecr_lookups(run.graph)
    assert lookup == ("aws:ecr/getImage:getImage", {"repositoryName": "example-app", "imageTag": RELEASE_TAG}, 0)


def test_another_stacks_repository_is_looked_up_in_its_account_and_region(run_program: RunProgram) -> None:
    run = run_program("stg", {"imageRepository": SHARED})
    assert run.stopped is None, run.stopped
    ((lookup, args, before),) = _ecr_lookups(run.graph)
    assert lookup == "aws:ecr/getImage:getImage" and before == 0
    assert args == {
        "repositoryName": "example-app",
        "imageTag": RELEASE_TAG,
        "registryId": ACCOUNT_ID,
        "region": "eu-central-1",
    }


def test_the_pinned_digest_must_be_the_tags_digest_in_ecr(run_program: RunProgram) -> None:
    assert run_program("int", {"imageDigest": image_digest(RELEASE_TAG)}).stopped is None
    wrong = "sha256:" + "0" * 64
    run = run_program("int", {"imageDigest": wrong})
    assert run.stopped is not None
    assert f"imageDigest {wrong} is not the digest of {RELEASE_TAG} in ECR repository example-app" in run.stopped
    assert f"(ECR has {image_digest(RELEASE_TAG)})" in run.stopped
    assert run.graph.resources == []


@pytest.mark.parametrize("stack", STACKS)
def test_a_tag_not_in_ecr_stops_before_any_resource_naming_tag_repository_and_what_to_run(
    stack: str, run_program: RunProgram
) -> None:
    run = run_program(stack, {"imageTag": "v9.9.9"})
    assert run.stopped is not None
    assert run.stopped.startswith(f"stack {stack!r}: the app cannot be deployed; nothing was changed:")
    assert "imageTag v9.9.9: no such image in ECR repository example-app. Push it first: push the git tag v9.9.9" in (
        run.stopped
    )
    assert NOT_FOUND in run.stopped  # what ECR said, for the case it was something else (credentials, permissions)
    assert "Traceback" not in run.stopped
    assert run.graph.resources == [], "nothing may be half-applied"


def test_a_canary_tag_not_in_ecr_stops_the_canary_step(run_program: RunProgram) -> None:
    run = run_program("int", {"releaseStrategy": "canary", "canaryTag": "v3.0.0"})
    assert run.stopped is not None
    assert "canaryTag v3.0.0: no such image in ECR repository example-app" in run.stopped
    assert run.graph.resources == []
    assert run_program("int", {"releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG}).stopped is None


def test_an_image_tag_on_a_new_stack_stops_and_says_to_run_the_platform_phase_first(run_program: RunProgram) -> None:
    # The repository this stack would create does not exist yet: the one order that cannot work.
    run = run_program("int", images=None)
    assert run.stopped is not None
    assert "ECR repository example-app does not exist yet, so image v1.2.3 cannot be in it" in run.stopped
    assert "Run `pulumi up -s int` without imageTag first (`pulumi config rm -s int imageTag`" in run.stopped
    assert run.graph.resources == []
    other = run_program("prd", {"imageRepository": SHARED}, images=None)
    assert other.stopped is not None
    assert "run the platform phase of the stack that creates it" in other.stopped


def test_the_readme_sequence_from_an_empty_account(run_program: RunProgram) -> None:
    """README "First deploy": platform phase, then a release tag is pushed, then the release creates the app."""
    platform = run_program("int", {**PLATFORM, **CI}, images=None)
    assert platform.stopped is None and "nextStep" in platform.graph.outputs
    too_early = run_program("int", CI, images={})  # the repository exists now, the build has not pushed yet
    assert too_early.stopped is not None and "Push it first" in too_early.stopped
    released = run_program("int", CI, images=PUSHED, github_repository="acme/example-app")  # the deploy job
    assert released.stopped is None, released.stopped
    assert "kubernetes:apps/v1:Deployment" in _types(released.graph)
    # The app phase keeps every platform resource the first phase created (same URNs): nothing is replaced.
    assert {r.urn for r in platform.graph.resources} <= {r.urn for r in released.graph.resources}


class FakeEcr:
    """ECR as a table: tag → digest, or no repository at all."""

    def __init__(self, images: dict[str, str] | None) -> None:
        self.images = images

    def find(self, repository: EcrRepository, tag: str) -> ImageLookup:
        digest = (self.images or {}).get(tag, "")
        return ImageLookup(digest=digest, error="" if digest else NOT_FOUND)

    def repository_exists(self, repository: EcrRepository) -> bool:
        return self.images is not None


@pytest.mark.parametrize(
    ("overrides", "images", "problem"),
    [
        (PLATFORM, None, None),  # nothing to look up
        ({}, PUSHED, None),
        ({"imageDigest": image_digest(RELEASE_TAG)}, PUSHED, None),
        ({"imageDigest": "sha256:" + "1" * 64}, PUSHED, "is not the digest of v1.2.3"),
        ({"imageTag": "v0.0.1"}, PUSHED, "imageTag v0.0.1: no such image"),
        ({}, {}, "imageTag v1.2.3: no such image"),
        ({}, None, "does not exist yet"),
        ({"imageRepository": SHARED}, None, "does not exist or this identity cannot read it"),
        ({"releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG}, PUSHED, None),
        ({"releaseStrategy": "canary", "canaryTag": "v3.0.0"}, PUSHED, "canaryTag v3.0.0: no such image"),
    ],
)
def test_release_image_decisions(
    overrides: dict[str, object], images: dict[str, str] | None, problem: str | None
) -> None:
    values = as_config_strings(stack_config("int", {"imageTag": RELEASE_TAG, **overrides}))
    raw = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("example-app:")}
    settings = parse_settings(raw, stack="int", region=values["aws:region"], allow_placeholders=True)
    problems = release_image_problems(settings, FakeEcr(images))
    if problem is None:
        assert problems == []
    else:
        (found,) = problems
        assert problem in found


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("example-app", EcrRepository(name="example-app", display="example-app")),
        (SHARED, EcrRepository(name="example-app", registry_id=ACCOUNT_ID, region="eu-central-1", display=SHARED)),
        ("ghcr.io/acme/example-app", None),
        ("acme/example-app", None),
    ],
)
def test_where_the_release_images_are(configured: str, expected: EcrRepository | None) -> None:
    assert EcrRepository.locate(configured) == expected
