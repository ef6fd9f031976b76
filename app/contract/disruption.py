"""How a tier lives through voluntary disruptions (node drains, node-group updates): its budget and its spread.

Every replicated tier — the app, the ingress controller, the platform's controllers — gets the same two things,
written once here and rendered by the app's manifests, the platform charts' values and the CoreDNS add-on's
configuration:

- a PodDisruptionBudget that lets a drain take **exactly one** pod at a time (`maxUnavailable: 1`, which
  follows the replicas, where `minAvailable: 1` would let two of three go at once), and lets a pod that is
  not Ready go at any time (`AlwaysAllow`: a crash-looping pod never blocks a drain; kubernetes/website
  content/en/docs/concepts/workloads/pods/disruptions.md recommends it for drains);
- a spread over zones and nodes, soft (`ScheduleAnyway`): a replacement pod must always find a node, and a
  cordoned node still counts as a domain while it drains.

The budget arithmetic is the cluster's own, as small functions over counts (kubernetes/kubernetes
pkg/controller/disruption/disruption.go `getExpectedPodCount`, `countHealthyPods`, `updatePdbStatus`;
pkg/registry/core/pod/storage/eviction.go `EvictionREST.Create`, `checkAndDecrement`;
k8s.io/api policy/v1 `PodDisruptionBudgetSpec`)::

    budget = Budget(max_unavailable=1)
    budget.disruptions_allowed(scale=3, matching=3, healthy=3)   # 1
    budget.disruptions_allowed(scale=3, matching=4, healthy=2)   # 0: one is already gone, its successor not Ready
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.contract.rollout import IntOrPercent, parse_int_or_percent, scaled_value

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
SPREAD_KEYS = (ZONE, HOSTNAME)
"""The failure domains every tier spreads over: losing a zone or a node leaves the others serving."""

IF_HEALTHY_BUDGET = "IfHealthyBudget"
ALWAYS_ALLOW = "AlwaysAllow"
"""`unhealthyPodEvictionPolicy` values (k8s.io/api policy/v1); IfHealthyBudget is the default."""

DRAIN_MAX_UNAVAILABLE = 1
"""Pods of one tier a drain may have gone at once: one, whatever the replicas."""


def drain_budget() -> dict[str, Any]:
    """A PodDisruptionBudget's rules (no selector) every tier uses; the charts read the same key names."""
    return {"maxUnavailable": DRAIN_MAX_UNAVAILABLE, "unhealthyPodEvictionPolicy": ALWAYS_ALLOW}


def node_anti_affinity(labels: Mapping[str, str]) -> dict[str, Any]:
    """affinity for pods with `labels`: never two on one node while another node is free.

    Preferred, not required: a required rule blocks a rollout's surge pod (or a drain's replacement) when
    replicas equal nodes.
    """
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": HOSTNAME},
                }
            ]
        }
    }


def spread_constraints(labels: Mapping[str, str], *, match_label_keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """topologySpreadConstraints for pods with `labels`: at most one more per zone, then per node, than elsewhere.

    Soft (`ScheduleAnyway`): a required spread can leave a replacement Pending during a drain (the cordoned node
    still counts as a domain) or block a surge when replicas equal nodes; the skew is a preference.
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(labels)},
            **({"matchLabelKeys": list(match_label_keys)} if match_label_keys else {}),
        }
        for key in SPREAD_KEYS
    ]


class BudgetError(ValueError):
    """A PodDisruptionBudget that names neither or both of minAvailable and maxUnavailable, or a bad value."""


@dataclass(frozen=True, kw_only=True)
class Budget:
    """One PodDisruptionBudget's rules: how many of a tier's pods must stay healthy while others are evicted."""

    min_available: IntOrPercent | None = None
    """Pods that must stay healthy (a count, or a percentage of the workload's scale rounded up)."""
    max_unavailable: IntOrPercent | None = None
    """Pods that may be unhealthy (a count, or a percentage of the scale rounded up)."""
    unhealthy_pod_eviction_policy: str = IF_HEALTHY_BUDGET
    """Whether a pod that is not Ready may be evicted while the budget is not met (AlwaysAllow) or only when it is."""

    def __post_init__(self) -> None:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise BudgetError("a PodDisruptionBudget sets exactly one of minAvailable and maxUnavailable")
        for name in ("min_available", "max_unavailable"):
            value = getattr(self, name)
            if value is not None and parse_int_or_percent(value) is None:
                raise BudgetError(f"{name} {value!r} must be a whole number ≥ 0 or a percentage 0%–100%")
        if self.unhealthy_pod_eviction_policy not in (IF_HEALTHY_BUDGET, ALWAYS_ALLOW):
            raise BudgetError(f"unhealthyPodEvictionPolicy {self.unhealthy_pod_eviction_policy!r} is not one of ours")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Budget:
        """The rules of a PodDisruptionBudget's spec — or of a chart's or add-on's values, which use the same names."""
        return cls(
            min_available=spec.get("minAvailable"),
            max_unavailable=spec.get("maxUnavailable"),
            unhealthy_pod_eviction_policy=spec.get("unhealthyPodEvictionPolicy") or IF_HEALTHY_BUDGET,
        )

    def spec(self) -> dict[str, Any]:
        """The rules as a PodDisruptionBudget spec's fields (no selector)."""
        found: dict[str, Any] = {}
        if self.min_available is not None:
            found["minAvailable"] = self.min_available
        if self.max_unavailable is not None:
            found["maxUnavailable"] = self.max_unavailable
        if self.unhealthy_pod_eviction_policy != IF_HEALTHY_BUDGET:
            found["unhealthyPodEvictionPolicy"] = self.unhealthy_pod_eviction_policy
        return found

    def expected_and_desired(self, *, scale: int, matching: int) -> tuple[int, int]:
        """(expectedPods, desiredHealthy) as the disruption controller computes them (`getExpectedPodCount`).

        `scale` is the workload's replicas, `matching` every pod the selector picks (terminating and new ones
        too): an absolute minAvailable counts the pods, everything else the scale.
        """
        if self.max_unavailable is not None:
            unavailable = scaled_value(self.max_unavailable, scale, round_up=True)
            return scale, max(0, scale - unavailable)
        number, is_percent = parse_int_or_percent(self.min_available) or (0, False)  # checked by __post_init__
        if not is_percent:
            return matching, number
        return scale, -(-number * scale // 100)  # a percentage rounds up

    def desired_healthy(self, *, scale: int, matching: int) -> int:
        """Healthy pods the budget keeps (status.desiredHealthy)."""
        return self.expected_and_desired(scale=scale, matching=matching)[1]

    def disruptions_allowed(self, *, scale: int, matching: int, healthy: int) -> int:
        """Evictions of healthy pods allowed now (status.disruptionsAllowed, `updatePdbStatus`).

        `healthy` counts Ready pods that are not being deleted (`countHealthyPods`).
        """
        expected, desired = self.expected_and_desired(scale=scale, matching=matching)
        return healthy - desired if expected > 0 and healthy > desired else 0

    def allows_eviction(self, *, scale: int, matching: int, healthy: int, ready: bool) -> bool:
        """Whether the eviction API lets one running pod go now (`EvictionREST.Create`).

        A Ready pod needs a disruption left (`checkAndDecrement`). A pod that is not Ready does not count as
        healthy: AlwaysAllow lets it go at once; IfHealthyBudget while the budget is met, or else like a Ready pod.
        """
        allowed = self.disruptions_allowed(scale=scale, matching=matching, healthy=healthy) > 0
        if ready:
            return allowed
        if self.unhealthy_pod_eviction_policy == ALWAYS_ALLOW:
            return True
        desired = self.desired_healthy(scale=scale, matching=matching)
        return healthy >= desired > 0 or allowed


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) picks a pod with these labels.

    None and {} pick nothing here: the eviction API ignores a budget with an empty selector
    (eviction.go `getPodDisruptionBudgets`), and a spread or affinity term without one is not about this tier.
    """
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def spread_keys(pod_spec: Mapping[str, Any], labels: Mapping[str, str]) -> frozenset[str]:
    """Topology keys the pods spread over: their topologySpreadConstraints and pod anti-affinity about themselves."""
    keys = {
        constraint["topologyKey"]
        for constraint in pod_spec.get("topologySpreadConstraints") or []
        if selects(constraint.get("labelSelector"), labels)
    }
    anti = (pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}
    required = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    preferred = anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    terms = [*required, *(weighted["podAffinityTerm"] for weighted in preferred)]
    keys.update(term["topologyKey"] for term in terms if selects(term.get("labelSelector"), labels))
    return frozenset(keys)


@dataclass(frozen=True, kw_only=True)
class Tier:
    """One replicated workload as a drain sees it: how many pods, which budgets guard them, what they spread over."""

    name: str
    """What it is, e.g. `ingress-nginx controller`."""
    replicas: int
    """Pods it runs when nothing is disrupted (the Deployment's replicas, the autoscaler's floor)."""
    budgets: tuple[Budget, ...]
    """The PodDisruptionBudgets selecting its pods; the eviction API refuses to evict under more than one."""
    spread: frozenset[str]
    """Topology keys its pods spread over (soft or hard)."""

    @property
    def budget(self) -> Budget | None:
        """Its one budget, or None when it has none or several."""
        return self.budgets[0] if len(self.budgets) == 1 else None

    def problems(self) -> list[str]:
        """Every reason a drain of one node at a time could leave this tier unserved or stuck; empty when none."""
        found: list[str] = []
        if self.replicas < 2:
            found.append(f"{self.name}: {self.replicas} replica(s); a drain of its node leaves it without a pod")
        if not self.budgets:
            found.append(f"{self.name}: no PodDisruptionBudget, so a drain may evict every pod at once")
        elif len(self.budgets) > 1:
            found.append(
                f"{self.name}: {len(self.budgets)} PodDisruptionBudgets select its pods; the eviction API refuses "
                "such pods and the node-group update fails (PodEvictionFailure)"
            )
        else:
            allowed = self.budgets[0].disruptions_allowed(
                scale=self.replicas, matching=self.replicas, healthy=self.replicas
            )
            if allowed != DRAIN_MAX_UNAVAILABLE:
                consequence = "a drain can never evict one" if allowed == 0 else "a drain may take them at once"
                found.append(f"{self.name}: its budget allows {allowed} eviction(s) of {self.replicas}; {consequence}")
        missing = [key for key in SPREAD_KEYS if key not in self.spread]
        if missing:
            found.append(f"{self.name}: pods not spread over {', '.join(missing)}; one node or zone may hold them all")
        return found


def tier_from_objects(name: str, deployment: Mapping[str, Any], budgets: Iterable[Mapping[str, Any]]) -> Tier:
    """A Deployment and the PodDisruptionBudgets around it (Kubernetes-shaped dicts) as a Tier.

    Only the budgets whose selector picks the Deployment's pod labels count, as the eviction API picks them.
    """
    template = deployment["spec"]["template"]
    labels = template["metadata"]["labels"]
    return Tier(
        name=name,
        replicas=int(deployment["spec"].get("replicas", 1)),
        budgets=tuple(Budget.from_spec(pdb["spec"]) for pdb in budgets if selects(pdb["spec"].get("selector"), labels)),
        spread=spread_keys(template["spec"], labels),
    )
