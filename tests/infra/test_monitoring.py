"""The metrics stack on EKS: the pinned chart, what it scrapes, the rules and dashboard it loads, where alerts go.

Each stack file runs under Pulumi's mocks (tests/infra/conftest.py); the objects Pulumi would send are
compared with what app/slo.py, app/contract/rules.py and app/contract/dashboard.py generate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime import rpc

from app.contract.canary import canary_selector
from app.contract.dashboard import release_dashboard
from app.contract.disruption import drain_budget, selects
from app.contract.manifests import METRICS_SCRAPER_LABELS, METRICS_SCRAPER_NAMESPACE, render
from app.contract.rules import rule_file, scope_for
from app.serving import METRICS_PATH
from app.slo import CLUSTER
from harness.mocked_stack import RELEASE_TAG, Graph, Run
from harness.project_files import stack_names
from harness.stack_settings import settings_with
from infra.helm_values import (
    KUBE_PROMETHEUS_STACK_CHART,
    MONITORING_SELECTOR,
    PROMETHEUS_LABELS,
    PROMETHEUS_RETENTION,
    alertmanager_config,
)
from infra.monitoring import dashboard_config_map, pod_monitor, prometheus_rule
from stacks.schema import is_https_url

STACKS = stack_names()

RunProgram = Callable[..., Run]
GraphOf = Callable[[str], Graph]
RELEASE = "kubernetes:helm.sh/v3:Release"
WEBHOOK = "https://hooks.chat.example.org/services/T000/B000/XXXX"
per_stack = pytest.mark.parametrize("stack", STACKS)


def _release(graph: Graph, name: str) -> Any:
    return next(r for r in graph.of_type(RELEASE) if r.inputs["name"] == name)


def _custom(graph: Graph, kind: str) -> Any:
    (found,) = [r for r in graph.resources if r.type == f"kubernetes:monitoring.coreos.com/v1:{kind}"]
    return found


def _app(stack: str) -> Any:
    return settings_with(stack, {"imageTag": RELEASE_TAG}).app


@per_stack
def test_the_metrics_stack_is_pinned_with_two_budgeted_spread_replicas(stack: str, stack_graph: GraphOf) -> None:
    release = _release(stack_graph(stack), "kube-prometheus-stack").inputs
    assert (release["chart"], release["version"]) == ("kube-prometheus-stack", "88.5.3")
    assert release["repositoryOpts"]["repo"] == KUBE_PROMETHEUS_STACK_CHART.repository
    assert release["namespace"] == METRICS_SCRAPER_NAMESPACE == "monitoring"
    assert release["atomic"] is True
    values = release["values"]
    for part, spec in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec")):
        assert values[part][spec]["replicas"] == 2
        # A drain takes one pod at a time (the chart's minAvailable key, as Pulumi cannot null it).
        budget = values[part]["podDisruptionBudget"]
        assert "maxUnavailable" not in budget
        assert budget["minAvailable"] == values[part][spec]["replicas"] - drain_budget()["maxUnavailable"]
        assert budget["unhealthyPodEvictionPolicy"] == drain_budget()["unhealthyPodEvictionPolicy"]
        keys = {c["topologyKey"] for c in values[part][spec]["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    # The budget-left rule reads the whole compliance period.
    assert f"{round(CLUSTER.period / 86400)}d" == PROMETHEUS_RETENTION
    assert values["nodeExporter"] == {"enabled": False}


def test_the_network_policy_admits_the_prometheus_the_chart_runs() -> None:
    assert METRICS_SCRAPER_LABELS.items() <= PROMETHEUS_LABELS.items()


@per_stack
def test_the_ingress_controller_is_scraped_with_its_own_labels(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    nginx = _release(graph, "ingress-nginx")
    monitor = nginx.inputs["values"]["controller"]["metrics"]["serviceMonitor"]
    # honorLabels keeps the app's `namespace` on nginx_ingress_controller_requests (else exported_namespace).
    assert monitor == {"enabled": True, "honorLabels": True, "additionalLabels": MONITORING_SELECTOR}
    # Its ServiceMonitor needs the stack's CRDs: the ingress release waits for the metrics stack.
    assert graph.waits_for(nginx, _release(graph, "kube-prometheus-stack"))


@per_stack
def test_the_apps_rules_and_dashboard_are_the_generators(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    app = _app(stack)
    rule = _custom(graph, "PrometheusRule")
    assert rule.inputs["spec"] == json.loads(json.dumps(rule_file(scope_for(app), CLUSTER)))
    assert rule.inputs["metadata"]["labels"].items() >= MONITORING_SELECTOR.items()
    (board,) = [r for r in graph.of_type("kubernetes:core/v1:ConfigMap") if "dashboard" in r.name]
    assert board.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board.inputs["metadata"]["namespace"] == "monitoring"
    (text,) = board.inputs["data"].values()
    assert json.loads(text) == json.loads(json.dumps(release_dashboard(scope_for(app), CLUSTER)))
    stack_release = _release(graph, "kube-prometheus-stack")
    for obj in (rule, board, _custom(graph, "PodMonitor")):
        assert graph.waits_for(obj, stack_release), obj.name


@per_stack
def test_the_pod_monitor_scrapes_stable_and_canary_pods_on_metrics(stack: str, stack_graph: GraphOf) -> None:
    app = _app(stack)
    monitor = _custom(stack_graph(stack), "PodMonitor").inputs
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [app.namespace]}
    pod_labels = render(app).deployment["spec"]["template"]["metadata"]["labels"]
    for labels in (pod_labels, {**pod_labels, **canary_selector(app)}):
        assert selects(monitor["spec"]["selector"], labels)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    container = render(app).deployment["spec"]["template"]["spec"]["containers"][0]
    assert endpoint["port"] in {p["name"] for p in container["ports"]}
    assert endpoint["path"] == METRICS_PATH
    assert monitor["metadata"]["labels"].items() >= MONITORING_SELECTOR.items()


def test_the_builders_name_the_monitoring_namespace() -> None:
    app = _app("int")
    for obj in (pod_monitor(app, namespace="mon"), prometheus_rule(app, namespace="mon")):
        assert obj["metadata"]["namespace"] == "mon"
    assert dashboard_config_map(app, namespace="mon")["metadata"]["namespace"] == "mon"


def test_without_a_webhook_alerts_stay_in_alertmanager_with_a_notice(
    run_program: RunProgram, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        run = run_program("int")
    assert run.stopped is None, run.stopped
    config = _release(run.graph, "kube-prometheus-stack").inputs["values"]["alertmanager"]["config"]
    assert config["route"]["receiver"] == "null"
    assert [r["name"] for r in config["receivers"]] == ["null"]
    assert "no chat webhook configured" in caplog.text
    assert "pulumi config set --secret alertChatWebhook" in caplog.text


def test_a_webhook_routes_every_alert_to_chat_as_a_secret(
    run_program: RunProgram, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        run = run_program("int", {"alertChatWebhook": WEBHOOK})
    assert run.stopped is None, run.stopped
    release = _release(run.graph, "kube-prometheus-stack")
    config = release.inputs["values"]["alertmanager"]["config"]
    assert config == alertmanager_config(chat_webhook_url=WEBHOOK)
    assert config["route"]["receiver"] == "chat"
    assert config["receivers"][1]["slack_configs"][0]["api_url"] == WEBHOOK
    assert rpc.is_rpc_secret(release.raw_inputs["values"]), "the webhook must reach state encrypted"
    assert "no chat webhook configured" not in caplog.text
    assert WEBHOOK not in caplog.text


def test_a_webhook_that_is_no_url_is_refused_without_repeating_it(run_program: RunProgram) -> None:
    run = run_program("int", {"alertChatWebhook": "hooks.chat.example.org/secret-token"})
    assert run.stopped is not None
    assert "example-app:alertChatWebhook" in run.stopped and "https://" in run.stopped
    assert "secret-token" not in run.stopped


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (WEBHOOK, True),
        ("https://chat.example.org/hooks/abc?x=1", True),
        ("http://hooks.chat.example.org/x", False),
        ("https://localhost/x", False),
        ("https://hooks.example.org/a b", False),
        ("", False),
    ],
)
def test_webhook_urls(value: str, valid: bool) -> None:
    assert is_https_url(value) is valid
