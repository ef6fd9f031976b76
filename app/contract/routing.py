"""How requests reach the app, said once for every router: the stable route, the canary split, the tuning.

A router (ingress-nginx, a Gateway API implementation) is one rendering module in `app/contract/routers/`
that turns these descriptions into its own objects. Nothing else in the contract, infra/ or the smoke checks
names a router's annotations or kinds: they take the rendered route objects as they come.

    route = stable_route(settings)
    objects = rendering(settings.router).render(route, split=None, tuning=INGRESS_TUNING)
    objects.stable            # e.g. [Ingress] or [HTTPRoute, HTTPRoute (redirect), BackendTrafficPolicy]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.contract.ingress import IngressTuning

Manifest = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Route:
    """The stable route: every request for `host` goes to the app's Service."""

    name: str
    """Name of the route objects (the app's name: stable, so an update is never a delete-and-create)."""
    namespace: str
    """The app's namespace, where its route objects live."""
    labels: Mapping[str, str]
    """Labels of the route objects."""
    host: str
    """The public host name requests arrive for."""
    service: str
    """The stable Service."""
    port_name: str
    """The Service port's name (Ingress backends name it)."""
    port: int
    """The Service port's number (Gateway API backendRefs need it)."""
    router_class: str
    """IngressClass or GatewayClass of the router serving the host."""
    router_namespace: str
    """Namespace of the router's own objects (its proxies, its Gateway)."""
    tls_cluster_issuer: str = ""
    """cert-manager ClusterIssuer for the host's certificate; empty serves plain HTTP (local only)."""
    tls_secret: str = ""
    """Secret holding the host's certificate."""


@dataclass(frozen=True, kw_only=True)
class CanarySplit:
    """The canary's share of requests: a weight, plus every request carrying `header: header_value`."""

    name: str
    """Name of canary-only route objects."""
    labels: Mapping[str, str]
    """Labels of canary-only route objects (they select nothing; they tell the canary's objects apart)."""
    service: str
    """The canary's Service."""
    weight: int
    """Percent of unmarked requests sent to the canary, 0–100."""
    header: str
    """Request header that sends a request to the canary whatever the weight."""
    header_value: str
    """The exact value of `header` that does so."""


@dataclass(frozen=True)
class RouteObjects:
    """A router's objects for one release state: those the stable release owns and those only a canary adds."""

    stable: list[Manifest]
    """Created with the app and kept (they may carry the split themselves, e.g. an HTTPRoute's weights)."""
    canary: list[Manifest] = field(default_factory=list)
    """Created after the canary's pods and removed before them (e.g. ingress-nginx's canary Ingress)."""


@dataclass(frozen=True, kw_only=True)
class Rendering:
    """One router: its defaults and the function that renders a route (and a canary split) into its objects."""

    router: str
    """The `router` setting's value that selects it."""
    default_class: str
    """IngressClass or GatewayClass used when the settings name none."""
    default_namespace: str
    """Namespace of the router's proxies when the settings name none (the NetworkPolicy admits it)."""
    reserved_header_values: tuple[str, ...]
    """Canary header values the router gives a meaning of its own."""
    render: Callable[[Route, CanarySplit | None, IngressTuning], RouteObjects]
    """The route objects for `route`, with `split` while a canary runs."""
