"""Platform Helm values as plain data: the shared ingress tuning, NLB drain arithmetic, issuers."""

from __future__ import annotations

import dataclasses
import re

import pytest

from app.contract.ingress import INGRESS_TUNING, IngressTuning
from app.contract.routers.ingress_nginx import controller_config
from infra.helm_values import (
    CERT_MANAGER_CHART,
    CERT_MANAGER_LABELS,
    CONTROLLER_LABELS,
    INGRESS_NGINX_CHART,
    LETS_ENCRYPT_SERVERS,
    LOAD_BALANCER_CONTROLLER_CHART,
    METRICS_SERVER_CHART,
    METRICS_SERVER_LABELS,
    NLB_LOAD_BALANCER_CLASS,
    ChartRef,
    cert_manager_values,
    cluster_issuer,
    ingress_nginx_values,
    metrics_server_values,
)
from infra.ingress_timing import INGRESS_TIMING, IngressTiming


def test_controller_config_is_the_contracts_tuning_not_a_copy() -> None:
    custom = IngressTuning(proxy_next_upstream_tries=5)
    timing = dataclasses.replace(INGRESS_TIMING, drain=20, deregistration_delay=155)
    values = ingress_nginx_values(replicas=2, ingress_class="nginx", tuning=custom, timing=timing)
    assert values["controller"]["config"] == {**controller_config(custom), "worker-shutdown-timeout": "20s"}
    default = ingress_nginx_values(replicas=2, ingress_class="nginx")
    assert default["controller"]["config"] == {**controller_config(INGRESS_TUNING), "worker-shutdown-timeout": "30s"}


def test_controller_stays_available_through_drains_and_upgrades() -> None:
    controller = ingress_nginx_values(replicas=3, ingress_class="nginx")["controller"]
    assert controller["replicaCount"] == 3
    # PDB: a drain takes one controller at a time, even of three, and a controller that is not Ready never blocks it.
    assert controller["maxUnavailable"] == 1 and "minAvailable" not in controller
    assert controller["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert controller["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (term,) = controller["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == CONTROLLER_LABELS
    spread = {c["topologyKey"]: c for c in controller["topologySpreadConstraints"]}
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert all(c["labelSelector"] == {"matchLabels": CONTROLLER_LABELS} for c in spread.values())


PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"


def _attributes(annotations: dict[str, str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in annotations[f"{PREFIX}target-group-attributes"].split(","))


@pytest.mark.parametrize(
    "timing",
    [
        INGRESS_TIMING,
        dataclasses.replace(INGRESS_TIMING, deregistration_propagation=170, pre_stop=180, deregistration_delay=215),
    ],
)
def test_the_controller_stops_on_the_nlbs_clock(timing: IngressTiming) -> None:
    # What a reader of the rendered pod and Service sees: nginx is signalled only after the NLB may still
    # open connections (preStop), and the NLB cuts only after nginx has finished (deregistration delay).
    controller = ingress_nginx_values(replicas=2, ingress_class="nginx", timing=timing)["controller"]
    script = controller["lifecycle"]["preStop"]["exec"]["command"][-1]
    pre_stop = int(script.removeprefix("sleep ").split(" ")[0])
    grace = int(controller["extraArgs"]["shutdown-grace-period"])
    post = int(controller["extraArgs"]["post-shutdown-grace-period"])
    drain = int(controller["config"]["worker-shutdown-timeout"].removesuffix("s"))
    attributes = _attributes(controller["service"]["annotations"])
    assert pre_stop >= timing.controller_reaction + timing.deregistration_propagation
    assert int(attributes["deregistration_delay.timeout_seconds"]) >= pre_stop + grace + drain
    assert attributes["deregistration_delay.connection_termination.enabled"] == "true"
    assert controller["terminationGracePeriodSeconds"] > pre_stop + grace + drain + post


def test_the_charts_prestop_is_replaced() -> None:
    # The chart's default preStop, /wait-shutdown, signals the controller at once: /healthz fails while the
    # NLB still sends new connections (the defect this design removes).
    lifecycle = ingress_nginx_values(replicas=2, ingress_class="nginx")["controller"]["lifecycle"]
    # One handler (Helm merges maps: a `sleep` beside the chart's `exec` would be two, which is refused).
    assert lifecycle == {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 130 && exec /wait-shutdown"]}}}


def test_the_service_is_an_nlb_with_ip_targets_owned_by_the_load_balancer_controller() -> None:
    service = ingress_nginx_values(replicas=2, ingress_class="nginx")["controller"]["service"]
    annotations = service["annotations"]
    assert service["loadBalancerClass"] == NLB_LOAD_BALANCER_CLASS == "service.k8s.aws/nlb"
    assert annotations[f"{PREFIX}nlb-target-type"] == "ip"
    assert annotations[f"{PREFIX}scheme"] == "internet-facing"  # the controller's default is internal
    assert annotations[f"{PREFIX}healthcheck-path"] == "/healthz"
    assert annotations[f"{PREFIX}healthcheck-port"] == "10254"
    assert annotations[f"{PREFIX}healthcheck-protocol"] == "http"
    assert service["allocateLoadBalancerNodePorts"] is False
    # The in-tree controller's type annotation would make both controllers claim the Service.
    assert f"{PREFIX}type" not in annotations


def test_an_unhealthy_target_is_not_reset_while_nginx_drains() -> None:
    attributes = _attributes(
        ingress_nginx_values(replicas=2, ingress_class="nginx")["controller"]["service"]["annotations"]
    )
    assert attributes["target_health_state.unhealthy.connection_termination.enabled"] == "false"
    assert (
        int(attributes["target_health_state.unhealthy.draining_interval_seconds"])
        >= INGRESS_TIMING.shutdown_grace + INGRESS_TIMING.drain
    )
    assert attributes["preserve_client_ip.enabled"] == "true"


@pytest.mark.parametrize(
    "broken",
    [{"pre_stop": 100}, {"deregistration_delay": 4000}, {"shutdown_grace": 5.5, "deregistration_delay": 166}],
    ids=["prestop-short", "delay-beyond-aws", "fraction"],
)
def test_unsound_timing_is_refused_before_any_chart_sees_it(broken: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="ingress timing is unsound"):
        ingress_nginx_values(replicas=2, ingress_class="nginx", timing=dataclasses.replace(INGRESS_TIMING, **broken))


@pytest.mark.parametrize("replicas", [2, 3])
def test_metrics_server_stays_available_through_drains_and_upgrades(replicas: int) -> None:
    values = metrics_server_values(replicas=replicas)
    assert values["replicas"] == replicas
    assert values["podDisruptionBudget"] == {
        "enabled": True,
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    assert values["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (term,) = values["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == METRICS_SERVER_LABELS
    zones = [c for c in values["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert [c["labelSelector"] for c in zones] == [{"matchLabels": METRICS_SERVER_LABELS}]


@pytest.mark.parametrize(
    "chart",
    [INGRESS_NGINX_CHART, CERT_MANAGER_CHART, METRICS_SERVER_CHART, LOAD_BALANCER_CONTROLLER_CHART],
    ids=lambda c: c.name,
)
def test_every_chart_is_pinned_to_one_exact_version(chart: ChartRef) -> None:
    # A range ("3.13.x", "^3.12") would let Helm upgrade the platform without a preview showing it.
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart.version), f"{chart.name} {chart.version!r} is not one version"


def test_cert_manager_installs_its_crds_and_runs_two_of_everything() -> None:
    values = cert_manager_values()
    assert values["crds"] == {"enabled": True, "keep": True}
    for part, labels in (
        (values, CERT_MANAGER_LABELS["controller"]),
        (values["webhook"], CERT_MANAGER_LABELS["webhook"]),
        (values["cainjector"], CERT_MANAGER_LABELS["cainjector"]),
    ):
        assert part["replicaCount"] == 2
        # One pod of each part at a time; `maxUnavailable` replaces the chart's default minAvailable 1.
        assert part["podDisruptionBudget"] == {
            "enabled": True,
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        }
        spread = {c["topologyKey"]: c["labelSelector"] for c in part["topologySpreadConstraints"]}
        assert spread == {
            "topology.kubernetes.io/zone": {"matchLabels": labels},
            "kubernetes.io/hostname": {"matchLabels": labels},
        }


@pytest.mark.parametrize("server", sorted(LETS_ENCRYPT_SERVERS))
def test_cluster_issuer_answers_http01_through_the_ingress_class(server: str) -> None:
    issuer = cluster_issuer(acme_server=server, email="ops@example.org", ingress_class="nginx")
    assert issuer["metadata"]["name"] == f"letsencrypt-{server}"
    acme = issuer["spec"]["acme"]
    assert acme["server"] == LETS_ENCRYPT_SERVERS[server]
    assert acme["email"] == "ops@example.org"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert acme["privateKeySecretRef"]["name"] == f"letsencrypt-{server}-account-key"
