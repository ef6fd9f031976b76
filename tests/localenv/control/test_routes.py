"""The local ingress reads either router's rendered route objects into one routing: a table per router."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from app.contract.canary import LOCAL_CANARY, CanaryStep
from app.contract.ingress import INGRESS_TUNING
from app.contract.routers import ROUTERS
from app.contract.routers.ingress_nginx import controller_config
from localenv.control.routes import CanaryRoute, RouteError, read_routes
from localenv.errors import LocalEnvError
from localenv.profile import local_routes, local_settings

CONFIG = controller_config(INGRESS_TUNING)


def objects(router: str, weight: int | None) -> list[dict]:
    """The route objects the contract renders for `router`, with a canary at `weight` (None: no canary)."""
    from app.contract.canary import canary_split, render_canary
    from app.contract.manifests import render

    settings = local_settings("v1", router=router)
    if weight is None:
        return list(render(settings).routes)
    step = CanaryStep(tag="v2", weight=weight)
    return [
        *render(settings, canary_split(settings, step, LOCAL_CANARY)).routes,
        *render_canary(settings, step, LOCAL_CANARY).routes,
    ]


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("weight", [0, 10, 50, 100])
def test_each_routers_canary_objects_read_back_to_the_steps_weight_and_exact_header(router: str, weight: int) -> None:
    route = read_routes(objects(router, weight), CONFIG)
    assert route.stable_service == "example-app"
    assert route.canary == CanaryRoute(
        service="example-app-canary", weight=weight, header=LOCAL_CANARY.header, header_value=LOCAL_CANARY.header_value
    )


@pytest.mark.parametrize("router", ROUTERS)
def test_without_a_canary_everything_goes_to_the_stable_service(router: str) -> None:
    route = read_routes(objects(router, None), CONFIG)
    assert (route.stable_service, route.canary) == ("example-app", None)


def test_ingress_nginx_tuning_is_its_configmap_read_back() -> None:
    assert read_routes(objects("ingress-nginx", None), CONFIG).tuning == INGRESS_TUNING
    changed = {**CONFIG, "proxy-next-upstream-tries": "5", "upstream-keepalive-timeout": "30"}
    tuning = read_routes(objects("ingress-nginx", None), changed).tuning
    assert (tuning.proxy_next_upstream_tries, tuning.upstream_keepalive_timeout) == (5, 30)


def test_gateway_api_tuning_is_its_backend_traffic_policy_read_back() -> None:
    tuning = read_routes(objects("gateway-api", 10)).tuning
    # What the policy carries comes back as the contract's numbers ...
    assert tuning.proxy_next_upstream == INGRESS_TUNING.proxy_next_upstream
    assert tuning.proxy_next_upstream_tries == INGRESS_TUNING.proxy_next_upstream_tries
    assert tuning.proxy_connect_timeout == INGRESS_TUNING.proxy_connect_timeout
    assert tuning.proxy_read_timeout == INGRESS_TUNING.proxy_read_timeout
    assert tuning.upstream_keepalive_timeout == INGRESS_TUNING.upstream_keepalive_timeout
    assert tuning.upstream_keepalive_requests == INGRESS_TUNING.upstream_keepalive_requests
    # ... and Envoy's request timeout bounds all attempts together, as it does in Envoy.
    assert tuning.proxy_next_upstream_timeout == INGRESS_TUNING.proxy_read_timeout
    changed = objects("gateway-api", 10)
    policy = next(o for o in changed if o["kind"] == "BackendTrafficPolicy")
    policy["spec"]["retry"]["numRetries"] = 4
    policy["spec"]["timeout"]["http"]["connectionIdleTimeout"] = "1m30s"
    tuning = read_routes(changed).tuning
    assert (tuning.proxy_next_upstream_tries, tuning.upstream_keepalive_timeout) == (5, 90)


def test_httproute_weights_are_shares_of_their_sum_and_the_canary_is_the_header_rules_backend() -> None:
    route_objects = objects("gateway-api", 10)
    rule = route_objects[0]["spec"]["rules"][1]
    stable, canary = rule["backendRefs"]
    stable["weight"], canary["weight"] = 3, 1
    rule["backendRefs"] = [canary, stable]  # order does not decide which is the canary
    assert read_routes(route_objects).canary == CanaryRoute(
        service="example-app-canary", weight=25, header="X-Canary", header_value="always"
    )


def _canary_annotations_without_value() -> list[dict]:
    found = objects("ingress-nginx", 10)
    del found[1]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-header-value"]
    return found


def _canary_by_cookie() -> list[dict]:
    found = objects("ingress-nginx", 10)
    found[1]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-cookie"] = "canary"
    return found


def test_canary_weight_is_a_share_of_canary_weight_total() -> None:
    found = objects("ingress-nginx", 10)
    annotations = found[1]["metadata"]["annotations"]
    annotations["nginx.ingress.kubernetes.io/canary-weight"] = "30"
    annotations["nginx.ingress.kubernetes.io/canary-weight-total"] = "200"
    route = read_routes(found, CONFIG).canary
    assert route is not None and route.weight == 15


def _regex_header_match() -> list[dict]:
    found = objects("gateway-api", 10)
    found[0]["spec"]["rules"][0]["matches"][0]["headers"][0]["type"] = "RegularExpression"
    return found


def _other_retry_triggers() -> list[dict]:
    found = objects("gateway-api", 10)
    found[-1]["spec"]["retry"]["retryOn"]["triggers"] = ["5xx"]
    return found


def _fractional_duration() -> list[dict]:
    found = objects("gateway-api", 10)
    found[-1]["spec"]["timeout"]["tcp"]["connectTimeout"] = "1500ms"
    return found


@pytest.mark.parametrize(
    ("route_objects", "config", "phrase"),
    [
        (objects("ingress-nginx", 10), None, "ConfigMap"),
        (objects("ingress-nginx", 10), {k: v for k, v in CONFIG.items() if k != "proxy-read-timeout"}, "missing"),
        (_canary_annotations_without_value(), CONFIG, "canary-by-header-value"),
        (_canary_by_cookie(), CONFIG, "canary-by-cookie"),
        (_regex_header_match(), None, "Exact"),
        (_other_retry_triggers(), None, "no local nginx equivalent"),
        (_fractional_duration(), None, "whole number of seconds"),
        ([o for o in objects("gateway-api", 10) if o["kind"] != "BackendTrafficPolicy"], None, "BackendTrafficPolicy"),
        ([*objects("ingress-nginx", 10), *objects("gateway-api", 10)], CONFIG, "one router's objects"),
    ],
)
def test_objects_the_local_nginx_cannot_serve_are_one_clear_error(
    route_objects: list[dict], config: dict[str, str] | None, phrase: str
) -> None:
    with pytest.raises(RouteError, match=phrase):
        read_routes(copy.deepcopy(route_objects), config)


@pytest.mark.parametrize("router", ROUTERS)
def test_local_routes_reads_the_configured_routers_objects(router: str) -> None:
    settings = local_settings("v1", router=router)
    assert local_routes(settings, CanaryStep(tag="v2", weight=50)).canary == CanaryRoute(
        service="example-app-canary", weight=50, header="X-Canary", header_value="always"
    )
    assert local_routes(settings).canary is None


def test_an_unknown_router_is_one_clear_error() -> None:
    with pytest.raises(LocalEnvError, match="router 'traefik' must be one of: ingress-nginx, gateway-api"):
        local_settings("v1", router="traefik")


def test_the_ingress_replicas_are_given_the_routers_tuning() -> None:
    import json
    from pathlib import Path

    from localenv.ingress_pod import TUNING_ENV, ingress_deployment

    tuning = dataclasses.replace(INGRESS_TUNING, proxy_next_upstream_timeout=60)
    deployment = ingress_deployment("v1", 2, Path("/tmp/x"), tuning=tuning)
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert json.loads(env[TUNING_ENV]) == dataclasses.asdict(tuning)
