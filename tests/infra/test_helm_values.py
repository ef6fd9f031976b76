"""Platform Helm values as plain data: the shared ingress tuning, NLB drain arithmetic, issuers."""

from __future__ import annotations

import re

import pytest

from app.contract.ingress import INGRESS_TUNING, IngressTuning
from infra.helm_values import (
    CERT_MANAGER_CHART,
    CONTROLLER_LABELS,
    INGRESS_NGINX_CHART,
    LETS_ENCRYPT_SERVERS,
    METRICS_SERVER_CHART,
    METRICS_SERVER_LABELS,
    NLB_DRAIN,
    ChartRef,
    LoadBalancerDrain,
    cert_manager_values,
    cluster_issuer,
    ingress_nginx_values,
    metrics_server_values,
)


def test_controller_config_is_the_contracts_tuning_not_a_copy() -> None:
    custom = IngressTuning(proxy_next_upstream_tries=5)
    values = ingress_nginx_values(replicas=2, ingress_class="nginx", tuning=custom)
    assert values["controller"]["config"] == custom.controller_config()
    default = ingress_nginx_values(replicas=2, ingress_class="nginx")
    assert default["controller"]["config"] == INGRESS_TUNING.controller_config()


def test_controller_stays_available_through_drains_and_upgrades() -> None:
    controller = ingress_nginx_values(replicas=3, ingress_class="nginx")["controller"]
    assert controller["replicaCount"] == 3
    assert controller["minAvailable"] == 1  # PDB: a node drain never takes the last controller
    assert controller["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (term,) = controller["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == CONTROLLER_LABELS
    assert controller["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


@pytest.mark.parametrize(
    ("drain", "shutdown_grace", "termination_grace"),
    [
        # Defaults: the NLB looks away after 10 s × 2 (+ 10 s margin); then 30 s drain, 10 s post-shutdown, 20 s slack.
        (NLB_DRAIN, 30, 90),
        (LoadBalancerDrain(health_check_interval=5, unhealthy_threshold=2), 20, 80),
        (LoadBalancerDrain(health_check_interval=30, unhealthy_threshold=3, drain=60, exit_margin=5), 100, 175),
    ],
)
def test_nginx_keeps_accepting_until_the_nlb_has_stopped_sending(
    drain: LoadBalancerDrain, shutdown_grace: int, termination_grace: int
) -> None:
    controller = ingress_nginx_values(replicas=2, ingress_class="nginx", drain=drain)["controller"]
    annotations = controller["service"]["annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    interval = int(annotations[f"{prefix}healthcheck-interval"])
    threshold = int(annotations[f"{prefix}healthcheck-unhealthy-threshold"])
    grace = int(controller["extraArgs"]["shutdown-grace-period"])
    assert grace == shutdown_grace
    assert grace > interval * threshold, "nginx would close while the NLB still sends new connections"
    assert controller["terminationGracePeriodSeconds"] == termination_grace
    assert controller["service"]["externalTrafficPolicy"] == "Local"


@pytest.mark.parametrize("replicas", [2, 3])
def test_metrics_server_stays_available_through_drains_and_upgrades(replicas: int) -> None:
    values = metrics_server_values(replicas=replicas)
    assert values["replicas"] == replicas
    assert values["podDisruptionBudget"] == {
        "enabled": True,
        "minAvailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    assert values["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (term,) = values["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == METRICS_SERVER_LABELS


@pytest.mark.parametrize("chart", [INGRESS_NGINX_CHART, CERT_MANAGER_CHART, METRICS_SERVER_CHART], ids=lambda c: c.name)
def test_every_chart_is_pinned_to_one_exact_version(chart: ChartRef) -> None:
    # A range ("3.13.x", "^3.12") would let Helm upgrade the platform without a preview showing it.
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart.version), f"{chart.name} {chart.version!r} is not one version"


def test_cert_manager_installs_its_crds_and_runs_two_of_everything() -> None:
    values = cert_manager_values()
    assert values["crds"] == {"enabled": True, "keep": True}
    for part in (values, values["webhook"], values["cainjector"]):
        assert part["replicaCount"] == 2
        assert part["podDisruptionBudget"]["enabled"] is True


@pytest.mark.parametrize("server", sorted(LETS_ENCRYPT_SERVERS))
def test_cluster_issuer_answers_http01_through_the_ingress_class(server: str) -> None:
    issuer = cluster_issuer(acme_server=server, email="ops@example.org", ingress_class="nginx")
    assert issuer["metadata"]["name"] == f"letsencrypt-{server}"
    acme = issuer["spec"]["acme"]
    assert acme["server"] == LETS_ENCRYPT_SERVERS[server]
    assert acme["email"] == "ops@example.org"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert acme["privateKeySecretRef"]["name"] == f"letsencrypt-{server}-account-key"
