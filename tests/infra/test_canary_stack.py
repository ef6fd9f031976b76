"""A canary in the real program, per stack, under Pulumi's mocks: settings, wiring, outputs and bad config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.mocked_stack import NEXT_RELEASE_TAG, Graph, Run
from harness.project_files import stack_names

COMPONENT = "example-app:infra:Canary"
CANARY_TAG = NEXT_RELEASE_TAG  # pushed to the fake ECR, like RELEASE_TAG
KINDS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:networking.k8s.io/v1:Ingress",
)
CANARY = {"releaseStrategy": "canary", "canaryTag": CANARY_TAG}


def canary_children(graph: Graph) -> dict[str, Any]:
    """The canary component's resources by type."""
    component = graph.one(COMPONENT)
    return {r.type: r for r in graph.resources if r.parent == component.urn}


def stable(graph: Graph, kind: str) -> Any:
    return next(r for r in graph.of_type(kind) if r.inputs["metadata"]["name"] == "example-app")


@pytest.mark.parametrize("stack", stack_names())
def test_without_a_canary_tag_no_canary_exists_and_the_release_output_says_so(
    stack: str, stack_graph: Callable[[str], Graph]
) -> None:
    graph = stack_graph(stack)
    assert graph.of_type(COMPONENT) == []
    release = graph.outputs["release"]
    assert release["canary"] is None
    assert release["policy"]["strategy"] == "rolling"
    assert (
        release["canarySelector"] == "app.kubernetes.io/name=example-app,app.kubernetes.io/instance=example-app-canary"
    )


@pytest.mark.parametrize("stack", ["int", "prd"])
def test_a_canary_step_adds_its_objects_after_the_stable_ones(stack: str, run_program: Callable[..., Run]) -> None:
    run = run_program(stack, CANARY)
    assert run.stopped is None, run.stopped
    graph = run.graph
    children = canary_children(graph)
    assert set(children) == set(KINDS)
    ingress = children["kubernetes:networking.k8s.io/v1:Ingress"]
    # Without canaryWeight the canary starts at the policy's first step.
    assert ingress.inputs["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert ingress.inputs["spec"]["rules"][0]["host"] == stable(graph, KINDS[3]).inputs["spec"]["rules"][0]["host"]
    # ingress-nginx ignores a canary Ingress without its main Ingress, and the pods must serve first.
    for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:networking.k8s.io/v1:Ingress"):
        assert graph.waits_for(ingress, stable(graph, kind)), kind
    assert graph.waits_for(ingress, children["kubernetes:apps/v1:Deployment"])
    container = children["kubernetes:apps/v1:Deployment"].inputs["spec"]["template"]["spec"]["containers"][0]
    stable_image = stable(graph, KINDS[0]).inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["image"] == stable_image.rsplit(":", 1)[0] + f":{CANARY_TAG}"
    assert ".dkr.ecr." in container["image"]
    release = graph.outputs["release"]
    assert release["canary"] == {"tag": CANARY_TAG, "weight": 10}
    assert release["stableTag"] == graph.outputs["imageTag"]


def test_a_later_step_changes_only_the_canary_weight_and_replicas(run_program: Callable[..., Run]) -> None:
    first = run_program("prd", {**CANARY, "canaryWeight": 10}).graph
    later = run_program("prd", {**CANARY, "canaryWeight": 50}).graph
    before = {r.name: r.inputs for r in first.resources}
    after = {r.name: r.inputs for r in later.resources}
    assert before.keys() == after.keys()
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"prd-canary-deployment", "prd-canary-ingress"}
    assert after["prd-canary-deployment"]["spec"]["replicas"] == 2  # ⌈3 × 50 %⌉
    assert after["prd-canary-ingress"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "50"


def test_promotion_is_an_ordinary_image_tag_change_with_the_canary_gone(run_program: Callable[..., Run]) -> None:
    promoted = run_program("int", {"releaseStrategy": "canary", "imageTag": CANARY_TAG}).graph
    assert promoted.of_type(COMPONENT) == []
    image = stable(promoted, KINDS[0]).inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f":{CANARY_TAG}")


@pytest.mark.parametrize(
    ("overrides", "messages"),
    [
        ({"canaryTag": CANARY_TAG}, ["example-app:canaryTag is set but example-app:releaseStrategy is 'rolling'"]),
        ({**CANARY, "canarySteps": "50,10"}, ["example-app:canarySteps [50, 10] must rise strictly"]),
        ({**CANARY, "canarySteps": "10,fifty"}, ["example-app:canarySteps 'fifty' is not a whole number"]),
        ({**CANARY, "canaryWeight": 150}, ["example-app:canaryWeight must be a whole percentage 0–100, got 150"]),
        (
            {"releaseStrategy": "canary", "canaryWeight": 10},
            ["example-app:canaryWeight is set without example-app:canaryTag"],
        ),
        (
            {**CANARY, "canaryMaxErrorRate": "2", "canaryMinRequests": 0, "releaseStrategy": "blue-green"},
            ["example-app:canaryMaxErrorRate", "example-app:canaryMinRequests", "example-app:releaseStrategy"],
        ),
        ({**CANARY, "canaryTag": "latest"}, ["example-app:canaryTag 'latest' is not a release tag"]),
    ],
)
def test_bad_release_settings_stop_the_program_before_any_resource(
    overrides: dict[str, Any], messages: list[str], run_program: Callable[..., Run]
) -> None:
    run = run_program("int", overrides)
    assert run.stopped is not None
    for message in messages:
        assert message in run.stopped
    assert run.graph.resources == []
