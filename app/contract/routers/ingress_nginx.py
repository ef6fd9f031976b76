"""ingress-nginx: an Ingress per host, a second Ingress as its canary, the tuning as ConfigMap keys.

Annotations from kubernetes/ingress-nginx controller-v1.15.1 docs/user-guide/nginx-configuration/annotations.md
("Canary"); ConfigMap keys from internal/ingress/controller/config/config.go at the same tag.
"""

from __future__ import annotations

from app.contract.ingress import IngressTuning
from app.contract.routing import CanarySplit, Manifest, Rendering, Route, RouteObjects

ROUTER = "ingress-nginx"
ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"
# controller-v1.15.1 internal/ingress/annotations/canary: canary-by-header "never" never routes to the canary.
RESERVED_HEADER_VALUES = ("never",)


def _ingress(route: Route, name: str, labels: dict[str, str], service: str, annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": route.namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "ingressClassName": route.router_class,
            "rules": [
                {
                    "host": route.host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"name": route.port_name}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def stable_ingress(route: Route) -> Manifest:
    """The Ingress for the host; with an issuer, cert-manager's ingress-shim keeps its TLS secret."""
    annotations: dict[str, str] = {}
    if route.tls_cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = route.tls_cluster_issuer
    ingress = _ingress(route, route.name, dict(route.labels), route.service, annotations)
    if route.tls_cluster_issuer:
        ingress["spec"]["tls"] = [{"hosts": [route.host], "secretName": route.tls_secret}]
    return ingress


def canary_annotations(split: CanarySplit) -> dict[str, str]:
    """Annotations that make an Ingress the canary of the one with the same host and path."""
    return {
        f"{ANNOTATION_PREFIX}canary": "true",
        f"{ANNOTATION_PREFIX}canary-weight": str(split.weight),
        f"{ANNOTATION_PREFIX}canary-by-header": split.header,
        f"{ANNOTATION_PREFIX}canary-by-header-value": split.header_value,
    }


def canary_ingress(route: Route, split: CanarySplit) -> Manifest:
    """The canary Ingress: same host and path, the canary's Service, no TLS of its own.

    ingress-nginx serves a canary with its main Ingress's TLS, and a second cert-manager annotation would
    request a second certificate for the same host.
    """
    return _ingress(route, split.name, dict(split.labels), split.service, canary_annotations(split))


def render(route: Route, split: CanarySplit | None, tuning: IngressTuning) -> RouteObjects:
    """The stable Ingress (never touched by a canary) and, while a canary runs, its canary Ingress."""
    return RouteObjects(stable=[stable_ingress(route)], canary=[] if split is None else [canary_ingress(route, split)])


def controller_config(tuning: IngressTuning) -> dict[str, str]:
    """ingress-nginx ConfigMap keys (`controller.config` in the Helm chart); values are strings."""
    return {
        "proxy-next-upstream": tuning.proxy_next_upstream,
        "proxy-next-upstream-tries": str(tuning.proxy_next_upstream_tries),
        "proxy-next-upstream-timeout": str(tuning.proxy_next_upstream_timeout),
        "proxy-connect-timeout": str(tuning.proxy_connect_timeout),
        "proxy-read-timeout": str(tuning.proxy_read_timeout),
        "upstream-keepalive-timeout": str(tuning.upstream_keepalive_timeout),
        "upstream-keepalive-connections": str(tuning.upstream_keepalive_connections),
        "upstream-keepalive-requests": str(tuning.upstream_keepalive_requests),
    }


RENDERING = Rendering(
    router=ROUTER,
    default_class="nginx",
    default_namespace="ingress-nginx",
    reserved_header_values=RESERVED_HEADER_VALUES,
    render=render,
)
