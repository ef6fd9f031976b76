"""PodDisruptionBudget status and the eviction API's verdict as tables, mirroring the cases of
kubernetes/kubernetes pkg/controller/disruption/disruption_test.go and
pkg/registry/core/pod/storage/eviction_test.go."""

from __future__ import annotations

import pytest

from localenv.control.disruption import (
    BUDGET_REFUSAL,
    BudgetStatus,
    DisruptionBudget,
    EvictionOutcome,
    UnhealthyPodEvictionPolicy,
    budget_status,
    evict,
)
from localenv.profile import local_manifests

STATUS_CASES = [
    # (name, budget, scale, pods, healthy, expected (expected pods, current, desired, allowed))
    ("maxUnavailable 1 of 3, all healthy", DisruptionBudget(name="b", max_unavailable=1), 3, 3, 3, (3, 3, 2, 1)),
    ("maxUnavailable 1 of 3, one unhealthy", DisruptionBudget(name="b", max_unavailable=1), 3, 3, 2, (3, 2, 2, 0)),
    (
        "maxUnavailable 34% of 3 rounds up to 2",
        DisruptionBudget(name="b", max_unavailable="34%"),
        3,
        3,
        3,
        (3, 3, 1, 2),
    ),
    ("maxUnavailable 0", DisruptionBudget(name="b", max_unavailable=0), 3, 3, 3, (3, 3, 3, 0)),
    ("integer minAvailable counts pods, not scale", DisruptionBudget(name="b", min_available=2), 5, 3, 3, (3, 3, 2, 1)),
    ("minAvailable equal to healthy: none allowed", DisruptionBudget(name="b", min_available=3), 3, 3, 3, (3, 3, 3, 0)),
    ("minAvailable 28% of 7 rounds up to 2", DisruptionBudget(name="b", min_available="28%"), 7, 7, 7, (7, 7, 2, 5)),
    ("no pods expected: none allowed", DisruptionBudget(name="b", max_unavailable=1), 0, 0, 0, (0, 0, 0, 0)),
    ("more unhealthy than budget: never negative", DisruptionBudget(name="b", min_available=3), 3, 3, 1, (3, 1, 3, 0)),
]


@pytest.mark.parametrize(("name", "budget", "scale", "pods", "healthy", "expected"), STATUS_CASES)
def test_the_budget_status_is_the_disruption_controllers(
    name: str, *, budget: DisruptionBudget, scale: int, pods: int, healthy: int, expected: tuple[int, int, int, int]
) -> None:
    status = budget_status(budget, scale=scale, pods=pods, healthy=healthy)
    got = (status.expected_pods, status.current_healthy, status.desired_healthy, status.disruptions_allowed)
    assert got == expected, name


MAX1 = DisruptionBudget(name="app", max_unavailable=1)
ALWAYS = DisruptionBudget(
    name="app", max_unavailable=1, unhealthy_pod_eviction_policy=UnhealthyPodEvictionPolicy.ALWAYS_ALLOW
)
NONE_LEFT = BudgetStatus(expected_pods=3, current_healthy=2, desired_healthy=2, disruptions_allowed=0)
ONE_LEFT = BudgetStatus(expected_pods=3, current_healthy=3, desired_healthy=2, disruptions_allowed=1)
BROKEN = BudgetStatus(expected_pods=3, current_healthy=1, desired_healthy=2, disruptions_allowed=0)

EVICTION_CASES = [
    # (name, pending, terminating, ready, budget, status, outcome, code)
    ("ready pod, one disruption allowed", False, False, True, MAX1, ONE_LEFT, EvictionOutcome.EVICTED, 200),
    ("ready pod, none allowed: 429", False, False, True, MAX1, NONE_LEFT, EvictionOutcome.REFUSED, 429),
    ("no budget: evicted", False, False, True, None, None, EvictionOutcome.EVICTED, 200),
    (
        "already terminating: nothing to do",
        False,
        True,
        True,
        MAX1,
        NONE_LEFT,
        EvictionOutcome.ALREADY_TERMINATING,
        200,
    ),
    (
        "pending pod ignores the budget",
        True,
        False,
        False,
        MAX1,
        NONE_LEFT,
        EvictionOutcome.DELETED_WITHOUT_BUDGET,
        200,
    ),
    ("unready, AlwaysAllow", False, False, False, ALWAYS, BROKEN, EvictionOutcome.DELETED_WITHOUT_BUDGET, 200),
    (
        "unready, IfHealthyBudget, budget met",
        False,
        False,
        False,
        MAX1,
        NONE_LEFT,
        EvictionOutcome.DELETED_WITHOUT_BUDGET,
        200,
    ),
    ("unready, IfHealthyBudget, budget broken: 429", False, False, False, MAX1, BROKEN, EvictionOutcome.REFUSED, 429),
]


@pytest.mark.parametrize(
    ("name", "pending", "terminating", "ready", "budget", "status", "outcome", "code"), EVICTION_CASES
)
def test_the_eviction_api_answers_as_eviction_go_does(
    name: str,
    *,
    pending: bool,
    terminating: bool,
    ready: bool,
    budget: DisruptionBudget | None,
    status: BudgetStatus | None,
    outcome: EvictionOutcome,
    code: int,
) -> None:
    eviction = evict(pending=pending, terminating=terminating, ready=ready, budget=budget, status=status)
    assert (eviction.outcome, eviction.code) == (outcome, code), name


def test_a_refusal_says_what_the_api_says_and_names_the_budget() -> None:
    eviction = evict(pending=False, terminating=False, ready=True, budget=MAX1, status=NONE_LEFT)
    assert eviction.message == BUDGET_REFUSAL == "Cannot evict pod as it would violate the pod's disruption budget."
    assert eviction.cause == "The disruption budget app needs 2 healthy pods and has 2 currently"


def test_the_contracts_budget_reads_as_max_unavailable_one_always_allow() -> None:
    budget = DisruptionBudget.from_manifest(local_manifests("v1").pod_disruption_budget)
    assert (budget.max_unavailable, budget.min_available) == (1, None)
    assert budget.unhealthy_pod_eviction_policy is UnhealthyPodEvictionPolicy.ALWAYS_ALLOW


@pytest.mark.parametrize(
    "spec", [{}, {"minAvailable": 1, "maxUnavailable": 1}, {"maxUnavailable": "150%"}, {"minAvailable": -1}]
)
def test_a_budget_that_is_not_valid_is_refused_naming_the_field(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"minAvailable|maxUnavailable"):
        DisruptionBudget.from_manifest({"kind": "PodDisruptionBudget", "spec": spec})
