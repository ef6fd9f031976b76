"""The Canary component under Pulumi's mocks: the objects of every step, their parents, order and timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from app.contract import AppSettings
from app.contract.canary import CanaryPolicy, CanaryStep, canary_replicas
from infra.canary import Canary, CanaryArgs

POLICY = CanaryPolicy(strategy="canary", steps=(10, 50, 100))
COMPONENT = "example-app:infra:Canary"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    custom_timeouts: Any
    urn: str


class RecordingMonitor(MockMonitor):  # type: ignore[misc]
    """Pulumi's mock monitor, also keeping what a plain Mocks never sees: parents, dependencies, timeouts."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    inputs=pulumi.runtime.rpc.deserialize_properties(request.object),
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    custom_timeouts=request.customTimeouts,
                    urn=response.urn,
                )
            )
        return response


class EchoMocks(pulumi.runtime.Mocks):  # type: ignore[misc]
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def app_settings() -> AppSettings:
    return AppSettings(
        image_repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app",
        image_tag="v1.0.0",
        host="example-app.int.example.com",
        tls_cluster_issuer="letsencrypt-staging",
    )


def build(step: CanaryStep, image_repository: str | None = None) -> list[Registered]:
    """Register one Canary component under mocks and return every resource it registered."""
    monitor = RecordingMonitor(EchoMocks())
    pulumi.runtime.set_mocks(EchoMocks(), project="example-app", stack="int", preview=False, monitor=monitor)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        repository = None if image_repository is None else pulumi.Output.from_input(image_repository)
        args = CanaryArgs(app=app_settings(), policy=POLICY, step=step, image_repository=repository)
        canary = Canary("app-canary", args)
        return pulumi.Output.all(canary.deployment.urn, canary.ingress.urn)

    program()
    return monitor.registered


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
    expected = f"{app_settings().timing.rollout_timeout}s"
    assert deployment.custom_timeouts.create == expected
    assert deployment.custom_timeouts.update == expected


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
