"""The app's monitoring objects for the cluster's Prometheus and Grafana: what to scrape, the rules, the dashboard.

All three come from the same code the local environment and promtool use (app/slo.py, app/contract/rules.py,
app/contract/dashboard.py, cluster profile); the builders are plain dicts, the component creates them::

    AppMonitoring("prd-app-monitoring", AppMonitoringArgs(app=settings.app, monitoring=monitoring), opts=on_cluster)

Every object carries infra/helm_values.py MONITORING_SELECTOR (the label the chart's Prometheus selects by) and
lives in the metrics stack's namespace; the PodMonitor reaches into the app's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from app import slo
from app.contract import AppSettings
from app.contract.dashboard import release_dashboard
from app.contract.manifests import PORT_NAME, selector_labels
from app.contract.rules import rule_file, scope_for
from app.serving import METRICS_PATH
from infra.helm_values import GRAFANA_DASHBOARD_LABEL, MONITORING_SELECTOR

PROFILE = slo.CLUSTER
"""The rules' and scrapes' clock on EKS: full scale."""
MONITORING_API = "monitoring.coreos.com/v1"
"""prometheus-operator's API group and version (v0.93.1 pkg/apis/monitoring/v1), CRDs from kube-prometheus-stack."""


def _metadata(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {**labels, "app.kubernetes.io/part-of": "example-app"}}


def pod_monitor(settings: AppSettings, *, namespace: str) -> dict[str, Any]:
    """A PodMonitor scraping every pod of the app, stable and canary, on its container port's /metrics.

    It selects by the app's name label only: the canary's pods differ in `app.kubernetes.io/instance`
    (app/contract/canary.py canary_selector) and must be scraped too. Prometheus adds `namespace`, `pod` and
    `container` to each series (prometheus-operator v0.93.1 pkg/prometheus/promcfg.go podMonitor relabelings).
    """
    name_label = "app.kubernetes.io/name"
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": _metadata(settings.name, namespace, MONITORING_SELECTOR),
        "spec": {
            "namespaceSelector": {"matchNames": [settings.namespace]},
            "selector": {"matchLabels": {name_label: selector_labels(settings)[name_label]}},
            "podMetricsEndpoints": [
                {"port": PORT_NAME, "path": METRICS_PATH, "interval": slo.duration(PROFILE.scrape_interval)}
            ],
        },
    }


def prometheus_rule(settings: AppSettings, *, namespace: str) -> dict[str, Any]:
    """The app's recording and alert rules as a PrometheusRule: spec is app/contract/rules.py's rule file, as is."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": _metadata(f"{settings.name}-slo", namespace, MONITORING_SELECTOR),
        "spec": rule_file(scope_for(settings), PROFILE),
    }


def dashboard_config_map(settings: AppSettings, *, namespace: str) -> dict[str, Any]:
    """The release dashboard as a ConfigMap that Grafana's sidecar loads (label GRAFANA_DASHBOARD_LABEL)."""
    board = release_dashboard(scope_for(settings), PROFILE)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(f"{settings.name}-release-dashboard", namespace, GRAFANA_DASHBOARD_LABEL),
        "data": {f"{settings.name}-release.json": json.dumps(board, indent=2)},
    }


@dataclass(frozen=True, kw_only=True)
class AppMonitoringArgs:
    """The app whose objects are watched, and the metrics stack that watches."""

    app: AppSettings
    monitoring_namespace: str
    """The metrics stack's namespace (infra/platform.py Monitoring.namespace)."""
    monitoring_release: pulumi.Resource
    """The metrics stack's release: its CRDs must exist before a PodMonitor or PrometheusRule can."""


class AppMonitoring(pulumi.ComponentResource):
    """The app's PodMonitor, PrometheusRule and release dashboard in the metrics stack's namespace."""

    def __init__(self, name: str, args: AppMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:AppMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring_release])
        ns = args.monitoring_namespace
        for suffix, obj in (
            ("pod-monitor", pod_monitor(args.app, namespace=ns)),
            ("rules", prometheus_rule(args.app, namespace=ns)),
        ):
            k8s.apiextensions.CustomResource(
                f"{name}-{suffix}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj["spec"],
                opts=child,
            )
        board = dashboard_config_map(args.app, namespace=ns)
        k8s.core.v1.ConfigMap(f"{name}-dashboard", metadata=board["metadata"], data=board["data"], opts=child)
        self.register_outputs({})
