"""What the local nginx needs, read from the route objects a router's rendering produced — as its controller reads them.

The local ingress is one nginx with a Lua balancer: a stable backend, a canary backend, the canary's weight and
exact header match, and the upstream tuning. On EKS an ingress-nginx controller reads those from the Ingresses
(canary annotations) and its ConfigMap; Envoy Gateway reads them from the HTTPRoute (weighted `backendRefs`, an
Exact header match) and its BackendTrafficPolicy. `read_routes` reads the same objects, so the local canary
follows what the configured router is given, not a description of its own.

    objects = render(settings, split).routes + render_canary(settings, step, policy).routes
    route = read_routes(objects, controller_config(INGRESS_TUNING))
    route.canary.weight, route.canary.header, route.canary.header_value, route.tuning
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.contract.ingress import IngressTuning
from app.contract.routers.gateway_api import RETRY_TRIGGERS
from app.contract.routers.ingress_nginx import ANNOTATION_PREFIX

Manifest = Mapping[str, Any]

# The nginx retry condition the Envoy triggers stand for: the gateway-api rendering maps ingress-nginx's
# "error timeout" to `connect-failure` + `reset-before-request` (app/contract/routers/gateway_api.py), so the
# local nginx reads them back the same way; any other trigger set has no nginx equivalent here.
NGINX_RETRY_FOR_TRIGGERS = {frozenset(RETRY_TRIGGERS): "error timeout"}
# A Gateway API Duration (`^([0-9]{1,5}(h|m|s|ms)){1,4}$`, gateway-api v1.5.1 standard CRDs).
_DURATION_PART = re.compile(r"([0-9]{1,5})(h|ms|m|s)")
_DURATION_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Canary rules of ingress-nginx that the local balancer (weight + exact header) does not have.
UNSERVED_CANARY_ANNOTATIONS = ("canary-by-header-pattern", "canary-by-cookie")


class RouteError(ValueError):
    """Route objects the local nginx cannot serve; the message names the object and what is wrong."""


@dataclass(frozen=True, kw_only=True)
class CanaryRoute:
    """Where the canary's share goes: its Service, its weight in percent, and the exact header that always goes."""

    service: str
    weight: int
    header: str
    header_value: str


@dataclass(frozen=True, kw_only=True)
class LocalRoute:
    """The local nginx's routing: the stable backend, the canary (None when no canary runs), and the tuning."""

    stable_service: str
    canary: CanaryRoute | None
    tuning: IngressTuning


def read_routes(objects: Sequence[Manifest], controller_config: Mapping[str, str] | None = None) -> LocalRoute:
    """The routing the objects describe: ingress-nginx's Ingresses (+ its ConfigMap keys), or Gateway API routes.

    `controller_config` is ingress-nginx's ConfigMap (`controller.config`): its tuning lives there, not in the
    Ingresses; Gateway API carries its own in the BackendTrafficPolicy among the objects.
    """
    kinds = {str(o.get("kind")) for o in objects}
    if "Ingress" in kinds and "HTTPRoute" not in kinds:
        if controller_config is None:
            raise RouteError("ingress-nginx's route objects need its ConfigMap keys for the upstream tuning")
        return _read_ingresses([o for o in objects if o.get("kind") == "Ingress"], controller_config)
    if "HTTPRoute" in kinds and "Ingress" not in kinds:
        return _read_http_routes(objects)
    raise RouteError(f"expected Ingresses or HTTPRoutes (one router's objects), got kinds {sorted(kinds)}")


# -- ingress-nginx: controller-v1.15.1 docs/user-guide/nginx-configuration/annotations.md "Canary" ---------------


def _backend_service(ingress: Manifest) -> str:
    name = str(ingress.get("metadata", {}).get("name"))
    services = {
        path["backend"]["service"]["name"]
        for rule in ingress.get("spec", {}).get("rules", [])
        for path in rule.get("http", {}).get("paths", [])
    }
    if len(services) != 1:
        raise RouteError(f"Ingress {name} must send its one path to one Service, found {sorted(services)}")
    return str(services.pop())


def _read_ingresses(ingresses: Sequence[Manifest], config: Mapping[str, str]) -> LocalRoute:
    def is_canary(ingress: Manifest) -> bool:
        annotations = ingress.get("metadata", {}).get("annotations") or {}
        return bool(annotations.get(f"{ANNOTATION_PREFIX}canary") == "true")

    stable = [i for i in ingresses if not is_canary(i)]
    canaries = [i for i in ingresses if is_canary(i)]
    if len(stable) != 1 or len(canaries) > 1:
        raise RouteError(f"expected one Ingress and at most one canary Ingress, got {len(stable)} and {len(canaries)}")
    canary: CanaryRoute | None = None
    if canaries:
        annotations = canaries[0]["metadata"]["annotations"]
        unserved = sorted(
            key for key in annotations if key.removeprefix(ANNOTATION_PREFIX) in UNSERVED_CANARY_ANNOTATIONS
        )
        if unserved:
            raise RouteError(f"the canary Ingress uses {', '.join(unserved)}, which the local Lua balancer lacks")
        header = annotations.get(f"{ANNOTATION_PREFIX}canary-by-header", "")
        value = annotations.get(f"{ANNOTATION_PREFIX}canary-by-header-value", "")
        if bool(header) != bool(value):
            # A header without a value means "always"/"never"; a value without a header has no effect (annotations.md).
            raise RouteError("the canary Ingress needs both canary-by-header and canary-by-header-value, or neither")
        # canary-weight is out of canary-weight-total, 100 unless set.
        weight = _whole(annotations.get(f"{ANNOTATION_PREFIX}canary-weight", "0"), "canary-weight")
        total = _whole(annotations.get(f"{ANNOTATION_PREFIX}canary-weight-total", "100"), "canary-weight-total")
        if total <= 0 or weight > total:
            raise RouteError(f"canary-weight {weight} must be within canary-weight-total {total}")
        canary = CanaryRoute(
            service=_backend_service(canaries[0]),
            weight=round(100 * weight / total),
            header=header,
            header_value=value,
        )
    return LocalRoute(stable_service=_backend_service(stable[0]), canary=canary, tuning=_config_tuning(config))


def _config_tuning(config: Mapping[str, str]) -> IngressTuning:
    """ConfigMap keys (controller-v1.15.1 internal/ingress/controller/config/config.go) back into nginx's knobs."""

    def number(key: str) -> int:
        if key not in config:
            raise RouteError(f"ingress-nginx ConfigMap key {key!r} is missing")
        return _whole(config[key], key)

    if "proxy-next-upstream" not in config:
        raise RouteError("ingress-nginx ConfigMap key 'proxy-next-upstream' is missing")
    return IngressTuning(
        proxy_next_upstream=config["proxy-next-upstream"],
        proxy_next_upstream_tries=number("proxy-next-upstream-tries"),
        proxy_next_upstream_timeout=number("proxy-next-upstream-timeout"),
        proxy_connect_timeout=number("proxy-connect-timeout"),
        proxy_read_timeout=number("proxy-read-timeout"),
        upstream_keepalive_timeout=number("upstream-keepalive-timeout"),
        upstream_keepalive_connections=number("upstream-keepalive-connections"),
        upstream_keepalive_requests=number("upstream-keepalive-requests"),
    )


# -- Gateway API: gateway-api v1.5.1 standard HTTPRoute; Envoy Gateway v1.8.3 BackendTrafficPolicy ---------------


def _read_http_routes(objects: Sequence[Manifest]) -> LocalRoute:
    # A redirect route (HTTP → HTTPS) has filters and no backends: it sends nothing to a pod.
    routes = [
        o
        for o in objects
        if o.get("kind") == "HTTPRoute" and any(r.get("backendRefs") for r in o.get("spec", {}).get("rules", []))
    ]
    if len(routes) != 1:
        raise RouteError(f"expected one HTTPRoute with backends, got {len(routes)}")
    route = routes[0]
    name = route["metadata"]["name"]
    marked: list[tuple[str, str, str]] = []
    weighted: list[list[Mapping[str, Any]]] = []
    for rule in route["spec"]["rules"]:
        refs = rule.get("backendRefs") or []
        headers = [h for m in rule.get("matches", []) for h in m.get("headers", [])]
        if headers:
            exact = [h for h in headers if h.get("type", "Exact") == "Exact"]
            if len(exact) != 1 or len(headers) != 1 or len(refs) != 1:
                raise RouteError(f"HTTPRoute {name}: a header rule must match one Exact header and send to one backend")
            marked.append((str(refs[0]["name"]), str(exact[0]["name"]), str(exact[0]["value"])))
        elif refs:
            weighted.append(refs)
    if len(weighted) != 1 or len(marked) > 1:
        raise RouteError(f"HTTPRoute {name}: expected one catch-all rule and at most one header rule")
    refs = weighted[0]
    # A backendRef weight defaults to 1; its share is weight / sum of the weights (gateway-api v1.5.1
    # config/crd/standard/gateway.networking.k8s.io_httproutes.yaml, backendRefs.weight; header match type: Exact).
    weights = [int(ref.get("weight", 1)) for ref in refs]
    total = sum(weights)
    if len(refs) > 2 or total <= 0:
        raise RouteError(f"HTTPRoute {name}: expected one or two backends with a positive total weight")
    canary_service = marked[0][0] if marked else (str(refs[1]["name"]) if len(refs) == 2 else "")
    stable_refs = [ref for ref in refs if ref["name"] != canary_service]
    if len(stable_refs) != 1:
        raise RouteError(f"HTTPRoute {name}: the catch-all rule must keep the stable backend beside the canary")
    canary: CanaryRoute | None = None
    if canary_service:
        canary_weight = sum(w for ref, w in zip(refs, weights, strict=True) if ref["name"] == canary_service)
        canary = CanaryRoute(
            service=canary_service,
            weight=round(100 * canary_weight / total),
            header=marked[0][1] if marked else "",
            header_value=marked[0][2] if marked else "",
        )
    policies = [
        o
        for o in objects
        if o.get("kind") == "BackendTrafficPolicy"
        and any(t.get("kind") == "HTTPRoute" and t.get("name") == name for t in o["spec"].get("targetRefs", []))
    ]
    if len(policies) != 1:
        raise RouteError(f"HTTPRoute {name}: expected one BackendTrafficPolicy for its tuning, got {len(policies)}")
    return LocalRoute(
        stable_service=str(stable_refs[0]["name"]), canary=canary, tuning=_policy_tuning(policies[0]["spec"])
    )


def _policy_tuning(spec: Mapping[str, Any]) -> IngressTuning:
    """The policy's retries, timeouts and connection reuse as the local nginx's knobs (the rendering's inverse).

    Envoy Gateway makes `requestTimeout` the Envoy route's timeout (envoyproxy/gateway v1.8.3
    internal/xds/translator/route.go), and the route timeout includes all retries (Envoy's router filter docs):
    nginx's read timeout and its bound on all attempts both take it. nginx's idle connections per worker have no
    Envoy counterpart in the policy and keep the contract's value.
    """
    triggers = frozenset(spec["retry"]["retryOn"]["triggers"])
    if triggers not in NGINX_RETRY_FOR_TRIGGERS:
        raise RouteError(f"BackendTrafficPolicy retry triggers {sorted(triggers)} have no local nginx equivalent")
    timeout = spec["timeout"]
    request_timeout = _duration(timeout["http"]["requestTimeout"])
    return IngressTuning(
        proxy_next_upstream=NGINX_RETRY_FOR_TRIGGERS[triggers],
        proxy_next_upstream_tries=int(spec["retry"]["numRetries"]) + 1,  # numRetries excludes the first attempt
        proxy_next_upstream_timeout=request_timeout,
        proxy_connect_timeout=_duration(timeout["tcp"]["connectTimeout"]),
        proxy_read_timeout=request_timeout,
        upstream_keepalive_timeout=_duration(timeout["http"]["connectionIdleTimeout"]),
        upstream_keepalive_requests=int(spec["circuitBreaker"]["maxRequestsPerConnection"]),
    )


def _duration(text: str) -> int:
    """Whole seconds of a Gateway API Duration such as `5s` or `1m30s` (nginx's knobs here take seconds)."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise RouteError(f"{text!r} is not a Gateway API duration like '5s' or '1m30s'")
    seconds = sum((int(n) * _DURATION_SECONDS[u] for n, u in parts), 0.0)
    if not seconds.is_integer():
        raise RouteError(f"duration {text!r} is not a whole number of seconds")
    return int(seconds)


def _whole(text: str, what: str) -> int:
    if not str(text).isdigit():
        raise RouteError(f"{what} must be a whole number, got {text!r}")
    return int(text)
