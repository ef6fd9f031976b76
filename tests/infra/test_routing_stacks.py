"""The `router` setting in the real program under mocks: Gateway API route objects, and the order of a canary step."""

from __future__ import annotations

from collections.abc import Callable

from harness.mocked_stack import NEXT_RELEASE_TAG, Run

HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
POLICY = "kubernetes:gateway.envoyproxy.io/v1alpha1:BackendTrafficPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CANARY = {"releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG, "canaryWeight": 50}


def test_gateway_api_stack_routes_through_an_httproute_and_no_ingress(run_program: Callable[..., Run]) -> None:
    run = run_program("prd", {"router": "gateway-api"})
    assert run.stopped is None, run.stopped
    graph = run.graph
    assert graph.of_type(INGRESS) == []
    names = sorted(r.inputs["metadata"]["name"] for r in graph.of_type(HTTP_ROUTE))
    assert names == ["example-app", "example-app-https-redirect"]
    assert len(graph.of_type(POLICY)) == 1


def test_gateway_api_canary_weights_wait_for_the_canary_pods(run_program: Callable[..., Run]) -> None:
    run = run_program("prd", {"router": "gateway-api", **CANARY})
    assert run.stopped is None, run.stopped
    graph = run.graph
    route = next(r for r in graph.of_type(HTTP_ROUTE) if r.inputs["metadata"]["name"] == "example-app")
    shares = {ref["name"]: ref["weight"] for ref in route.inputs["spec"]["rules"][1]["backendRefs"]}
    assert shares == {"example-app": 50, "example-app-canary": 50}
    canary_pods = next(
        r
        for r in graph.of_type("kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"]["name"] == "example-app-canary"
    )
    assert graph.waits_for(route, canary_pods)
    assert graph.of_type(INGRESS) == []


def test_ingress_nginx_canary_ingress_waits_for_the_stable_one(run_program: Callable[..., Run]) -> None:
    graph = run_program("int", CANARY).graph
    stable, canary = sorted(graph.of_type(INGRESS), key=lambda r: r.inputs["metadata"]["name"])
    assert graph.waits_for(canary, stable)


def test_an_unknown_router_stops_the_program_naming_the_key(run_program: Callable[..., Run]) -> None:
    run = run_program("int", {"router": "traefik"})
    assert run.stopped is not None
    assert "example-app:router 'traefik' must be one of: ingress-nginx, gateway-api" in run.stopped
