"""The Canary component under Pulumi's mocks: the objects of every step, their parents, order and timeouts."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from app.contract.canary import CanaryPolicy, CanaryStep, canary_replicas
from harness.mocked_components import Registered, run_mocked, settings
from infra.canary import Canary, CanaryArgs

POLICY = CanaryPolicy(strategy="canary", steps=(10, 50, 100))
COMPONENT = "example-app:infra:Canary"


def build(step: CanaryStep, image_repository: str | None = None) -> list[Registered]:
    """Register one Canary component under mocks and return every resource it registered."""

    def program() -> pulumi.Output[Any]:
        repository = None if image_repository is None else pulumi.Output.from_input(image_repository)
        canary = Canary("app-canary", CanaryArgs(app=settings(), policy=POLICY, step=step, image_repository=repository))
        routes = canary.route()
        return pulumi.Output.all(canary.deployment.urn, *(route.urn for route in routes))

    return list(run_mocked(program).resources.values())


def by_type(resources: list[Registered]) -> dict[str, Registered]:
    return {r.type: r for r in resources}


@pytest.mark.parametrize("weight", [*POLICY.steps, 0])
def test_every_step_creates_the_four_canary_objects_under_the_component(weight: int) -> None:
    resources = by_type(build(CanaryStep(tag="v2.0.0", weight=weight)))
    assert set(resources) == {
        COMPONENT,
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:networking.k8s.io/v1:Ingress",
    }
    component = resources.pop(COMPONENT)
    for child in resources.values():
        assert child.parent == component.urn
        assert child.name.startswith("app-canary-")
        assert child.inputs["metadata"]["name"] == "example-app-canary"
    ingress = resources["kubernetes:networking.k8s.io/v1:Ingress"]
    annotations = ingress.inputs["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == str(weight)
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "X-Canary"
    deployment = resources["kubernetes:apps/v1:Deployment"]
    assert deployment.inputs["spec"]["replicas"] == canary_replicas(3, weight)
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":v2.0.0")


def test_the_weight_moves_only_after_the_canary_pods_and_their_service_exist() -> None:
    resources = by_type(build(CanaryStep(tag="v2.0.0", weight=10)))
    ingress = resources["kubernetes:networking.k8s.io/v1:Ingress"]
    for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"):
        assert resources[kind].urn in ingress.dependencies, kind


def test_a_canary_that_cannot_start_fails_the_update_at_the_progress_deadline() -> None:
    deployment = by_type(build(CanaryStep(tag="v2.0.0", weight=10)))["kubernetes:apps/v1:Deployment"]
    expected = f"{settings().timing.rollout_timeout}s"
    assert deployment.custom_timeouts["create"] == expected
    assert deployment.custom_timeouts["update"] == expected


def test_changing_the_weight_changes_only_the_ingress_annotation_and_the_canary_replicas() -> None:
    ten = {r.type: r.inputs for r in build(CanaryStep(tag="v2.0.0", weight=10))}
    fifty = {r.type: r.inputs for r in build(CanaryStep(tag="v2.0.0", weight=50))}
    changed = {kind for kind in ten if ten[kind] != fifty[kind]}
    assert changed == {"kubernetes:apps/v1:Deployment", "kubernetes:networking.k8s.io/v1:Ingress"}
    ten_spec = dict(ten["kubernetes:apps/v1:Deployment"]["spec"])
    fifty_spec = dict(fifty["kubernetes:apps/v1:Deployment"]["spec"])
    assert (ten_spec.pop("replicas"), fifty_spec.pop("replicas")) == (1, 2)
    assert ten_spec == fifty_spec


def test_the_canary_pulls_from_the_registry_the_stack_created() -> None:
    url = "210987654321.dkr.ecr.us-east-1.amazonaws.com/example-app"  # not the settings' repository
    deployment = by_type(build(CanaryStep(tag="v2.0.0", weight=10), image_repository=url))[
        "kubernetes:apps/v1:Deployment"
    ]
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == f"{url}:v2.0.0"
