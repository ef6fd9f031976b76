"""The routers the contract renders for, by the `router` setting's value: one module each."""

from __future__ import annotations

from app.contract.routers import gateway_api, ingress_nginx
from app.contract.routing import Rendering

RENDERINGS: dict[str, Rendering] = {r.router: r for r in (ingress_nginx.RENDERING, gateway_api.RENDERING)}
ROUTERS = tuple(RENDERINGS)
"""Valid values of the `router` setting; the first is the default."""
DEFAULT_ROUTER = ingress_nginx.ROUTER
RESERVED_HEADER_VALUES = tuple(sorted({v for r in RENDERINGS.values() for v in r.reserved_header_values}))
"""Canary header values some router reserves: refused for every router, so a stack can switch routers."""
