"""The Workload component under Pulumi's mocks: the contract's objects, unchanged, with stable names.

A new image tag must change only the Deployment's pod template, so pulumi-kubernetes patches the
Deployment in place (a surge rollout) and touches nothing else. Names come from the contract
(metadata.name), so nothing is auto-named and nothing is replaced.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from app.contract import AppSettings, render
from app.timing import Timing
from harness.mocked_components import Recording, Registered, run_mocked, settings
from infra.workload import (
    RESOURCE_CLASSES,
    Workload,
    WorkloadArgs,
    child_name,
    cluster_deployment_spec,
    rollout_timeouts,
)


def workload_program(app: AppSettings, **args: Any) -> Callable[[], Any]:
    def program() -> Any:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        workload = Workload("app", WorkloadArgs(settings=app, provider=provider, **args))
        workload.route()
        return workload.url

    return program


@pytest.fixture(scope="module")
def v1() -> Recording:
    return run_mocked(workload_program(settings()))


def app_objects(recording: Recording) -> dict[str, Registered]:
    return {r.name: r for r in recording.resources.values() if r.type.startswith("kubernetes:") and r.name != "cluster"}


def test_every_contract_object_is_created_unchanged(v1: Recording) -> None:
    manifests = render(settings())
    objects = app_objects(v1)
    assert sorted(objects) == sorted(child_name("app", m) for m in manifests.all())
    for manifest in manifests.all():
        registered = objects[child_name("app", manifest)]
        assert registered.type == f"kubernetes:{_group_version(manifest)}:{manifest['kind']}"
        expected = manifest
        if manifest["kind"] == "Deployment":  # the one deliberate difference, next test
            expected = {**manifest, "spec": cluster_deployment_spec(manifests)}
        assert registered.inputs == json.loads(json.dumps(expected)), manifest["kind"]


def test_the_autoscaler_alone_owns_the_pod_count(v1: Recording) -> None:
    """spec.replicas beside an HPA: an SSA conflict on the next `pulumi up`, or a forced shrink mid-release."""
    objects = app_objects(v1)
    deployment = objects["app-deployment"].inputs["spec"]
    assert "replicas" not in deployment
    rendered = render(settings()).deployment["spec"]
    assert {k: v for k, v in rendered.items() if k != "replicas"} == json.loads(json.dumps(deployment))
    autoscaler = objects["app-horizontalpodautoscaler"].inputs["spec"]
    assert autoscaler["minReplicas"] == settings().replicas == rendered["replicas"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "example-app"}


def _group_version(manifest: dict[str, Any]) -> str:
    api = manifest["apiVersion"]
    return api if "/" in api else f"core/{api}"


def test_names_are_the_contracts_so_nothing_is_auto_named(v1: Recording) -> None:
    for registered in app_objects(v1).values():
        assert registered.inputs["metadata"]["name"] == ("example-app"), registered.name
        if registered.type != "kubernetes:core/v1:Namespace":
            assert registered.inputs["metadata"]["namespace"] == "example-app"


def test_every_object_is_a_child_on_the_clusters_provider(v1: Recording) -> None:
    workload = v1.of_type("example-app:infra:Workload")
    assert len(workload) == 1
    for registered in app_objects(v1).values():
        assert v1.urn_name(registered.parent) == "app"
        assert registered.provider.split("::")[-2:] == ["cluster", "cluster-id"], registered.provider


def test_a_new_image_tag_changes_only_the_deployments_pod_template(v1: Recording) -> None:
    v2 = run_mocked(workload_program(settings(image_tag="v2.0.0")))
    before, after = app_objects(v1), app_objects(v2)
    assert before.keys() == after.keys()
    changed = {name for name in before if before[name].inputs != after[name].inputs}
    assert changed == {"app-deployment"}
    differences = sorted(_differences(before["app-deployment"].inputs, after["app-deployment"].inputs))
    assert differences, "the tag must reach the pod template"
    assert all(path.startswith("spec.template.") for path in differences), differences
    # Same kind, name and namespace, and the immutable selector untouched: an update, never a replace.
    for name in before:
        assert before[name].type == after[name].type
        assert before[name].inputs["metadata"] == after[name].inputs["metadata"]
    assert before["app-deployment"].inputs["spec"]["selector"] == after["app-deployment"].inputs["spec"]["selector"]


def _differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            yield from _differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _differences(a, b, f"{path}[{index}]")
    elif old != new:
        yield path


def test_a_stuck_rollout_fails_pulumi_up_after_the_progress_deadline(v1: Recording) -> None:
    deployment = app_objects(v1)["app-deployment"]
    # progressDeadlineSeconds 300 + one pod's grace 35 s (preStop 10 + gunicorn 20 + margin 5)
    assert deployment.custom_timeouts == {"create": "335s", "update": "335s"}
    quick = settings(timing=Timing(progress_deadline=60, pre_stop=6, graceful_timeout=10, shutdown_margin=2))
    assert rollout_timeouts(quick).update == f"{60 + 6 + 10 + 2}s"
    others = [r for name, r in app_objects(v1).items() if name != "app-deployment"]
    assert all(r.custom_timeouts == {"create": "", "update": ""} for r in others)


def test_objects_wait_for_the_namespace_and_the_platform() -> None:
    def program() -> Any:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        ingress_nginx = k8s.core.v1.ConfigMap("ingress-nginx", metadata={"name": "x"}, opts=_on(provider))
        cert_manager = k8s.core.v1.ConfigMap("cert-manager", metadata={"name": "y"}, opts=_on(provider))
        workload = Workload(
            "app", WorkloadArgs(settings=settings(), provider=provider, depends_on=[ingress_nginx, cert_manager])
        )
        workload.route()
        return workload.url

    recording = run_mocked(program)
    objects = app_objects(recording)
    for name, registered in objects.items():
        if name in ("ingress-nginx", "cert-manager"):
            continue
        needs = {recording.urn_name(urn) for urn in registered.dependencies}
        assert {"ingress-nginx", "cert-manager"} <= needs, name
        if name != "app-namespace":
            assert "app-namespace" in needs, name
    ingress_needs = {recording.urn_name(urn) for urn in objects["app-ingress"].dependencies}
    assert "app-service" in ingress_needs


def _on(provider: pulumi.ProviderResource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(provider=provider)


def test_repository_known_only_at_deploy_time_reaches_only_the_image() -> None:
    registry_url = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/example-app"
    app = settings(image_repository="example-app")

    def program() -> Any:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        url = pulumi.Output.from_input(registry_url)
        return Workload("app", WorkloadArgs(settings=app, provider=provider, image_repository=url)).url

    recording = run_mocked(program)
    deployment = app_objects(recording)["app-deployment"].inputs
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{registry_url}:v1.0.0"
    expected = render(dataclasses.replace(app, image_repository=registry_url))
    assert deployment["spec"] == json.loads(json.dumps(cluster_deployment_spec(expected)))
    assert deployment["metadata"] == json.loads(json.dumps(expected.deployment["metadata"]))


def test_url_follows_tls(v1: Recording) -> None:
    outputs: list[str] = []

    def program() -> Any:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        plain = Workload("plain", WorkloadArgs(settings=settings(tls_cluster_issuer=""), provider=provider))
        tls = Workload("tls", WorkloadArgs(settings=settings(), provider=provider))
        return pulumi.Output.all(plain.url, tls.url).apply(outputs.extend)

    run_mocked(program)
    assert outputs == ["http://example-app.int.example.com", "https://example-app.int.example.com"]


def test_every_kind_the_contract_renders_has_a_resource_class() -> None:
    kinds = {(m["apiVersion"], m["kind"]) for m in render(settings()).all()}
    assert kinds <= RESOURCE_CLASSES.keys()
