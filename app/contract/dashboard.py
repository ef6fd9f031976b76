"""The release dashboard as code: a Grafana dashboard (classic JSON model) built from app/slo.py.

What a person watching a release wants on one screen: how much of each error budget is left and how
fast it burns, requests by version and by ingress backend, the error ratio at the edge and per version,
the page's latency percentiles against the objective's bound, pods by version and readiness, and every
deploy (a version appearing) and firing alert marked on the timeline.

The classic model (grafana/grafana kinds/dashboard/dashboard_kind.cue: panels with type, gridPos,
targets, fieldConfig; annotations.list; templating.list) is what Grafana imports and what
kube-prometheus-stack's dashboard sidecar and Amazon Managed Grafana load. Queries name the data
source through a `datasource` variable, so the same JSON works against any Prometheus; the only Grafana
variable inside a query is `$__rate_interval` (at least four scrape intervals), which Grafana replaces
before PromQL sees it — `queries()` substitutes a window for the same purpose in the checks.

    board = release_dashboard(scope_named("example-app", "example-app"), CLUSTER)
    json.dumps(board)   # import into Grafana, or put into a ConfigMap for a dashboard sidecar
"""

from __future__ import annotations

from typing import Any

from app import slo
from app.serving import PAGE_PATH
from app.slo import Profile, Scope

Panel = dict[str, Any]
RATE_INTERVAL = "$__rate_interval"
"""Grafana's rate window: max(query step + scrape interval, 4 × scrape interval)."""
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
LATENCY_QUANTILES = (0.5, 0.9, 0.99)
_WIDTH = 24  # Grafana's grid is 24 columns wide


def _target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def _panel(
    title: str,
    *,
    kind: str,
    grid: tuple[int, int, int, int],
    targets: list[tuple[str, str]],
    unit: str,
    description: str,
    thresholds: list[dict[str, Any]] | None = None,
    custom: dict[str, Any] | None = None,
) -> Panel:
    x, y, w, h = grid
    defaults: dict[str, Any] = {"unit": unit}
    if thresholds is not None:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
    if custom is not None:
        defaults["custom"] = custom
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [_target(chr(ord("A") + i), expr, legend) for i, (expr, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
    }


def _budget_panels(profile: Profile, y: int) -> list[Panel]:
    period = profile.window(profile.period)
    panels = []
    for i, objective in enumerate(slo.OBJECTIVES):
        panels.append(
            _panel(
                f"{objective.name.capitalize()} budget left ({period})",
                kind="stat",
                grid=(i * 6, y, 6, 6),
                targets=[(slo.budget_remaining(objective, profile), objective.name)],
                unit="percentunit",
                description=f"{objective.summary}. Share of the {period} error budget not yet spent.",
                thresholds=[
                    {"color": "red", "value": None},
                    {"color": "orange", "value": 0},
                    {"color": "green", "value": 0.25},
                ],
            )
        )
    return panels


def _burn_panel(profile: Profile, y: int) -> Panel:
    targets = []
    for objective in slo.OBJECTIVES:
        for window in (slo.FAST_BURN.long_window, slo.FAST_BURN.short_window):
            scaled = profile.window(window)
            expr = f"{slo.recorded_error_ratio(objective, scaled)} / {objective.error_budget:.6g}"
            targets.append((expr, f"{objective.name} over {scaled}"))
    return _panel(
        "Burn rate",
        kind="timeseries",
        grid=(12, y, 12, 6),
        targets=targets,
        unit="none",
        description=f"How many times faster than sustainable each budget burns; the fast-burn alert pages above "
        f"{slo.FAST_BURN.burn_rate:g}× on both windows.",
        thresholds=[{"color": "green", "value": None}, {"color": "red", "value": slo.FAST_BURN.burn_rate}],
        custom={"thresholdsStyle": {"mode": "line"}},
    )


def release_dashboard(scope: Scope, profile: Profile) -> dict[str, Any]:
    """The dashboard JSON (classic model) for the app in `scope`, windows at `profile`'s scale."""
    w = RATE_INTERVAL
    half = _WIDTH // 2
    bound = slo.LATENCY_THRESHOLD
    panels = [
        *_budget_panels(profile, 0),
        _burn_panel(profile, 0),
        _panel(
            "Requests by version and backend",
            kind="timeseries",
            grid=(0, 6, half, 8),
            targets=[
                (slo.requests_by_version(scope, w), "app {{service_version}}"),
                (slo.ingress_requests_by_backend(scope, w), "ingress {{canary}} {{status}}"),
            ],
            unit="reqps",
            description="User requests per second each version answered (the app's own count, probes left out), and "
            "what the ingress sent to each backend by status (an empty backend is the stable Service).",
        ),
        _panel(
            "Error ratio",
            kind="timeseries",
            grid=(half, 6, half, 8),
            targets=[
                (slo.ingress_error_ratio_by_backend(scope, w), "ingress {{canary}}"),
                (slo.error_ratio_by_version(scope, w), "app {{service_version}}"),
            ],
            unit="percentunit",
            description="Share of 5xx answers: at the ingress per backend (what users got, connection failures to pods "
            "included) and in the app per version.",
            thresholds=[
                {"color": "green", "value": None},
                {"color": "red", "value": slo.AVAILABILITY.error_budget},
            ],
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        _panel(
            f"Page latency ({PAGE_PATH})",
            kind="timeseries",
            grid=(0, 14, half, 8),
            targets=[(slo.page_latency_quantile(q, scope, w), f"p{q * 100:g}") for q in LATENCY_QUANTILES],
            unit="s",
            description=f"Percentiles of the app's time to answer the page; the objective: {slo.LATENCY.summary}.",
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": bound}],
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        _panel(
            "Pods by version and readiness",
            kind="timeseries",
            grid=(half, 14, half, 8),
            targets=[
                (slo.pods_by_version(scope), "scraped {{service_version}}"),
                (slo.ready_pods_by_version(scope), "ready {{service_version}}"),
                (slo.deployment_replicas(slo.DEPLOYMENT_AVAILABLE, scope), "available {{deployment}}"),
            ],
            unit="none",
            description="Pods that report each version, those of them Ready (kube-state-metrics), and each "
            "Deployment's available replicas.",
        ),
    ]
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    marker = slo.duration(2 * profile.scrape_interval)
    return {
        "uid": f"{scope.namespace}-release"[:40],
        "title": f"{scope.ingress} release",
        "description": "Objectives, traffic by version, errors, latency and pods during a release (generated).",
        "tags": ["example-app", "release", "slo"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 36,
        "time": {"from": "now-1h" if profile.scale == 1 else "now-15m", "to": "now"},
        "refresh": slo.duration(max(profile.evaluation_interval, 5.0)),
        "templating": {
            "list": [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}]
        },
        "annotations": {
            "list": [
                {
                    "name": "Deploys",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "blue",
                    # Marked once: at the first step a version is scraped that was not one step before.
                    "expr": slo.new_versions(scope, marker),
                    "step": marker,
                    "titleFormat": "deploy {{service_version}}",
                    "tagKeys": slo.VERSION_LABEL,
                    "useValueForTime": False,
                },
                {
                    "name": "Alerts",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "red",
                    "expr": slo.series("ALERTS", (("alertstate", "=", "firing"), ("namespace", "=", scope.namespace))),
                    "step": marker,
                    "titleFormat": "{{alertname}}",
                    "tagKeys": "severity",
                    "useValueForTime": False,
                },
            ]
        },
        "panels": panels,
    }


def queries(board: dict[str, Any], rate_window: str) -> list[str]:
    """Every PromQL expression of the dashboard, panels then annotations, `$__rate_interval` → `rate_window`."""
    found = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    found += [annotation["expr"] for annotation in board["annotations"]["list"]]
    return [expr.replace(RATE_INTERVAL, rate_window) for expr in found]
