"""Envoy Gateway, the platform of router `gateway-api`: its values as tables, and the program's choice under mocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.contract.disruption import tier_from_objects
from app.contract.manifests import stable_route
from app.contract.routers import gateway_api
from harness.mocked_stack import Run
from infra.envoy_gateway import (
    ENVOY_GATEWAY_LABELS,
    PROXY_SERVICE,
    envoy_gateway_values,
    envoy_proxy,
    gateway_class,
    proxy_labels,
    proxy_service_annotations,
)
from infra.helm_values import cert_manager_values, cluster_issuer, nlb_service_annotations
from infra.ingress_timing import INGRESS_TIMING

NLB = "service.beta.kubernetes.io/aws-load-balancer-"
RELEASE = "kubernetes:helm.sh/v3:Release"
CUSTOM = "kubernetes:{}:{}"
GATEWAY = CUSTOM.format("gateway.networking.k8s.io/v1", "Gateway")
GATEWAY_CLASS = CUSTOM.format("gateway.networking.k8s.io/v1", "GatewayClass")
ENVOY_PROXY = CUSTOM.format("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy")
ISSUER = CUSTOM.format("cert-manager.io/v1", "ClusterIssuer")


def _proxy(replicas: int = 2) -> dict[str, Any]:
    return envoy_proxy(name="envoy-gateway", namespace="envoy-gateway-system", replicas=replicas, gateway_name="app")


def test_envoy_drains_on_the_nlbs_clock() -> None:
    shutdown = _proxy()["spec"]["shutdown"]
    assert shutdown == {
        "minDrainDuration": f"{int(INGRESS_TIMING.envoy_min_drain)}s",
        "drainTimeout": f"{int(INGRESS_TIMING.envoy_drain_timeout)}s",
    }
    attributes = _proxy()["spec"]["provider"]["kubernetes"]["envoyService"]["annotations"][
        f"{NLB}target-group-attributes"
    ]
    # The NLB resets what is left only once Envoy's drain timeout has passed.
    assert f"deregistration_delay.timeout_seconds={int(INGRESS_TIMING.deregistration_delay)}" in attributes
    assert INGRESS_TIMING.deregistration_delay >= INGRESS_TIMING.envoy_drain_timeout


def test_the_proxies_service_is_the_nlb_with_ip_targets_and_a_fixed_name() -> None:
    service = _proxy()["spec"]["provider"]["kubernetes"]["envoyService"]
    assert service["name"] == PROXY_SERVICE
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert service["annotations"][f"{NLB}nlb-target-type"] == "ip"
    # Envoy's /ready fails from the start of its drain; the traffic port answers until Envoy exits.
    assert service["annotations"][f"{NLB}healthcheck-protocol"] == "tcp"
    assert service["annotations"][f"{NLB}healthcheck-port"] == "traffic-port"
    assert f"{NLB}healthcheck-path" not in service["annotations"]
    shared = nlb_service_annotations(INGRESS_TIMING)
    for key in ("target-group-attributes", "healthcheck-interval", "scheme", "healthcheck-healthy-threshold"):
        assert service["annotations"][f"{NLB}{key}"] == shared[f"{NLB}{key}"]
    assert proxy_service_annotations(INGRESS_TIMING) == service["annotations"]


def test_the_proxies_survive_a_drain_one_at_a_time() -> None:
    kubernetes = _proxy(replicas=3)["spec"]["provider"]["kubernetes"]
    labels = proxy_labels("app", "envoy-gateway-system")
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "envoy"},
        "spec": {
            "maxUnavailable": kubernetes["envoyPDB"]["maxUnavailable"],
            **kubernetes["envoyPDB"]["patch"]["value"]["spec"],
            "selector": {"matchLabels": labels},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "envoy"},
        "spec": {
            "replicas": kubernetes["envoyDeployment"]["replicas"],
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "topologySpreadConstraints": kubernetes["envoyDeployment"]["pod"]["topologySpreadConstraints"]
                },
            },
        },
    }
    tier = tier_from_objects("envoy", deployment, [budget])
    assert tier.problems() == []


def test_fewer_than_two_proxies_is_refused() -> None:
    with pytest.raises(ValueError, match="Envoy proxy replicas must be ≥ 2"):
        _proxy(replicas=1)


def test_an_unsound_envoy_drain_is_refused_naming_the_field() -> None:
    import dataclasses

    timing = dataclasses.replace(INGRESS_TIMING, envoy_min_drain=60)
    with pytest.raises(ValueError, match="envoy_min_drain"):
        envoy_proxy(name="e", namespace="n", replicas=2, gateway_name="g", timing=timing)


def test_the_gateway_class_points_at_our_envoy_proxy() -> None:
    gc = gateway_class(name="envoy-gateway", envoy_proxy_name="envoy-gateway", envoy_proxy_namespace="ns")
    assert gc["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert gc["spec"]["parametersRef"] == {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": "envoy-gateway",
        "namespace": "ns",
    }


def test_the_controller_runs_twice_behind_a_budget() -> None:
    values = envoy_gateway_values()
    assert values["deployment"]["replicas"] >= 2
    assert values["podDisruptionBudget"] == {"maxUnavailable": 1}
    spread = values["deployment"]["pod"]["topologySpreadConstraints"]
    assert all(c["labelSelector"]["matchLabels"] == ENVOY_GATEWAY_LABELS for c in spread)


def test_cert_manager_speaks_gateway_api_only_when_asked() -> None:
    assert "config" not in cert_manager_values()
    assert cert_manager_values(gateway_api=True)["config"]["gatewayAPI"] == {"enabled": True}


def test_http01_through_the_gateways_http_listener() -> None:
    listener = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g", "sectionName": "http"}
    issuer = cluster_issuer(acme_server="staging", email="a@b.org", ingress_class="x", gateway_listener=listener)
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"gatewayHTTPRoute": {"parentRefs": [listener]}}}]
    plain = cluster_issuer(acme_server="staging", email="a@b.org", ingress_class="nginx")
    assert plain["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]


def test_a_gateway_api_stack_installs_envoy_gateway_not_ingress_nginx(run_program: Callable[..., Run]) -> None:
    run = run_program("prd", {"router": "gateway-api"})
    assert run.stopped is None, run.stopped
    graph = run.graph
    charts = {r.inputs["name"]: r for r in graph.of_type(RELEASE)}
    assert "envoy-gateway" in charts and "ingress-nginx" not in charts
    assert charts["envoy-gateway"].inputs["chart"] == "oci://docker.io/envoyproxy/gateway-helm"
    gateway = graph.one(GATEWAY)
    assert graph.one(GATEWAY_CLASS).inputs["metadata"]["name"] == gateway.inputs["spec"]["gatewayClassName"]
    assert graph.one(ENVOY_PROXY).inputs["spec"]["provider"]["kubernetes"]["envoyDeployment"]["replicas"] == 3
    # The Gateway is the contract's, for this stack's host.
    assert gateway.inputs["spec"]["listeners"][0]["hostname"] == gateway.inputs["spec"]["listeners"][1]["hostname"]
    assert gateway.inputs["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-production"
    # cert-manager answers HTTP-01 through the Gateway's HTTP listener, and starts after the Gateway API CRDs.
    for issuer in graph.of_type(ISSUER):
        (solver,) = issuer.inputs["spec"]["acme"]["solvers"]
        (parent,) = solver["http01"]["gatewayHTTPRoute"]["parentRefs"]
        assert (parent["name"], parent["namespace"], parent["sectionName"]) == (
            gateway.inputs["metadata"]["name"],
            gateway.inputs["metadata"]["namespace"],
            gateway_api.HTTP_LISTENER,
        )
    assert charts["cert-manager"].inputs["values"]["config"]["gatewayAPI"]["enabled"] is True
    assert graph.waits_for(charts["cert-manager"], charts["envoy-gateway"])
    # The DNS record points at the proxies' NLB, read from their Service once the Gateway exists.
    (service,) = [r for r in graph.of_type("kubernetes:core/v1:Service") if r.read]
    assert service.name in run.graph.outputs["ingressHostname"]
    assert graph.waits_for(service, gateway)


def test_an_ingress_nginx_stack_installs_no_envoy_gateway(run_program: Callable[..., Run]) -> None:
    graph = run_program("int").graph
    charts = {r.inputs["name"]: r for r in graph.of_type(RELEASE)}
    assert "ingress-nginx" in charts and "envoy-gateway" not in charts
    assert graph.of_type(GATEWAY) == [] and graph.of_type(ENVOY_PROXY) == []
    assert not graph.waits_for(charts["cert-manager"], charts["ingress-nginx"])


def test_the_gateway_comes_from_the_contract() -> None:
    from app.contract import AppSettings

    settings = AppSettings(
        image_repository="example-app",
        image_tag="v1",
        host="app.example.org",
        router="gateway-api",
        tls_cluster_issuer="letsencrypt-staging",
    )
    assert gateway_api.gateway(stable_route(settings))["spec"]["gatewayClassName"] == "envoy-gateway"


def test_the_nlb_is_read_only_once_the_gateway_is_programmed(run_program: Callable[..., Run]) -> None:
    # Envoy Gateway creates the proxies' Service after the Gateway: reading it earlier would find none.
    gateway = run_program("int", {"router": "gateway-api"}).graph.one(GATEWAY)
    annotations = gateway.inputs["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Programmed"
    assert int(annotations["pulumi.com/timeoutSeconds"]) >= INGRESS_TIMING.rollout_budget(2)
    assert annotations["cert-manager.io/cluster-issuer"]  # the contract's annotation is kept
