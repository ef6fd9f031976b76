"""How the router talks to the app's pods — retries, timeouts, keep-alive — defined once for every router.

Each router renders these numbers its own way (app/contract/routers/): ingress-nginx as ConfigMap keys
(`ingress_nginx.controller_config`), Gateway API as Envoy Gateway's BackendTrafficPolicy; the local
environment writes them into its nginx.conf.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.timing import INGRESS_UPSTREAM_KEEPALIVE_S


@dataclass(frozen=True, kw_only=True)
class IngressTuning:
    """Retry and keep-alive behaviour between the ingress and the app's pods."""

    proxy_next_upstream: str = "error timeout"
    """Retry on a failed connection or timeout only: a 502/503 answer is a real failure, never hidden."""
    proxy_next_upstream_tries: int = 3
    """Attempts per request, the first included."""
    proxy_next_upstream_timeout: int = 10
    """Seconds all attempts together may take."""
    proxy_connect_timeout: int = 5
    """Seconds to open a connection to a pod."""
    proxy_read_timeout: int = 60
    """Seconds to wait for a pod's answer."""
    upstream_keepalive_timeout: int = INGRESS_UPSTREAM_KEEPALIVE_S
    """Idle upstream connections are closed by the ingress after this; gunicorn's keep-alive is longer."""
    upstream_keepalive_connections: int = 320
    """Idle upstream connections kept per worker."""
    upstream_keepalive_requests: int = 10000
    """Requests per upstream connection before the ingress opens a fresh one."""


INGRESS_TUNING = IngressTuning()
