"""The generated Prometheus rules: `promtool check rules` passes, and `promtool test rules` shows every alert
firing on the burn it is for, silent on a healthy series and on a burn below its threshold.

One promtool run per alert and profile, its scenarios as test groups; the input series are generated from
traffic phases (tests/harness/promtool.py), at the profile's own scrape interval and windows.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from app import slo
from app.contract.rules import (
    PODS_BELOW_BUDGET,
    ROLLOUT_STUCK,
    alert_name,
    rule_file,
    rule_file_text,
    rule_groups,
    scope_named,
)
from app.slo import BurnRateAlert, Objective, Profile
from harness.promtool import Phase, constant, edge_traffic, page_traffic, run, series, write_yaml

SCOPE = scope_named("example-app", "example-app")
PROFILES = [slo.CLUSTER, slo.LOCAL]
RATE = 100.0
"""Requests per second in every scenario (the ratio, not the volume, decides)."""


@pytest.fixture(params=PROFILES, ids=lambda p: p.name)
def profile(request: pytest.FixtureRequest) -> Profile:
    return request.param  # type: ignore[no-any-return]


def _rules(tmp_path: Path, profile: Profile) -> Path:
    path = tmp_path / "example-app.rules.json"
    path.write_text(rule_file_text(rule_file(SCOPE, profile)), encoding="utf-8")
    return path


def _rule(name: str, profile: Profile) -> dict[str, Any]:
    return next(r for g in rule_groups(SCOPE, profile) for r in g["rules"] if r.get("alert") == name)


def _expected(name: str, profile: Profile, **labels: str) -> dict[str, Any]:
    """The alert as promtool reports it: the rule's labels plus the expression's, templates rendered."""
    rule = _rule(name, profile)
    every = {**labels, **rule["labels"]}

    def render(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: every[m.group(1)], text)

    return {
        "exp_labels": every,
        "exp_annotations": {key: render(text) for key, text in rule["annotations"].items()},
    }


def _promtool_test(tmp_path: Path, profile: Profile, groups: list[dict[str, Any]]) -> None:
    rules = _rules(tmp_path, profile)
    tests = write_yaml(
        tmp_path / "tests.yml",
        {
            "rule_files": [rules.name],
            "evaluation_interval": slo.duration(profile.evaluation_interval),
            "tests": groups,
        },
    )
    result = run("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_generated_rule_file_passes_promtool_check(tmp_path: Path, profile: Profile) -> None:
    result = run("check", "rules", str(_rules(tmp_path, profile)))
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(group["rules"]) for group in rule_groups(SCOPE, profile))
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_check_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: the same file with one expression broken does not pass."""
    document = rule_file(SCOPE, slo.LOCAL)
    document["groups"][1]["rules"][0]["expr"] += " and ("
    path = tmp_path / "broken.json"
    path.write_text(rule_file_text(document), encoding="utf-8")
    result = run("check", "rules", str(path))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


# --- the burn-rate alerts --------------------------------------------------------------------------
def _traffic(objective: Objective, phases: list[Phase], interval: float) -> list[dict[str, str]]:
    if objective is slo.AVAILABILITY:
        return edge_traffic(SCOPE, phases, interval)
    return page_traffic(SCOPE, phases, interval)


def _sample_interval(alert: BurnRateAlert, profile: Profile) -> float:
    """Five samples per short window: enough for rate(), few enough for promtool."""
    return max(profile.scrape_interval, alert.short_window * profile.scale / 5)


def _burn_group(
    name: str,
    *,
    objective: Objective,
    alert: BurnRateAlert,
    profile: Profile,
    phases: list[Phase],
    fires: bool,
) -> dict[str, Any]:
    interval = _sample_interval(alert, profile)
    elapsed = sum(p.seconds for p in phases)
    rule_name = alert_name(objective, alert)
    expected = [_expected(rule_name, profile, slo=objective.name)] if fires else []
    return {
        "name": f"{rule_name} {profile.name}: {name}",
        "interval": slo.duration(interval),
        "input_series": _traffic(objective, phases, interval),
        "alert_rule_test": [{"eval_time": slo.duration(elapsed), "alertname": rule_name, "exp_alerts": expected}],
    }


@pytest.mark.parametrize("objective", slo.OBJECTIVES, ids=lambda o: o.name)
@pytest.mark.parametrize("alert", slo.BURN_RATE_ALERTS, ids=lambda a: a.name)
def test_burn_rate_alert_fires_on_its_burn_only(
    tmp_path: Path, profile: Profile, objective: Objective, alert: BurnRateAlert
) -> None:
    long, short = alert.long_window * profile.scale, alert.short_window * profile.scale
    threshold = alert.burn_rate * objective.error_budget  # share of bad events that burns this fast
    # The whole long window plus one short one, so both windows see only this phase.
    span = long + short

    def scenario(name: str, phases: list[Phase], fires: bool) -> dict[str, Any]:
        return _burn_group(name, objective=objective, alert=alert, profile=profile, phases=phases, fires=fires)

    groups = [
        scenario("burning 25 % past the threshold fires", [Phase(span, RATE, 1.25 * threshold)], True),
        scenario("a healthy service is silent", [Phase(span, RATE, 0.0)], False),
        scenario("failing at the budget's own pace is silent", [Phase(span, RATE, objective.error_budget)], False),
        scenario("burning 20 % below the threshold is silent", [Phase(span, RATE, 0.8 * threshold)], False),
        # The long window alone still burns, but the short one is clean: the page stops soon after the burn.
        scenario(
            "a burn that stopped is silent once the short window is clean",
            [Phase(span, RATE, 2 * threshold), Phase(2 * short, RATE, 0.0)],
            False,
        ),
    ]
    # promtool evaluates every group at its interval from 0 to the eval time: over a 6 h window every
    # 30 s that is thousands of evaluations per scenario. The same rules, evaluated once per sample,
    # decide the same; only the `for` of the rollout alerts (tested below at the real interval) depends on it.
    sampled = dataclasses.replace(profile, evaluation_interval=_sample_interval(alert, profile))
    _promtool_test(tmp_path, sampled, groups)


# --- rollouts: kube-state-metrics ------------------------------------------------------------------
def _condition(deployment: str, reason: str, status: str, samples: int) -> list[dict[str, str]]:
    """kube_deployment_status_condition as kube-state-metrics writes it: one series per status, 1 for the current."""
    labels = {"namespace": SCOPE.namespace, "deployment": deployment, "condition": "Progressing", "reason": reason}
    return [
        constant(slo.DEPLOYMENT_CONDITION, {**labels, "status": value}, 1.0 if value == status else 0.0, samples)
        for value in ("true", "false", "unknown")
    ]


def test_rollout_stuck_fires_past_the_progress_deadline_only(tmp_path: Path, profile: Profile) -> None:
    interval, samples = profile.scrape_interval, 5
    at = slo.duration(interval * (samples - 1))

    def group(name: str, series: list[dict[str, str]], stuck: list[str]) -> dict[str, Any]:
        expected = [_expected(ROLLOUT_STUCK, profile, namespace=SCOPE.namespace, deployment=d) for d in stuck]
        return {
            "name": f"{ROLLOUT_STUCK} {profile.name}: {name}",
            "interval": slo.duration(interval),
            "input_series": series,
            "alert_rule_test": [{"eval_time": at, "alertname": ROLLOUT_STUCK, "exp_alerts": expected}],
        }

    stable, canary = SCOPE.deployments
    deadline = slo.PROGRESS_DEADLINE_EXCEEDED
    groups = [
        group("the stable rollout past its deadline fires", _condition(stable, deadline, "false", samples), [stable]),
        group("the canary's rollout past its deadline fires", _condition(canary, deadline, "false", samples), [canary]),
        group("a finished rollout is silent", _condition(stable, "NewReplicaSetAvailable", "true", samples), []),
        group("a rollout still progressing is silent", _condition(stable, "ReplicaSetUpdated", "true", samples), []),
        group("another app's stuck rollout is silent", _condition("other-app", deadline, "false", samples), []),
    ]
    _promtool_test(tmp_path, profile, groups)


def test_pods_below_the_disruption_budget_fire_only_when_it_lasts(tmp_path: Path, profile: Profile) -> None:
    interval = profile.scrape_interval
    wait = profile.unavailable_for * profile.scale
    samples = round((wait * 2) / interval) + 1
    budget = {"namespace": SCOPE.namespace, "poddisruptionbudget": SCOPE.disruption_budget}
    desired = constant(slo.PDB_DESIRED_HEALTHY, budget, 2, samples)  # 3 replicas, maxUnavailable 1
    at = slo.duration(interval * (samples - 1))

    def group(name: str, healthy: list[float], fires: bool) -> dict[str, Any]:
        current = series(slo.PDB_CURRENT_HEALTHY, budget, healthy)
        expected = [_expected(PODS_BELOW_BUDGET, profile, **budget)] if fires else []
        return {
            "name": f"{PODS_BELOW_BUDGET} {profile.name}: {name}",
            "interval": slo.duration(interval),
            "input_series": [desired, current],
            "alert_rule_test": [{"eval_time": at, "alertname": PODS_BELOW_BUDGET, "exp_alerts": expected}],
        }

    dip = round(wait / interval / 2)  # a dip half as long as the alert waits
    groups = [
        group("one healthy pod for twice the wait fires", [1] * samples, True),
        group("all pods healthy is silent", [3] * samples, False),
        group("one pod down, as the budget allows, is silent", [2] * samples, False),
        group("a dip shorter than the wait is silent", [3] * (samples - dip - 1) + [1] * dip + [3], False),
    ]
    _promtool_test(tmp_path, profile, groups)
