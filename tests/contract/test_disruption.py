"""Disruption budgets and spread: the cluster's own arithmetic as tables, and every tier's shared rules.

Cases follow kubernetes/kubernetes pkg/controller/disruption/disruption.go (`getExpectedPodCount`,
`countHealthyPods`, `updatePdbStatus`) and pkg/registry/core/pod/storage/eviction.go (`EvictionREST.Create`).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.contract import AppSettings, render
from app.contract.disruption import (
    ALWAYS_ALLOW,
    HOSTNAME,
    IF_HEALTHY_BUDGET,
    ZONE,
    Budget,
    BudgetError,
    Tier,
    drain_budget,
    selects,
    spread_constraints,
    spread_keys,
    tier_from_objects,
)

# ---------------------------------------------------------------- the disruption controller's counts


@pytest.mark.parametrize(
    ("budget", "scale", "matching", "expected", "desired"),
    [
        (Budget(max_unavailable=1), 3, 3, 3, 2),
        (Budget(max_unavailable=1), 3, 5, 3, 2),  # terminating and new pods do not move a scale-based budget
        (Budget(max_unavailable="50%"), 3, 3, 3, 1),  # 1.5 rounds up to 2 unavailable
        (Budget(max_unavailable=5), 3, 3, 3, 0),  # never below zero
        (Budget(max_unavailable=0), 3, 3, 3, 3),
        (Budget(min_available=1), 3, 3, 3, 1),
        (Budget(min_available=1), 3, 5, 5, 1),  # an absolute minAvailable counts the pods, not the scale
        (Budget(min_available="50%"), 3, 3, 3, 2),  # 1.5 rounds up
        (Budget(min_available="100%"), 3, 4, 3, 3),
    ],
)
def test_expected_and_desired_healthy_as_the_disruption_controller_counts_them(
    budget: Budget, scale: int, matching: int, expected: int, desired: int
) -> None:
    assert budget.expected_and_desired(scale=scale, matching=matching) == (expected, desired)
    assert budget.desired_healthy(scale=scale, matching=matching) == desired


@pytest.mark.parametrize(
    ("budget", "scale", "matching", "healthy", "allowed"),
    [
        (Budget(max_unavailable=1), 3, 3, 3, 1),
        (Budget(max_unavailable=1), 3, 4, 2, 0),  # one evicted, its replacement not Ready yet
        (Budget(max_unavailable=1), 3, 4, 3, 1),  # the replacement is Ready: the next one may go
        (Budget(min_available=1), 3, 3, 3, 2),  # two of three at once
        (Budget(min_available=1), 2, 2, 2, 1),
        (Budget(min_available="100%"), 3, 3, 3, 0),  # a drain can never finish
        (Budget(min_available=0), 0, 0, 0, 0),  # no pods expected: nothing allowed until the controller sees them
    ],
)
def test_disruptions_allowed(budget: Budget, scale: int, matching: int, healthy: int, allowed: int) -> None:
    assert budget.disruptions_allowed(scale=scale, matching=matching, healthy=healthy) == allowed


@pytest.mark.parametrize(
    ("policy", "healthy", "ready", "allowed"),
    [
        (IF_HEALTHY_BUDGET, 3, True, True),
        (IF_HEALTHY_BUDGET, 2, True, False),  # "Cannot evict pod as it would violate the pod's disruption budget."
        (IF_HEALTHY_BUDGET, 2, False, True),  # not Ready, budget met (2 ≥ 2): it costs nothing
        (IF_HEALTHY_BUDGET, 1, False, False),  # not Ready, budget not met: the broken pod pins itself
        (ALWAYS_ALLOW, 1, False, True),  # not Ready: it may always go
        (ALWAYS_ALLOW, 2, True, False),  # a Ready pod still needs a disruption left
    ],
)
def test_the_eviction_api_decides_by_readiness_and_policy(
    policy: str, healthy: int, ready: bool, allowed: bool
) -> None:
    budget = Budget(max_unavailable=1, unhealthy_pod_eviction_policy=policy)
    assert budget.allows_eviction(scale=3, matching=3, healthy=healthy, ready=ready) is allowed


def test_an_unready_pod_under_an_empty_budget_goes_like_a_ready_one() -> None:
    # desiredHealthy 0 skips the unready shortcut (it needs desiredHealthy > 0); checkAndDecrement allows it.
    budget = Budget(max_unavailable="100%")
    assert budget.allows_eviction(scale=2, matching=2, healthy=1, ready=False) is True


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "exactly one of minAvailable and maxUnavailable"),
        ({"minAvailable": 1, "maxUnavailable": 1}, "exactly one of minAvailable and maxUnavailable"),
        ({"maxUnavailable": "150%"}, "max_unavailable '150%' must be a whole number ≥ 0 or a percentage"),
        ({"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"}, "'Sometimes' is not one of ours"),
    ],
)
def test_a_budget_kubernetes_would_refuse_is_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(BudgetError, match=message):
        Budget.from_spec(spec)


def test_a_budget_reads_back_as_the_spec_it_came_from() -> None:
    assert Budget.from_spec(drain_budget()).spec() == drain_budget()
    assert Budget.from_spec({"minAvailable": 1, "selector": {}}).spec() == {"minAvailable": 1}


@pytest.mark.parametrize("replicas", range(2, 11))
def test_the_drain_budget_lets_exactly_one_pod_go_whatever_the_replicas(replicas: int) -> None:
    budget = Budget.from_spec(drain_budget())
    assert budget.disruptions_allowed(scale=replicas, matching=replicas, healthy=replicas) == 1
    assert budget.disruptions_allowed(scale=replicas, matching=replicas + 1, healthy=replicas - 1) == 0
    assert budget.unhealthy_pod_eviction_policy == ALWAYS_ALLOW


# ---------------------------------------------------------------- selectors and spread


@pytest.mark.parametrize(
    ("selector", "picks"),
    [
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "web", "tier": "x"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({}, False),  # the eviction API: an empty selector matches nothing
        (None, False),
    ],
)
def test_selectors_pick_pods_as_kubernetes_does(selector: dict[str, Any] | None, picks: bool) -> None:
    assert selects(selector, {"app": "web"}) is picks


def test_spread_counts_only_rules_about_the_tiers_own_pods() -> None:
    labels = {"app": "web"}
    pod_spec = {
        "topologySpreadConstraints": [
            *spread_constraints({"app": "other"}),  # about someone else
            {"topologyKey": ZONE, "labelSelector": {"matchLabels": labels}},
        ],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": labels}},
                    }
                ]
            }
        },
    }
    assert spread_keys(pod_spec, labels) == {ZONE, HOSTNAME}
    assert spread_keys({"topologySpreadConstraints": spread_constraints({"app": "other"})}, labels) == set()


def test_spread_is_soft_over_zones_then_nodes() -> None:
    constraints = spread_constraints({"app": "web"}, match_label_keys=["pod-template-hash"])
    assert [c["topologyKey"] for c in constraints] == [ZONE, HOSTNAME]
    for constraint in constraints:
        assert constraint["maxSkew"] == 1 and constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]
    assert "matchLabelKeys" not in spread_constraints({"app": "web"})[0]


# ---------------------------------------------------------------- a tier and its problems


SPREAD = frozenset({ZONE, HOSTNAME})


@pytest.mark.parametrize(
    ("tier", "problem"),
    [
        (Tier(name="t", replicas=3, budgets=(Budget(max_unavailable=1),), spread=SPREAD), None),
        (Tier(name="t", replicas=2, budgets=(Budget(min_available=1),), spread=SPREAD), None),
        (Tier(name="t", replicas=1, budgets=(Budget(max_unavailable=1),), spread=SPREAD), "1 replica(s)"),
        (Tier(name="t", replicas=3, budgets=(), spread=SPREAD), "no PodDisruptionBudget"),
        (
            Tier(name="t", replicas=3, budgets=(Budget(max_unavailable=1), Budget(min_available=1)), spread=SPREAD),
            "2 PodDisruptionBudgets select its pods",
        ),
        (
            Tier(name="t", replicas=3, budgets=(Budget(min_available=1),), spread=SPREAD),
            "its budget allows 2 eviction(s) of 3; a drain may take them at once",
        ),
        (
            Tier(name="t", replicas=2, budgets=(Budget(min_available=2),), spread=SPREAD),
            "its budget allows 0 eviction(s) of 2; a drain can never evict one",
        ),
        (
            Tier(name="t", replicas=2, budgets=(Budget(max_unavailable=1),), spread=frozenset({HOSTNAME})),
            "not spread over topology.kubernetes.io/zone",
        ),
    ],
)
def test_a_tier_a_drain_could_empty_or_block_is_named(tier: Tier, problem: str | None) -> None:
    problems = tier.problems()
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0] and problems[0].startswith("t: ")


def test_the_apps_rendered_objects_make_a_tier_a_drain_cannot_empty(settings: AppSettings) -> None:
    manifests = render(settings)
    tier = tier_from_objects("app", manifests.deployment, [manifests.pod_disruption_budget])
    assert tier.replicas == settings.replicas
    assert tier.budgets == (Budget.from_spec(drain_budget()),)
    assert tier.spread == SPREAD
    assert tier.problems() == []


def test_only_budgets_selecting_the_pods_count(settings: AppSettings) -> None:
    manifests = render(settings)
    elsewhere = {"spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "other"}}}}
    assert tier_from_objects("app", manifests.deployment, [elsewhere]).budgets == ()
    twice = [manifests.pod_disruption_budget, manifests.pod_disruption_budget]
    assert "2 PodDisruptionBudgets" in tier_from_objects("app", manifests.deployment, twice).problems()[0]
