"""PodDisruptionBudgets: the disruption controller's status and the eviction API's verdict.

Mirrors kubernetes/kubernetes (read at master):
- pkg/controller/disruption/disruption.go — getExpectedPodCount: with maxUnavailable (int or percent,
  rounded up) or a percentage minAvailable, the expected count is the controllers' scale and
  desiredHealthy follows from it; with an integer minAvailable, desiredHealthy is that number and the
  expected count is the number of pods. countHealthyPods: a pod counts while it is Ready and not
  being deleted. updatePdbStatus: disruptionsAllowed = currentHealthy - desiredHealthy, never below 0,
  and 0 while no pods are expected.
- pkg/registry/core/pod/storage/eviction.go — EvictionREST.Create: a pod that is Pending or already
  being deleted is deleted without looking at the budget (canIgnorePDB); a not-ready pod under
  unhealthyPodEvictionPolicy AlwaysAllow — or under IfHealthyBudget while the budget is met — is
  deleted without spending a disruption; otherwise checkAndDecrement refuses with 429 "Cannot evict pod
  as it would violate the pod's disruption budget." when disruptionsAllowed is 0, and spends one.

This status is computed at the moment of every eviction (a disruption controller that is never behind),
so "spends one" is the pod turning terminating: it no longer counts as healthy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from app.contract.rollout import parse_int_or_percent, scaled_value

TOO_MANY_REQUESTS = 429
OK = 200
BUDGET_REFUSAL = "Cannot evict pod as it would violate the pod's disruption budget."


class UnhealthyPodEvictionPolicy(enum.StrEnum):
    """policy/v1 PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy."""

    IF_HEALTHY_BUDGET = "IfHealthyBudget"
    ALWAYS_ALLOW = "AlwaysAllow"


@dataclass(frozen=True, kw_only=True)
class DisruptionBudget:
    """A PodDisruptionBudget over the Deployment's pods: minAvailable or maxUnavailable (int or "N%")."""

    name: str
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    unhealthy_pod_eviction_policy: UnhealthyPodEvictionPolicy = UnhealthyPodEvictionPolicy.IF_HEALTHY_BUDGET

    def describe(self) -> str:
        """'PodDisruptionBudget app (maxUnavailable 1)'."""
        rule = (
            f"maxUnavailable {self.max_unavailable}"
            if self.max_unavailable is not None
            else f"minAvailable {self.min_available}"
        )
        return f"PodDisruptionBudget {self.name} ({rule})"

    @classmethod
    def from_manifest(cls, pdb: dict[str, Any]) -> DisruptionBudget:
        """Read a policy/v1 PodDisruptionBudget dict; ValueError naming the field when it is not valid."""
        if pdb.get("kind") != "PodDisruptionBudget":
            raise ValueError(f"expected kind PodDisruptionBudget, got {pdb.get('kind')!r}")
        spec = pdb.get("spec", {})
        min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
        if (min_available is None) == (max_unavailable is None):
            raise ValueError("a PodDisruptionBudget sets exactly one of minAvailable and maxUnavailable")
        for name, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
            if value is not None and parse_int_or_percent(value) is None:
                raise ValueError(f"{name} {value!r} must be a whole number ≥ 0 or a percentage")
        return cls(
            name=str(pdb.get("metadata", {}).get("name", "app")),
            min_available=min_available,
            max_unavailable=max_unavailable,
            unhealthy_pod_eviction_policy=UnhealthyPodEvictionPolicy(
                spec.get("unhealthyPodEvictionPolicy", UnhealthyPodEvictionPolicy.IF_HEALTHY_BUDGET.value)
            ),
        )


@dataclass(frozen=True, kw_only=True)
class BudgetStatus:
    """policy/v1 PodDisruptionBudgetStatus: the numbers an eviction is judged by."""

    expected_pods: int
    current_healthy: int
    desired_healthy: int
    disruptions_allowed: int


def budget_status(budget: DisruptionBudget, *, scale: int, pods: int, healthy: int) -> BudgetStatus:
    """getExpectedPodCount + updatePdbStatus, for `pods` selected pods of a controller scaled to `scale`."""
    if budget.max_unavailable is not None:
        expected = scale
        desired = max(0, expected - scaled_value(budget.max_unavailable, expected, round_up=True))
    else:
        min_available = budget.min_available if budget.min_available is not None else 0
        parsed = parse_int_or_percent(min_available)
        if parsed is not None and not parsed[1]:  # an integer minAvailable
            expected, desired = pods, parsed[0]
        else:
            expected = scale
            desired = scaled_value(min_available, expected, round_up=True)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    return BudgetStatus(
        expected_pods=expected, current_healthy=healthy, desired_healthy=desired, disruptions_allowed=allowed
    )


class EvictionOutcome(enum.StrEnum):
    """How the eviction API answered."""

    EVICTED = "evicted"
    """Allowed by the budget: one disruption spent, the pod deleted gracefully."""
    DELETED_WITHOUT_BUDGET = "deleted-without-budget"
    """Pending, or not ready under a policy that lets unhealthy pods go: deleted, no disruption spent."""
    ALREADY_TERMINATING = "already-terminating"
    """Already being deleted: nothing more to do (it counts as disrupted already)."""
    REFUSED = "refused"
    """429: no disruption allowed; try again later."""


@dataclass(frozen=True, kw_only=True)
class Eviction:
    """The eviction API's answer: HTTP code, outcome and, when refused, its message and the budget's cause."""

    outcome: EvictionOutcome
    code: int
    message: str = ""
    cause: str = ""

    @property
    def allowed(self) -> bool:
        """The pod is (or already was) on its way out."""
        return self.outcome is not EvictionOutcome.REFUSED


def evict(
    *, pending: bool, terminating: bool, ready: bool, budget: DisruptionBudget | None, status: BudgetStatus | None
) -> Eviction:
    """EvictionREST.Create for one pod, given its state and its budget's status now."""
    if terminating:
        return Eviction(outcome=EvictionOutcome.ALREADY_TERMINATING, code=OK)
    if pending:
        return Eviction(outcome=EvictionOutcome.DELETED_WITHOUT_BUDGET, code=OK)
    if budget is None or status is None:
        return Eviction(outcome=EvictionOutcome.EVICTED, code=OK)
    if not ready:
        if budget.unhealthy_pod_eviction_policy is UnhealthyPodEvictionPolicy.ALWAYS_ALLOW:
            return Eviction(outcome=EvictionOutcome.DELETED_WITHOUT_BUDGET, code=OK)
        if status.current_healthy >= status.desired_healthy > 0:
            return Eviction(outcome=EvictionOutcome.DELETED_WITHOUT_BUDGET, code=OK)
    if status.disruptions_allowed == 0:
        return Eviction(
            outcome=EvictionOutcome.REFUSED,
            code=TOO_MANY_REQUESTS,
            message=BUDGET_REFUSAL,
            cause=(
                f"The disruption budget {budget.name} needs {status.desired_healthy} healthy pods "
                f"and has {status.current_healthy} currently"
            ),
        )
    return Eviction(outcome=EvictionOutcome.EVICTED, code=OK)
