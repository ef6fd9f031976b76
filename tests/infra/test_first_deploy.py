"""A stack's first deploy, phase by phase, through the real program under mocks (README "First deploy").

platform phase (no imageTag) → the image is pushed → the app (imageTag set, found in ECR). Each phase
registers exactly what it may; a release whose image is not in ECR stops before any resource exists, and
so does a run without imageTag on a stack whose last update left the app running (its own outputs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import pulumi
import pytest

from harness.mocked_stack import (
    ACCOUNT_ID,
    NEXT_RELEASE_TAG,
    NOT_FOUND,
    ORGANIZATION,
    PUSHED,
    READ_STACK_OUTPUTS,
    RELEASE_TAG,
    Graph,
    Run,
    image_digest,
)
from harness.project_files import PROJECT, stack_names
from harness.stack_settings import settings_with
from infra.registry import EcrRepository, ImageLookup
from infra.stack_outputs import LastOutputs, stack_name
from stacks.release import (
    DeployedRelease,
    app_removal_problem,
    keep_app_command,
    next_step,
    release_image_problems,
    require_app_kept,
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


def _own_output_reads(graph: Graph) -> list[tuple[dict[str, object], int]]:
    return [(lookup.args, lookup.registered_before) for lookup in graph.lookups if lookup.token == READ_STACK_OUTPUTS]


# ---------------------------------------------------------------- the platform phase


@pytest.mark.parametrize("stack", stack_names())
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
    # It first asked the engine for its own last outputs (a new stack has none), before registering anything.
    assert _own_output_reads(run.graph) == [({"name": f"{ORGANIZATION}/{PROJECT}/{stack}"}, 0)]
    outputs = run.graph.outputs
    # The deploy workflow reads imageTag as "the app runs here" (its rollback target): absent until it does.
    assert {"imageTag", "imageDigest", "release"}.isdisjoint(outputs)
    assert {"clusterName", "imageRepository", "ciDeployRoleArn", "url"} <= set(outputs)
    message = outputs["nextStep"]
    assert message.startswith(f"Stack {stack} is in its platform phase")
    assert "git tag v0.1.0 && git push origin v0.1.0" in message
    assert message in caplog.text, "pulumi up must print the next step, not only store it"


def test_the_next_step_says_what_is_missing_first() -> None:
    without_ci = next_step(settings_with("int", PLATFORM))
    assert "`pulumi config set -s int githubRepository <owner>/<name>`" in without_ci
    owner = next_step(settings_with("int", {**PLATFORM, **CI}))
    assert "build job pushes the image to example-app and its int job deploys the app" in owner
    consumer = next_step(settings_with("prd", {**PLATFORM, **CI, "imageRepository": SHARED}))
    assert "the Deploy workflow's prd job then deploys the app with the next release" in consumer


def test_a_stack_after_its_platform_phase_may_run_it_again(run_program: RunProgram) -> None:
    # nextStep's own advice: set githubRepository, then `pulumi up` again, still without an image.
    first = run_program("int", PLATFORM, images=None)
    assert first.stopped is None, first.stopped
    again = run_program("int", {**PLATFORM, **CI}, images=None, deployed=first.graph.outputs)
    assert again.stopped is None, again.stopped
    assert "example-app:infra:CiAccess" in _types(again.graph)
    assert _types(again.graph).isdisjoint(APP_TYPES)


# ---------------------------------------------------------------- a stack that runs the app keeps it


def _keep_app_config(command: str) -> dict[str, str]:
    """The config values a `pulumi up -s S -c key=value …` command line passes."""
    words = command.split()
    assert words[:2] == ["pulumi", "up"] and words[2] == "-s", command
    pairs = [words[i + 1] for i, word in enumerate(words) if word == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.mark.parametrize("stack", stack_names())
def test_a_plain_up_on_a_stack_that_runs_the_app_stops_before_anything_naming_the_tag_and_the_command(
    stack: str, run_program: RunProgram
) -> None:
    release = run_program(stack, CI, github_repository="acme/example-app")  # what the deploy job ran
    assert release.stopped is None, release.stopped
    # The operator's infrastructure change: the committed settings, no imageTag (it is never committed).
    run = run_program(stack, {**PLATFORM, **CI}, deployed=release.graph.outputs)
    assert run.stopped is not None, "a platform phase would delete the running app"
    assert run.stopped.startswith(f"stack {stack!r} runs the app at {RELEASE_TAG} (its last update's imageTag output)")
    command = f"pulumi up -s {stack} -c imageTag={RELEASE_TAG}"
    assert f"keep the app as deployed with `{command}`" in run.stopped
    assert "nothing was changed" in run.stopped and "Traceback" not in run.stopped
    assert run.graph.resources == [], "refused before any resource is registered"
    assert _ecr_lookups(run.graph) == []
    # The command it names keeps the app: the same objects, the same image.
    kept = run_program(stack, {**CI, **_keep_app_config(command)}, deployed=release.graph.outputs)
    assert kept.stopped is None, kept.stopped
    image = kept.graph.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["containers"][0]
    before = release.graph.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == before["image"]
    assert {r.urn for r in release.graph.resources} == {r.urn for r in kept.graph.resources}
    assert _own_output_reads(kept.graph) == [], "an update with imageTag has nothing to read back"


def test_the_command_keeps_a_pinned_digest_and_a_running_canary_step(run_program: RunProgram) -> None:
    digest = image_digest(RELEASE_TAG)
    canary = {"releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG, "canaryWeight": 10}
    release = run_program("int", {"imageDigest": digest, **canary})
    assert release.stopped is None, release.stopped
    run = run_program("int", {**PLATFORM, "releaseStrategy": "canary"}, deployed=release.graph.outputs)
    assert run.stopped is not None
    command = (
        f"pulumi up -s int -c imageTag={RELEASE_TAG} -c imageDigest={digest} -c canaryTag={NEXT_RELEASE_TAG} "
        "-c canaryWeight=10"
    )
    assert f"`{command}`" in run.stopped
    kept_config = {"releaseStrategy": "canary", **_keep_app_config(command)}
    kept = run_program("int", kept_config, deployed=release.graph.outputs)
    assert kept.stopped is None, kept.stopped
    assert kept.graph.outputs["release"] == release.graph.outputs["release"]
    assert {r.urn for r in release.graph.resources} == {r.urn for r in kept.graph.resources}


class FakeOutputs:
    """The stack's last outputs as a table, or the backend's error."""

    def __init__(self, values: Mapping[str, object] | None = None, error: str = "") -> None:
        self.answer = LastOutputs(values=values or {}, error=error)
        self.reads = 0

    def last(self) -> LastOutputs:
        self.reads += 1
        return self.answer


RAN_THE_APP: dict[str, object] = {
    "imageTag": "v1.0.0",
    "imageDigest": "",
    "url": "https://x",
    "release": {"canary": None},
}


@pytest.mark.parametrize(
    ("overrides", "outputs", "problem"),
    [
        (PLATFORM, FakeOutputs(), None),  # a new stack: never updated, no outputs
        (PLATFORM, FakeOutputs({"url": "https://x", "nextStep": "…"}), None),  # still in its platform phase
        (PLATFORM, FakeOutputs({"imageTag": ""}), None),
        (PLATFORM, FakeOutputs(RAN_THE_APP), "runs the app at v1.0.0"),
        (PLATFORM, FakeOutputs(error="unknown stack"), "cannot tell whether it runs the app"),
        ({"imageTag": "v1.1.0"}, FakeOutputs(RAN_THE_APP), None),  # a release: it deploys what it names
    ],
)
def test_app_removal_decisions(overrides: dict[str, object], outputs: FakeOutputs, problem: str | None) -> None:
    settings = settings_with("int", overrides)
    found = app_removal_problem(settings, outputs.last())
    if problem is None:
        assert found == ""
        require_app_kept(settings, outputs)
    else:
        assert problem in found and "nothing was changed" in found
        with pytest.raises(pulumi.RunError, match="nothing was changed"):
            require_app_kept(settings, outputs)


def test_a_release_never_reads_the_outputs() -> None:
    outputs = FakeOutputs(RAN_THE_APP)
    require_app_kept(settings_with("int", {"imageTag": "v1.1.0"}), outputs)
    assert outputs.reads == 0


def test_an_unreadable_state_names_the_error_and_a_way_on() -> None:
    problem = app_removal_problem(
        settings_with("prd", PLATFORM), LastOutputs(error="reading the outputs of acme/example-app/prd: access denied")
    )
    assert problem.startswith("stack 'prd': cannot tell whether it runs the app")
    assert "(reading the outputs of acme/example-app/prd: access denied)" in problem
    assert "`pulumi up -s prd -c imageTag=<its tag>`" in problem


@pytest.mark.parametrize(
    ("outputs", "release"),
    [
        ({}, None),
        ({"imageTag": None}, None),
        ({"imageTag": " "}, None),
        ({"imageTag": "v1.0.0"}, DeployedRelease(tag="v1.0.0")),
        ({"imageTag": "v1.0.0", "imageDigest": "sha256:ab"}, DeployedRelease(tag="v1.0.0", digest="sha256:ab")),
        (
            {"imageTag": "v1", "release": {"canary": {"tag": "v2", "weight": 10.0}}},
            DeployedRelease(tag="v1", canary_tag="v2", canary_weight="10"),
        ),
        (  # an aborted canary sits at weight 0 until its keys are removed: keep that too
            {"imageTag": "v1", "release": {"canary": {"tag": "v2", "weight": 0.0}}},
            DeployedRelease(tag="v1", canary_tag="v2", canary_weight="0"),
        ),
        ({"imageTag": "v1", "release": {"canary": None}}, DeployedRelease(tag="v1")),
    ],
)
def test_the_deployed_release_from_a_stacks_outputs(
    outputs: dict[str, object], release: DeployedRelease | None
) -> None:
    assert DeployedRelease.from_outputs(outputs) == release


def test_the_keep_app_command() -> None:
    assert keep_app_command("prd", DeployedRelease(tag="v1.2.3")) == "pulumi up -s prd -c imageTag=v1.2.3"
    assert keep_app_command("int", DeployedRelease(tag="v1", canary_tag="v2", canary_weight="0")) == (
        "pulumi up -s int -c imageTag=v1 -c canaryTag=v2 -c canaryWeight=0"
    )


@pytest.mark.parametrize(
    ("organization", "name"),
    [
        ("acme", "acme/example-app/prd"),  # Pulumi Cloud: the stack's organization
        ("organization", "organization/example-app/prd"),  # the self-managed (diy) backend's fixed organization
    ],
)
def test_the_stack_reads_itself_by_its_fully_qualified_name(organization: str, name: str) -> None:
    assert stack_name(organization, "example-app", "prd") == name


# ---------------------------------------------------------------- the app phase


@pytest.mark.parametrize("stack", stack_names())
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


@pytest.mark.parametrize("stack", stack_names())
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
    settings = settings_with("int", {"imageTag": RELEASE_TAG, **overrides})
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
