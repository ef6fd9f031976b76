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
    POST_SHUTDOWN_GRACE,
    ChartRef,
    LoadBalancerDrain,
    cert_manager_values,
    cluster_issuer,
    ingress_nginx_values,
    metrics_server_values,
)


def test_controller_config_is_the_contracts_tuning_not_a_copy() -> None:
    custom = IngressTuning(proxy_next_upstream_tries=5)
    drain = LoadBalancerDrain(drain=20)
    values = ingress_nginx_values(replicas=2, ingress_class="nginx", tuning=custom, drain=drain)
    assert values["controller"]["config"] == {**custom.controller_config(), "worker-shutdown-timeout": "20s"}
    default = ingress_nginx_values(replicas=2, ingress_class="nginx")
    assert default["controller"]["config"] == {**INGRESS_TUNING.controller_config(), "worker-shutdown-timeout": "30s"}


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


# Every Service annotation kubernetes/cloud-provider-aws v1.35.2 (the in-tree controller of EKS 1.35) reads:
# the ServiceAnnotation* constants of pkg/providers/v1/aws.go, after "service.beta.kubernetes.io/aws-load-balancer-".
IN_TREE_ANNOTATIONS = frozenset(
    "service.beta.kubernetes.io/aws-load-balancer-" + suffix
    for suffix in [
        "access-log-emit-interval",
        "access-log-enabled",
        "access-log-s3-bucket-name",
        "access-log-s3-bucket-prefix",
        "additional-resource-tags",
        "backend-protocol",
        "connection-draining-enabled",
        "connection-draining-timeout",
        "connection-idle-timeout",
        "cross-zone-load-balancing-enabled",
        "eip-allocations",
        "extra-security-groups",
        "healthcheck-healthy-threshold",
        "healthcheck-interval",
        "healthcheck-path",
        "healthcheck-port",
        "healthcheck-protocol",
        "healthcheck-timeout",
        "healthcheck-unhealthy-threshold",
        "internal",
        "private-ipv4-addresses",
        "proxy-protocol",
        "security-groups",
        "ssl-cert",
        "ssl-negotiation-policy",
        "ssl-ports",
        "subnets",
        "target-group-attributes",
        "target-node-labels",
        "type",
    ]
)


def test_the_service_carries_only_annotations_the_in_tree_controller_reads() -> None:
    # `aws-load-balancer-scheme` is the AWS Load Balancer Controller's: the in-tree one ignores it (its NLB is
    # internet-facing unless `…-internal` is set), so it would only mislead a reader.
    annotations = ingress_nginx_values(replicas=2, ingress_class="nginx")["controller"]["service"]["annotations"]
    assert set(annotations) <= IN_TREE_ANNOTATIONS, sorted(set(annotations) - IN_TREE_ANNOTATIONS)
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert "service.beta.kubernetes.io/aws-load-balancer-internal" not in annotations  # internet-facing


def test_nginx_finishes_draining_inside_the_grace_period() -> None:
    # ingress-nginx controller-v1.15.1 defaults worker-shutdown-timeout to 240 s: nginx would still be
    # draining when the kubelet kills the pod at its 90 s grace period.
    controller = ingress_nginx_values(replicas=2, ingress_class="nginx")["controller"]
    worker_shutdown = int(controller["config"]["worker-shutdown-timeout"].removesuffix("s"))
    assert worker_shutdown == NLB_DRAIN.drain
    grace = int(controller["extraArgs"]["shutdown-grace-period"])
    assert controller["terminationGracePeriodSeconds"] > grace + worker_shutdown + POST_SHUTDOWN_GRACE


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
