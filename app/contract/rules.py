"""Prometheus rules for the app's objectives and rollouts, generated from app/slo.py as plain dicts.

Three groups, the `groups:` of a Prometheus rule file and the `spec.groups` of a prometheus-operator
PrometheusRule alike (the same keys: name, interval, rules with record/alert, expr, for, labels,
annotations):

- each objective's error ratio over every window the alerts read
  (`slo:sli_error:ratio_rate<window>{slo=…}`, computed once per evaluation instead of per query) and
  the multi-window, multi-burn-rate alerts on them (app/slo.py BURN_RATE_ALERTS);
- each objective's error ratio over the whole period, for the dashboard's budget left (less often);
- rollout alerts from kube-state-metrics: a Deployment past its progress deadline, and fewer healthy
  pods than the disruption budget allows.

    groups = rule_groups(scope_for(settings), LOCAL)
    rule_file_text(rule_file(scope_for(settings), CLUSTER))   # a rule file for promtool and Prometheus

`python -m app.contract.rules OUT_DIR [--profile local|cluster]` writes the rule file and the release
dashboard (app/contract/dashboard.py) for the default settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import slo
from app.contract.canary import CANARY_SUFFIX
from app.contract.settings import AppSettings, is_dns_label
from app.slo import BurnRateAlert, Objective, Profile, Scope

Rule = dict[str, Any]
Group = dict[str, Any]


def scope_named(name: str, namespace: str) -> Scope:
    """The series of the app called `name` in `namespace`: its Ingress, stable and canary Deployments, PDB.

    Every object of the app carries its name (app/contract/manifests.py); the canary's Deployment adds
    CANARY_SUFFIX (app/contract/canary.py canary_name).
    """
    return Scope(
        namespace=namespace,
        ingress=name,
        deployments=(name, f"{name}{CANARY_SUFFIX}"),
        disruption_budget=name,
    )


def scope_for(settings: AppSettings) -> Scope:
    """The series of the deployment these settings describe."""
    return scope_named(settings.name, settings.namespace)


def alert_name(objective: Objective, alert: BurnRateAlert) -> str:
    """AvailabilityBudgetFastBurn, LatencyBudgetSlowBurn, …"""
    return f"{objective.name.capitalize()}Budget{alert.name}"


ROLLOUT_STUCK = "RolloutStuck"
PODS_BELOW_BUDGET = "PodsUnavailableBeyondBudget"


def recording_rules(scope: Scope, windows: Sequence[str]) -> list[Rule]:
    """Each objective's error ratio over each of `windows`."""
    return [
        {
            "record": slo.ERROR_RATIO_RECORD.format(window=window),
            "expr": objective.error_ratio(scope, window),
            "labels": {slo.SLO_LABEL: objective.name},
        }
        for objective in slo.OBJECTIVES
        for window in windows
    ]


def burn_rate_alerts(scope: Scope, profile: Profile) -> list[Rule]:
    """One alert per objective and window pair: fires while both windows burn the budget too fast.

    No `for`: the short window already demands that the burn is still going on (the workbook's design),
    and waiting longer only delays the page.
    """
    rules: list[Rule] = []
    period = profile.window(profile.period)
    for objective in slo.OBJECTIVES:
        for alert in slo.BURN_RATE_ALERTS:
            long, short = profile.window(alert.long_window), profile.window(alert.short_window)
            failing = alert.burn_rate * objective.error_budget
            rules.append(
                {
                    "alert": alert_name(objective, alert),
                    "expr": slo.burn_condition(objective, alert, profile),
                    "labels": {
                        "severity": alert.severity,
                        slo.SLO_LABEL: objective.name,
                        "namespace": scope.namespace,
                        "long_window": long,
                        "short_window": short,
                    },
                    "annotations": {
                        "summary": (
                            f"{scope.namespace}: the {objective.name} error budget burns {alert.burn_rate:g}× too fast"
                        ),
                        "description": (
                            f"Objective: {objective.summary}. Over both the last {long} and the last {short}, "
                            f"more than {failing:.2%} of events failed it; at this rate "
                            f"{alert.budget_spent(profile.period):.0%} of the {period} error budget is gone "
                            f"every {long}."
                        ),
                    },
                }
            )
    return rules


def rollout_alerts(scope: Scope, profile: Profile) -> list[Rule]:
    """A rollout past its progress deadline, and pods unavailable beyond the disruption budget."""
    return [
        {
            "alert": ROLLOUT_STUCK,
            # The deadline itself is the wait: the Deployment controller sets the reason only after
            # progressDeadlineSeconds without progress (app/timing.py progress_deadline).
            "expr": slo.rollout_stuck(scope),
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": (
                    "The rollout of {{ $labels.namespace }}/{{ $labels.deployment }} is past its progress deadline"
                ),
                "description": (
                    "The Deployment made no progress within progressDeadlineSeconds. Kubernetes does not roll "
                    "back: the old pods keep serving while the new ones fail to become available. Look at "
                    "the new pods' events and logs, then roll back or fix the release."
                ),
            },
        },
        {
            "alert": PODS_BELOW_BUDGET,
            "expr": slo.pods_below_disruption_budget(scope),
            "for": profile.window(profile.unavailable_for),
            "labels": {"severity": "page"},
            "annotations": {
                "summary": (
                    "{{ $labels.namespace }}: fewer healthy pods than the disruption budget "
                    "{{ $labels.poddisruptionbudget }} allows"
                ),
                "description": (
                    f"More pods are unavailable than the PodDisruptionBudget tolerates, for longer than "
                    f"{profile.window(profile.unavailable_for)}: capacity is below what a voluntary "
                    "disruption may take. Crashing pods, failed scheduling or lost nodes are the usual causes."
                ),
            },
        },
    ]


def rule_groups(scope: Scope, profile: Profile) -> list[Group]:
    """The rule groups, evaluated at the profile's interval.

    The burn-rate alerts share a group with the ratios they read: Prometheus evaluates a group's rules in
    order, so each alert compares the ratios of the same evaluation (across groups it would read the
    previous one, or none if the other group has not run yet).
    """
    interval = slo.duration(profile.evaluation_interval)
    prefix = scope.namespace
    burn = [*recording_rules(scope, profile.alert_windows()), *burn_rate_alerts(scope, profile)]
    budget = recording_rules(scope, (profile.budget_window,))
    return [
        {"name": f"{prefix}-slo-burn", "interval": interval, "rules": burn},
        {"name": f"{prefix}-slo-budget", "interval": slo.duration(profile.budget_interval), "rules": budget},
        {"name": f"{prefix}-rollout-alerts", "interval": interval, "rules": rollout_alerts(scope, profile)},
    ]


def rule_file(scope: Scope, profile: Profile) -> dict[str, Any]:
    """A Prometheus rule file's content: {"groups": [...]}."""
    return {"groups": rule_groups(scope, profile)}


def rule_file_text(document: dict[str, Any]) -> str:
    """A rule file's text: JSON, which is YAML (1.2) and which Prometheus' YAML parser reads as such.

    Generated, not hand-edited: JSON needs nothing beyond the standard library, and `promtool check
    rules` reads it like any rule file.
    """
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_files(directory: Path, name: str, namespace: str, profile: Profile) -> tuple[Path, Path]:
    """Write the rules `<name>.rules.json` and the release dashboard `<name>-release.json` into `directory`."""
    from app.contract.dashboard import release_dashboard

    scope = scope_named(name, namespace)
    rules = directory / f"{name}.rules.json"
    rules.write_text(rule_file_text(rule_file(scope, profile)), encoding="utf-8")
    board = directory / f"{name}-release.json"
    board.write_text(json.dumps(release_dashboard(scope, profile), indent=2) + "\n", encoding="utf-8")
    return rules, board


def main(argv: Sequence[str] | None = None) -> int:
    """Write the rule file and the release dashboard; names default to AppSettings' defaults."""
    defaults = {f.name: f.default for f in dataclasses.fields(AppSettings)}
    parser = argparse.ArgumentParser(prog="python -m app.contract.rules", description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path, help="where to write <name>.rules.json and <name>-release.json")
    parser.add_argument("--profile", choices=sorted(slo.PROFILES), default=slo.CLUSTER.name)
    parser.add_argument("--name", default=defaults["name"], help="the app's object name (default %(default)s)")
    parser.add_argument("--namespace", default=defaults["namespace"], help="its namespace (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.error(f"{args.directory} is not a directory; create it first")
    for option in ("name", "namespace"):
        if not is_dns_label(getattr(args, option)):
            parser.error(f"--{option} {getattr(args, option)!r} is not a Kubernetes name (lower-case DNS label)")
    profile = slo.PROFILES[args.profile]
    rules, board = write_files(args.directory, args.name, args.namespace, profile)
    print(f"wrote {rules} and {board} ({profile.name} profile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
