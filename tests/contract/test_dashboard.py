"""The release dashboard: the panels a release needs, every query valid PromQL, and every query answering
with data when the series a release produces are there.

promtool 2.42 has no command that parses a lone expression, so each query becomes a rule: recording rules
for `promtool check rules` (parse and validate), and `absent(query)` alerts for `promtool test rules` over
generated series — an alert that stays silent means its query returned something.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import slo
from app.contract.dashboard import RATE_INTERVAL, queries, release_dashboard
from app.contract.rules import main, rule_file, rule_file_text, scope_named
from app.slo import Profile
from harness.promtool import POD, Phase, constant, edge_traffic, page_traffic, run, series, write_yaml

SCOPE = scope_named("example-app", "example-app")


@pytest.fixture(params=[slo.CLUSTER, slo.LOCAL], ids=lambda p: p.name)
def profile(request: pytest.FixtureRequest) -> Profile:
    return request.param  # type: ignore[no-any-return]


def _queries(profile: Profile) -> list[str]:
    # What Grafana sends for $__rate_interval at the finest resolution: four scrape intervals.
    return queries(release_dashboard(SCOPE, profile), slo.duration(4 * profile.scrape_interval))


def test_the_release_view_has_the_panels_a_release_needs() -> None:
    board = release_dashboard(SCOPE, slo.CLUSTER)
    titles = [panel["title"] for panel in board["panels"]]
    assert titles == [
        "Availability budget left (30d)",
        "Latency budget left (30d)",
        "Burn rate",
        "Requests by version and backend",
        "Error ratio",
        "Page latency (/)",
        "Pods by version and readiness",
    ]
    assert [a["name"] for a in board["annotations"]["list"]] == ["Deploys", "Alerts"]
    assert len({panel["id"] for panel in board["panels"]}) == len(titles)
    json.dumps(board)  # importable as it is


def test_panels_tile_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in release_dashboard(SCOPE, slo.CLUSTER)["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_queries_use_grafanas_rate_window_and_the_datasource_variable() -> None:
    board = release_dashboard(SCOPE, slo.CLUSTER)
    rates = [
        t["expr"] for p in board["panels"] for t in p["targets"] if "rate(" in t["expr"] and "slo:" not in t["expr"]
    ]
    assert rates and all(RATE_INTERVAL in expr for expr in rates)
    assert all(t["datasource"]["uid"] == "${datasource}" for p in board["panels"] for t in p["targets"])


def test_the_latency_panel_marks_the_objectives_bound() -> None:
    latency = next(p for p in release_dashboard(SCOPE, slo.CLUSTER)["panels"] if p["title"].startswith("Page latency"))
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == slo.LATENCY_THRESHOLD
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p90", "p99"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path, profile: Profile) -> None:
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(_queries(profile))]
    path = tmp_path / "dashboard.rules.json"
    path.write_text(rule_file_text({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = run("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def _release_series(profile: Profile, samples: int) -> list[dict[str, str]]:
    """What a canary release leaves in Prometheus: traffic at the edge and in two pods, v2 just started."""
    interval = profile.scrape_interval
    phases = [Phase(interval * (samples - 1), 50.0, 0.01)]
    canary_pod = {"job": "example-app", "instance": "10.0.0.8:8080", "pod": "web-def34"}
    stable = page_traffic(SCOPE, phases, interval, version="v1", pod=POD)
    canary = [
        s
        for s in page_traffic(SCOPE, phases, interval, version="v2", pod=canary_pod)
        if "target_info" not in s["series"]
    ]
    # v2's pod reports its build only from the last sample on: the deploy the annotation marks.
    info = {
        "namespace": SCOPE.namespace,
        **canary_pod,
        slo.SERVICE_NAME_LABEL: slo.SERVICE_NAME,
        slo.VERSION_LABEL: "v2",
    }
    ready = [
        constant(slo.POD_READY, {"namespace": SCOPE.namespace, "pod": pod["pod"], "condition": "true"}, 1, samples)
        for pod in (POD, canary_pod)
    ]
    return [
        *edge_traffic(SCOPE, phases, interval),
        *stable,
        *canary,
        series(slo.BUILD_INFO, info, [None] * (samples - 1) + [1]),
        *ready,
        constant(slo.DEPLOYMENT_AVAILABLE, {"namespace": SCOPE.namespace, "deployment": SCOPE.ingress}, 3, samples),
        constant(
            "ALERTS",
            {"alertname": "LatencyBudgetFastBurn", "alertstate": "firing", "namespace": SCOPE.namespace},
            1,
            samples,
        ),
    ]


def _absent_alerts(tmp_path: Path, profile: Profile) -> tuple[Path, list[str]]:
    names = [f"DashboardQuery{i}Empty" for i in range(len(_queries(profile)))]
    rules = [{"alert": name, "expr": f"absent({expr})"} for name, expr in zip(names, _queries(profile), strict=True)]
    path = tmp_path / "dashboard-absent.rules.json"
    path.write_text(rule_file_text({"groups": [{"name": "dashboard-absent", "rules": rules}]}), encoding="utf-8")
    slo_rules = tmp_path / "example-app.rules.json"
    slo_rules.write_text(rule_file_text(rule_file(SCOPE, profile)), encoding="utf-8")
    return path, names


def _run_absent_test(tmp_path: Path, profile: Profile, input_series: list[dict[str, str]], at: str) -> Any:
    absent, names = _absent_alerts(tmp_path, profile)
    tests = write_yaml(
        tmp_path / "dashboard.tests.yml",
        {
            "rule_files": ["example-app.rules.json", absent.name],
            "evaluation_interval": slo.duration(profile.evaluation_interval),
            "tests": [
                {
                    "name": f"every dashboard query answers during a release ({profile.name})",
                    "interval": slo.duration(profile.scrape_interval),
                    "input_series": input_series,
                    "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": []} for name in names],
                }
            ],
        },
    )
    return run("test", "rules", str(tests)), names


def test_every_dashboard_query_returns_data_during_a_release(tmp_path: Path, profile: Profile) -> None:
    samples = 21
    at = slo.duration(profile.scrape_interval * (samples - 1))
    result, _ = _run_absent_test(tmp_path, profile, _release_series(profile, samples), at)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_series_every_dashboard_query_is_empty(tmp_path: Path) -> None:
    """The check above can fail: with nothing scraped, each query's absent() alert fires."""
    nothing = [constant("unrelated_metric", {"job": "x"}, 1, 3)]
    result, names = _run_absent_test(tmp_path, slo.LOCAL, nothing, "2s")
    assert result.returncode != 0
    for name in names:
        assert f"alertname: {name}," in result.stdout + result.stderr


def test_the_command_writes_a_rule_file_promtool_accepts_and_the_dashboard(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--profile", "local"]) == 0
    rules, board = tmp_path / "example-app.rules.json", tmp_path / "example-app-release.json"
    result = run("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(board.read_text(encoding="utf-8"))["title"] == "example-app release"


def test_the_command_refuses_a_name_kubernetes_would_refuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--name", "Not_A_Name"])
    assert "--name 'Not_A_Name' is not a Kubernetes name" in capsys.readouterr().err
