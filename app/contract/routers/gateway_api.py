"""Gateway API (standard channel v1.5.1) served by Envoy Gateway v1.8.3: HTTPRoutes, a Gateway, Envoy policies.

The stable HTTPRoute carries the canary split itself: a rule matching the exact canary header sends to the
canary's Service, and the catch-all rule's `backendRefs` share requests by weight (both core HTTPRoute
features, kubernetes-sigs/gateway-api v1.5.1 config/crd/standard/gateway.networking.k8s.io_httproutes.yaml).
A second HTTPRoute with the same host and path could not: equal matches go to the oldest route (the spec's
precedence rules, same file, `rules` description), so the split can only live in the one route.

Retries, timeouts and upstream keep-alive are Envoy Gateway's BackendTrafficPolicy (envoyproxy/gateway v1.8.3
api/v1alpha1/backendtrafficpolicy_types.go, shared_types.go ClusterSettings, retry_types.go, timeout_types.go,
circuitbreaker_types.go), attached to the HTTPRoute by targetRefs.
"""

from __future__ import annotations

from typing import Any

from app.contract.ingress import IngressTuning
from app.contract.routing import CanarySplit, Manifest, Rendering, Route, RouteObjects

ROUTER = "gateway-api"
GATEWAY_API_VERSION = "v1.5.1"
"""kubernetes-sigs/gateway-api release whose standard-channel CRDs Envoy Gateway v1.8.3 is built against (go.mod)."""
GROUP = "gateway.networking.k8s.io"
ENVOY_GATEWAY_GROUP = "gateway.envoyproxy.io"
HTTP_LISTENER = "http"
HTTPS_LISTENER = "https"
REDIRECT_SUFFIX = "-https-redirect"
# nginx "error timeout": retry only when no request reached a pod or the connection failed before an answer
# started. Envoy's `connect-failure` and `reset-before-request` are the two triggers that never resend a request
# a pod may have acted on (retry_types.go TriggerEnum); 5xx answers are real failures, as with ingress-nginx.
RETRY_TRIGGERS = ("connect-failure", "reset-before-request")
REDIRECT_STATUS = 308
"""HTTP → HTTPS redirect status, as ingress-nginx's (controller-v1.15.1 `http-redirect-code` default 308)."""


def _seconds(value: int) -> str:
    """A Gateway API Duration (`^([0-9]{1,5}(h|m|s|ms)){1,4}$`, the CRDs' Duration pattern)."""
    return f"{value}s"


def _path_prefix_root() -> dict[str, Any]:
    return {"path": {"type": "PathPrefix", "value": "/"}}


def _backend(service: str, port: int, weight: int | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"group": "", "kind": "Service", "name": service, "port": port}
    if weight is not None:
        ref["weight"] = weight
    return ref


def parent_ref(route: Route, listener: str) -> dict[str, Any]:
    """The Gateway listener a route attaches to."""
    return {
        "group": GROUP,
        "kind": "Gateway",
        "name": route.name,
        "namespace": route.router_namespace,
        "sectionName": listener,
    }


def _rules(route: Route, split: CanarySplit | None) -> list[dict[str, Any]]:
    if split is None:
        return [{"matches": [_path_prefix_root()], "backendRefs": [_backend(route.service, route.port)]}]
    marked = {**_path_prefix_root(), "headers": [{"type": "Exact", "name": split.header, "value": split.header_value}]}
    return [
        # More header matches win over fewer (HTTPRoute precedence): marked requests always reach the canary.
        {"matches": [marked], "backendRefs": [_backend(split.service, route.port)]},
        {
            "matches": [_path_prefix_root()],
            "backendRefs": [
                _backend(route.service, route.port, 100 - split.weight),
                _backend(split.service, route.port, split.weight),
            ],
        },
    ]


def http_route(route: Route, split: CanarySplit | None) -> Manifest:
    """The app's HTTPRoute: every request for the host to the stable Service, or split with the canary."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": route.name, "namespace": route.namespace, "labels": dict(route.labels)},
        "spec": {
            "parentRefs": [parent_ref(route, HTTPS_LISTENER if route.tls_cluster_issuer else HTTP_LISTENER)],
            "hostnames": [route.host],
            "rules": _rules(route, split),
        },
    }


def https_redirect(route: Route) -> Manifest:
    """Plain HTTP answered with a redirect to HTTPS, as ingress-nginx does for an Ingress with TLS.

    308, as ingress-nginx answers (its `http-redirect-code` default): the method and body are kept. Gateway API
    v1.5.1 allows 301, 302, 303, 307 and 308 (apis/v1/httproute_types.go HTTPRequestRedirectFilter.StatusCode),
    and Envoy Gateway v1.8.3 accepts each (internal/utils/http/http.go SupportedRedirectCodes).
    cert-manager's HTTP-01 solver route matches its exact challenge path, more specific than this `/`.
    """
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": f"{route.name}{REDIRECT_SUFFIX}",
            "namespace": route.namespace,
            "labels": dict(route.labels),
        },
        "spec": {
            "parentRefs": [parent_ref(route, HTTP_LISTENER)],
            "hostnames": [route.host],
            "rules": [
                {
                    "matches": [_path_prefix_root()],
                    "filters": [
                        {
                            "type": "RequestRedirect",
                            "requestRedirect": {"scheme": "https", "statusCode": REDIRECT_STATUS},
                        }
                    ],
                }
            ],
        },
    }


def backend_traffic_policy(route: Route, tuning: IngressTuning) -> Manifest:
    """Envoy Gateway's retries, timeouts and upstream connection reuse for the app's HTTPRoute, from the tuning."""
    return {
        "apiVersion": f"{ENVOY_GATEWAY_GROUP}/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": route.name, "namespace": route.namespace, "labels": dict(route.labels)},
        "spec": {
            "targetRefs": [{"group": GROUP, "kind": "HTTPRoute", "name": route.name}],
            "retry": {
                # tries counts the first attempt; numRetries does not.
                "numRetries": tuning.proxy_next_upstream_tries - 1,
                "retryOn": {"triggers": list(RETRY_TRIGGERS)},
            },
            "timeout": {
                "tcp": {"connectTimeout": _seconds(tuning.proxy_connect_timeout)},
                "http": {
                    # Envoy bounds the whole request (retries included) where nginx bounds each read: the
                    # read timeout is the longer of nginx's two, so no answer nginx would wait for is cut.
                    "requestTimeout": _seconds(tuning.proxy_read_timeout),
                    # Idle upstream connections closed before gunicorn's keep-alive would close them.
                    "connectionIdleTimeout": _seconds(tuning.upstream_keepalive_timeout),
                },
            },
            "circuitBreaker": {"maxRequestsPerConnection": tuning.upstream_keepalive_requests},
        },
    }


def gateway(route: Route) -> Manifest:
    """The Gateway for the host: HTTP for redirects and HTTP-01 challenges, HTTPS with the host's certificate.

    cert-manager's gateway-shim (v1.21.1, `config.enableGatewayAPI`) reads the issuer annotation and keeps a
    Certificate for each HTTPS listener's hostname in the listener's `certificateRefs` Secret, in this namespace.
    """
    admitted = sorted({route.namespace, route.router_namespace})
    from_namespaces = {
        "namespaces": {
            "from": "Selector",
            "selector": {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": admitted}]
            },
        }
    }
    listeners: list[dict[str, Any]] = [
        {
            "name": HTTP_LISTENER,
            "protocol": "HTTP",
            "port": 80,
            "hostname": route.host,
            # The app's namespace (its route or redirect) and ours (cert-manager's HTTP-01 solver route).
            "allowedRoutes": from_namespaces,
        }
    ]
    annotations: dict[str, str] = {}
    if route.tls_cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = route.tls_cluster_issuer
        listeners.append(
            {
                "name": HTTPS_LISTENER,
                "protocol": "HTTPS",
                "port": 443,
                "hostname": route.host,
                "tls": {
                    "mode": "Terminate",
                    "certificateRefs": [{"group": "", "kind": "Secret", "name": route.tls_secret}],
                },
                "allowedRoutes": from_namespaces,
            }
        )
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gateway",
        "metadata": {"name": route.name, "namespace": route.router_namespace, "annotations": annotations},
        "spec": {"gatewayClassName": route.router_class, "listeners": listeners},
    }


def render(route: Route, split: CanarySplit | None, tuning: IngressTuning) -> RouteObjects:
    """The app's HTTPRoute (carrying the split while a canary runs), its HTTPS redirect, and its Envoy policy."""
    stable = [http_route(route, split)]
    if route.tls_cluster_issuer:
        stable.append(https_redirect(route))
    stable.append(backend_traffic_policy(route, tuning))
    return RouteObjects(stable=stable)


RENDERING = Rendering(
    router=ROUTER,
    default_class="envoy-gateway",
    default_namespace="envoy-gateway-system",
    reserved_header_values=(),
    render=render,
)
