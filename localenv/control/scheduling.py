"""Nodes, and where the scheduler puts a pod on them: filter, then score, as kube-scheduler's plugins do.

A node is a name, a zone and whether it is cordoned. A pod's placement rules come from its manifest
(topologySpreadConstraints, affinity.podAntiAffinity); `schedule` mirrors the plugins that read them,
read at kubernetes/kubernetes master (pkg/scheduler/framework/plugins):

- NodeUnschedulable (nodeunschedulable/node_unschedulable.go): a cordoned node is filtered out.
- PodTopologySpread (podtopologyspread/filtering.go, scoring.go): a `DoNotSchedule` constraint filters
  out a node when `matchNum + selfMatch - minMatchNum > maxSkew`; a `ScheduleAnyway` constraint scores
  `scoreForCount = count × log(domains + 2) + (maxSkew - 1)` per node, lower is better, normalised by
  NormalizeScore to `100 × (max + min - score) / max`. Terminating pods are not counted
  (countPodsMatchSelector, #87621). Cordoned nodes still count as domains (nodeTaintsPolicy defaults
  to Ignore). `matchLabelKeys: [pod-template-hash]` narrows the count to the pod's own revision.
- InterPodAffinity (interpodaffinity/filtering.go, scoring.go): a required anti-affinity term filters
  out a node whose domain already holds a matching pod; a preferred one scores `-weight` per matching
  pod in the domain, normalised to 0–100.

The two scores are added with the default plugin weights (2 each, apis/config/v1/default_plugins.go).
Where upstream picks at random among the best nodes (selectHost), this picks the node with the fewest
of the Deployment's pods, then by name — the same spread, reproducible in a table.

Every constraint here selects the Deployment's own pods (the contract's selectors are the Deployment's
labels): this controller does not see other Deployments' pods, so it counts only its own.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

ZONE_KEY = "topology.kubernetes.io/zone"
HOSTNAME_KEY = "kubernetes.io/hostname"
TEMPLATE_HASH_KEY = "pod-template-hash"
MAX_NODE_SCORE = 100
# apis/config/v1/default_plugins.go: PodTopologySpread and InterPodAffinity both score with weight 2.
SPREAD_WEIGHT = 2
AFFINITY_WEIGHT = 2


class WhenUnsatisfiable(enum.StrEnum):
    """A spread constraint's whenUnsatisfiable: a hard filter, or a preference for the score."""

    DO_NOT_SCHEDULE = "DoNotSchedule"
    SCHEDULE_ANYWAY = "ScheduleAnyway"


@dataclass(frozen=True, kw_only=True)
class Node:
    """One node: its name (label kubernetes.io/hostname), its zone (topology.kubernetes.io/zone), cordoned or not."""

    name: str
    zone: str
    unschedulable: bool = False

    def domain(self, topology_key: str) -> str | None:
        """The node's value for `topology_key` (None: the node has no such label)."""
        if topology_key == HOSTNAME_KEY:
            return self.name
        if topology_key == ZONE_KEY:
            return self.zone
        return None


@dataclass(frozen=True, kw_only=True)
class SpreadConstraint:
    """One topologySpreadConstraint."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: WhenUnsatisfiable
    same_revision: bool = False
    """matchLabelKeys has pod-template-hash: only pods of the same ReplicaSet are counted."""


@dataclass(frozen=True, kw_only=True)
class AntiAffinityTerm:
    """One podAntiAffinity term: required (a filter) or preferred with a weight (a score)."""

    topology_key: str
    required: bool
    weight: int = 0
    same_revision: bool = False


@dataclass(frozen=True, kw_only=True)
class Placement:
    """A pod's placement rules (none: any schedulable node will do)."""

    spread: tuple[SpreadConstraint, ...] = ()
    anti_affinity: tuple[AntiAffinityTerm, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PlacedPod:
    """A pod of the Deployment already bound to a node (terminating pods excluded by the caller or not)."""

    node: str
    revision: int
    terminating: bool = False


@dataclass(frozen=True, kw_only=True)
class Decision:
    """Where the pod goes, or why it cannot go anywhere (FailedScheduling's message)."""

    node: str | None
    reason: str = ""


def schedule(placement: Placement, revision: int, nodes: Sequence[Node], pods: Sequence[PlacedPod]) -> Decision:
    """The node a new pod of `revision` is bound to, given the nodes and the Deployment's pods on them."""
    view = _View(revision=revision, nodes=tuple(nodes), pods=tuple(p for p in pods if not p.terminating))
    feasible: list[Node] = []
    cordoned = spread_failed = affinity_failed = 0
    for node in nodes:
        if node.unschedulable:
            cordoned += 1
        elif not _spread_fits(placement, node, view):
            spread_failed += 1
        elif not _anti_affinity_fits(placement, node, view):
            affinity_failed += 1
        else:
            feasible.append(node)
    if not feasible:
        return Decision(node=None, reason=_unschedulable(len(nodes), cordoned, spread_failed, affinity_failed))
    spread = _normalise_spread({n.name: _spread_score(placement, n, view) for n in feasible})
    affinity = _normalise_affinity({n.name: _affinity_score(placement, n, view) for n in feasible})
    mine = {n.name: sum(p.node == n.name for p in view.pods) for n in feasible}
    total = {n.name: SPREAD_WEIGHT * spread[n.name] + AFFINITY_WEIGHT * affinity[n.name] for n in feasible}
    best = min(feasible, key=lambda n: (-total[n.name], mine[n.name], n.name))
    return Decision(node=best.name)


@dataclass(frozen=True, kw_only=True)
class _View:
    """What one scheduling cycle looks at: the pod's revision, the nodes, the counted (non-terminating) pods."""

    revision: int
    nodes: tuple[Node, ...]
    pods: tuple[PlacedPod, ...]

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def domain_counts(self, key: str, same_revision: bool) -> dict[str, int]:
        """Matching pods per topology domain; every domain of a node with the key is present (with 0)."""
        counts = {d: 0 for n in self.nodes if (d := n.domain(key)) is not None}
        for pod in self.pods:
            node = self.node(pod.node)
            domain = node.domain(key) if node is not None else None
            if domain is not None and (not same_revision or pod.revision == self.revision):
                counts[domain] += 1
        return counts


def _spread_fits(placement: Placement, node: Node, view: _View) -> bool:
    """PodTopologySpread Filter: skew = matchNum + selfMatch - minMatchNum must not exceed maxSkew."""
    for c in placement.spread:
        if c.when_unsatisfiable is not WhenUnsatisfiable.DO_NOT_SCHEDULE:
            continue
        domain = node.domain(c.topology_key)
        if domain is None:
            return False  # filtering.go: a node without the topology key does not fit
        counts = view.domain_counts(c.topology_key, c.same_revision)
        if counts[domain] + 1 - min(counts.values()) > c.max_skew:
            return False
    return True


def _anti_affinity_fits(placement: Placement, node: Node, view: _View) -> bool:
    """InterPodAffinity Filter: no pod matching a required anti-affinity term in the node's domain."""
    for term in placement.anti_affinity:
        domain = node.domain(term.topology_key)
        if term.required and domain is not None and view.domain_counts(term.topology_key, term.same_revision)[domain]:
            return False
    return True


def _spread_score(placement: Placement, node: Node, view: _View) -> float:
    """PodTopologySpread Score (raw): Σ scoreForCount over the ScheduleAnyway constraints; lower is better."""
    score = 0.0
    for c in placement.spread:
        if c.when_unsatisfiable is not WhenUnsatisfiable.SCHEDULE_ANYWAY:
            continue
        counts = view.domain_counts(c.topology_key, c.same_revision)
        domain = node.domain(c.topology_key)
        count = counts.get(domain, 0) if domain is not None else 0
        # topologyNormalizingWeight(size) = log(size + 2); scoreForCount = cnt × weight + (maxSkew - 1)
        score += count * math.log(len(counts) + 2) + (c.max_skew - 1)
    return float(round(score))


def _normalise_spread(raw: dict[str, float]) -> dict[str, float]:
    """PodTopologySpread NormalizeScore: MaxNodeScore × (max + min - s) / max (all best when max is 0)."""
    if not raw:
        return raw
    high, low = max(raw.values()), min(raw.values())
    if high == 0:
        return {name: float(MAX_NODE_SCORE) for name in raw}
    return {name: float(MAX_NODE_SCORE * (high + low - s) // high) for name, s in raw.items()}


def _affinity_score(placement: Placement, node: Node, view: _View) -> float:
    """InterPodAffinity Score (raw): -weight for every matching pod in the node's domain, per preferred term."""
    score = 0.0
    for term in placement.anti_affinity:
        domain = node.domain(term.topology_key)
        if not term.required and domain is not None:
            score -= term.weight * view.domain_counts(term.topology_key, term.same_revision)[domain]
    return score


def _normalise_affinity(raw: dict[str, float]) -> dict[str, float]:
    """InterPodAffinity NormalizeScore: scale [min, max] to [0, MaxNodeScore] (all 0 when equal)."""
    if not raw:
        return raw
    high, low = max(raw.values()), min(raw.values())
    if high == low:
        return {name: 0.0 for name in raw}
    return {name: MAX_NODE_SCORE * (s - low) / (high - low) for name, s in raw.items()}


def _unschedulable(total: int, cordoned: int, spread: int, affinity: int) -> str:
    """FailedScheduling's message: '0/N nodes are available: …' as the scheduler words it."""
    parts = []
    if cordoned:
        parts.append(f"{cordoned} node(s) were unschedulable")
    if spread:
        parts.append(f"{spread} node(s) didn't match pod topology spread constraints")
    if affinity:
        parts.append(f"{affinity} node(s) didn't match pod anti-affinity rules")
    detail = ", ".join(parts) if parts else "no nodes"
    return f"0/{total} nodes are available: {detail}."
