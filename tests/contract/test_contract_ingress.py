"""The ingress's retry and keep-alive values, rendered once for ingress-nginx and the local nginx."""

from __future__ import annotations

import pytest

from app.contract import AppSettings
from app.contract.ingress import INGRESS_TUNING, IngressTuning
from app.contract.manifests import container_env
from app.contract.routers.ingress_nginx import controller_config
from app.timing import INGRESS_UPSTREAM_KEEPALIVE_S, LOCAL_TIMING, Timing


def test_controller_config_is_ingress_nginx_configmap_strings() -> None:
    assert controller_config(INGRESS_TUNING) == {
        "proxy-next-upstream": "error timeout",
        "proxy-next-upstream-tries": "3",
        "proxy-next-upstream-timeout": "10",
        "proxy-connect-timeout": "5",
        "proxy-read-timeout": "60",
        "upstream-keepalive-timeout": str(INGRESS_UPSTREAM_KEEPALIVE_S),
        "upstream-keepalive-connections": "320",
        "upstream-keepalive-requests": "10000",
    }


def test_a_502_or_503_is_never_retried_into_silence() -> None:
    # Retrying on http_502/http_503 would hide exactly the failures a zero-downtime rollout must not have.
    assert "http_50" not in INGRESS_TUNING.proxy_next_upstream
    assert set(INGRESS_TUNING.proxy_next_upstream.split()) == {"error", "timeout"}


@pytest.mark.parametrize("timing", [Timing(), LOCAL_TIMING], ids=["eks", "local"])
def test_the_ingress_closes_idle_upstream_connections_before_gunicorn_does(timing: Timing) -> None:
    # What each side is actually given: the controller's ConfigMap, and the pod's environment.
    ingress = int(controller_config(INGRESS_TUNING)["upstream-keepalive-timeout"])
    settings = AppSettings(image_repository="example-app", image_tag="v1", host="app.example.test", timing=timing)
    gunicorn = int({e["name"]: e["value"] for e in container_env(settings)}["KEEPALIVE"])
    assert ingress < gunicorn


def test_the_ingress_waits_longer_than_a_worker_may_stay_silent() -> None:
    # The ingress waits longer for an answer than gunicorn lets a worker stay silent: a hung worker is
    # killed (and its request fails fast) before the ingress gives up on its own.
    assert IngressTuning().proxy_read_timeout > Timing().worker_timeout
