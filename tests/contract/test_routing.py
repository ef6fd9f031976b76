"""Both routers from one description: Gateway API's objects for each release state, and what stays router-neutral."""

from __future__ import annotations

import dataclasses

import pytest

from app.contract import AppSettings, SettingsError, render
from app.contract.canary import CanaryPolicy, CanaryStep, canary_name, canary_split, render_canary
from app.contract.ingress import INGRESS_TUNING
from app.contract.manifests import SERVICE_PORT, stable_route
from app.contract.routers import RENDERINGS, ROUTERS, gateway_api

POLICY = CanaryPolicy(strategy="canary", steps=(10, 50, 100))
BASE = AppSettings(
    image_repository="registry.example.test/example-app",
    image_tag="v1.2.3",
    host="app.example.test",
    tls_cluster_issuer="letsencrypt-staging",
    router="gateway-api",
)


def by_kind(objects: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for manifest in objects:
        found.setdefault(manifest["kind"], []).append(manifest)
    return found


def test_without_a_canary_every_request_for_the_host_goes_to_the_stable_service() -> None:
    routes = by_kind(render(BASE).routes)
    app_route, redirect = routes["HTTPRoute"]
    assert app_route["spec"]["hostnames"] == ["app.example.test"]
    (rule,) = app_route["spec"]["rules"]
    assert rule["backendRefs"] == [{"group": "", "kind": "Service", "name": "example-app", "port": SERVICE_PORT}]
    assert app_route["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert app_route["spec"]["parentRefs"][0]["namespace"] == "envoy-gateway-system"
    assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"]["scheme"] == "https"


@pytest.mark.parametrize("weight", [0, *POLICY.steps])
def test_a_canary_step_weights_the_stable_route_and_marked_requests_always_reach_the_canary(weight: int) -> None:
    step = CanaryStep(tag="v2.0.0", weight=weight)
    (app_route, _) = by_kind(render(BASE, canary_split(BASE, step, POLICY)).routes)["HTTPRoute"]
    marked, weighted = app_route["spec"]["rules"]
    assert marked["matches"][0]["headers"] == [{"type": "Exact", "name": "X-Canary", "value": "always"}]
    assert [ref["name"] for ref in marked["backendRefs"]] == [canary_name(BASE)]
    shares = {ref["name"]: ref["weight"] for ref in weighted["backendRefs"]}
    assert shares == {"example-app": 100 - weight, canary_name(BASE): weight}
    # The split lives in the stable route: Gateway API adds no canary-only route object.
    assert render_canary(BASE, step, POLICY).routes == []


def test_ingress_nginx_adds_a_canary_ingress_and_leaves_the_stable_one_alone() -> None:
    nginx = dataclasses.replace(BASE, router="ingress-nginx")
    step = CanaryStep(tag="v2.0.0", weight=50)
    assert render(nginx, canary_split(nginx, step, POLICY)).routes == render(nginx).routes
    (canary,) = render_canary(nginx, step, POLICY).routes
    assert canary["kind"] == "Ingress"
    assert canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == canary_name(nginx)


def test_envoy_policy_carries_the_shared_tuning() -> None:
    (policy,) = by_kind(render(BASE).routes)["BackendTrafficPolicy"]
    spec = policy["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "example-app"}]
    assert spec["retry"]["numRetries"] == INGRESS_TUNING.proxy_next_upstream_tries - 1
    # Never a retry after a pod may have acted on the request: no 5xx or plain `reset` triggers.
    assert set(spec["retry"]["retryOn"]["triggers"]) == {"connect-failure", "reset-before-request"}
    assert spec["timeout"]["tcp"]["connectTimeout"] == f"{INGRESS_TUNING.proxy_connect_timeout}s"
    assert spec["timeout"]["http"]["connectionIdleTimeout"] == f"{INGRESS_TUNING.upstream_keepalive_timeout}s"
    assert spec["circuitBreaker"]["maxRequestsPerConnection"] == INGRESS_TUNING.upstream_keepalive_requests


def test_gateway_terminates_tls_with_the_issuers_certificate_and_admits_the_http01_solver() -> None:
    gateway = gateway_api.gateway(stable_route(BASE))
    assert gateway["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-staging"}
    http, https = gateway["spec"]["listeners"]
    assert https["tls"]["certificateRefs"] == [{"group": "", "kind": "Secret", "name": "example-app-tls"}]
    assert https["hostname"] == http["hostname"] == "app.example.test"
    # cert-manager creates its solver HTTPRoute beside the Certificate, in the Gateway's namespace.
    admitted = http["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"]
    assert set(admitted) == {"example-app", gateway["metadata"]["namespace"]}


def test_plain_http_without_an_issuer_has_no_https_listener_and_no_redirect() -> None:
    plain = dataclasses.replace(BASE, tls_cluster_issuer="")
    assert [listener["name"] for listener in gateway_api.gateway(stable_route(plain))["spec"]["listeners"]] == ["http"]
    assert [m["kind"] for m in render(plain).routes] == ["HTTPRoute", "BackendTrafficPolicy"]


@pytest.mark.parametrize("router", ROUTERS)
def test_the_network_policy_admits_the_routers_namespace_only(router: str) -> None:
    settings = dataclasses.replace(BASE, router=router)
    (rule,) = render(settings).network_policy["spec"]["ingress"]
    admitted = rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert admitted == RENDERINGS[router].default_namespace


def test_an_unknown_router_is_named_with_the_choices() -> None:
    with pytest.raises(SettingsError, match="router 'traefik' must be one of: ingress-nginx, gateway-api"):
        dataclasses.replace(BASE, router="traefik")
