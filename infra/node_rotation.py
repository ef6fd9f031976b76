"""Node rotation on EKS: what a managed node-group update or AMI rotation does to each tier, and why every tier serves.

A managed node group replaces its nodes in four phases (EKS User Guide managed-node-update-behavior, "Understand each
phase of node updates"; awsdocs/amazon-eks-user-guide latest/ug/nodes/managed-node-update-behavior.adoc):

1. **Setup**: a new launch-template version; how many nodes to replace at once (`updateConfig`, default one).
2. **Scale up**: the Auto Scaling group grows by up to twice the number of zones (or by maxUnavailable, if larger);
   the new nodes come up in the zones of the old ones and must all be Ready. Then every old node is cordoned and
   labelled `node.kubernetes.io/exclude-from-external-load-balancers`.
3. **Upgrade**, per old node (picked at random, `maxUnavailable` at a time): its pods are evicted through the eviction
   API, so PodDisruptionBudgets hold. Pods still there after 15 minutes fail the update (`PodEvictionFailure`) unless
   it was forced; after the last pod has gone EKS waits 60 s and terminates the node.
4. **Scale down**: the group returns to its size.

This module holds our choice for `updateConfig`, each tier's pod timing during phase 3, the table of tiers
(`rotation_tiers`), and phase 3 itself as the cluster's decisions over counts (`node_group_update`: the eviction API
and the disruption controller from app/contract/disruption.py, a scheduler that follows the tiers' spread), so a table
test shows that no tier is ever left without a Ready pod. No Pulumi import: infra/cluster.py passes
`NODE_GROUP_UPDATE_CONFIG` to the node group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.contract import AppSettings, render
from app.contract.disruption import HOSTNAME, SPREAD_KEYS, ZONE, Budget, Tier, spread_keys, tier_from_objects
from app.timing import Timing
from infra.addons import COREDNS_LABELS, coredns_configuration
from infra.helm_values import (
    CERT_MANAGER_LABELS,
    CONTROLLER_LABELS,
    LOAD_BALANCER_CONTROLLER_LABELS,
    LOAD_BALANCER_CONTROLLER_REPLICAS,
    METRICS_SERVER_LABELS,
    cert_manager_values,
    ingress_nginx_values,
    load_balancer_controller_values,
    metrics_server_values,
)
from infra.ingress_timing import INGRESS_TIMING, IngressTiming

NODE_GROUP_UPDATE_CONFIG = {"max_unavailable": 1, "update_strategy": "DEFAULT"}
"""`aws.eks.NodeGroup` `update_config` (pulumi_aws 7.51.1 NodeGroupUpdateConfigArgs; EKS API NodegroupUpdateConfig).

- `max_unavailable` 1, a count rather than `max_unavailable_percentage`: one old node drains at a time, whatever the
  group's size. Every tier's budget lets one pod go at a time; two nodes draining at once would only make their
  evictions queue behind each other's budgets (no faster, closer to the 15-minute PodEvictionFailure) and take two
  zones' capacity at once.
- `update_strategy` DEFAULT: new nodes first, then the old ones drained (MINIMAL terminates old instances before
  launching new ones, for capacity-constrained groups): evicted pods always find a fresh, schedulable node.
"""
FORCE_UPDATE_VERSION = False
"""`force_update_version`: never. Forced, EKS deletes pods its budgets protect once 15 minutes have passed (EKS User
Guide update-managed-node-group, "Force update"); unforced, a blocked drain fails the update and changes nothing."""

POD_EVICTION_TIMEOUT = 15 * 60
"""Seconds EKS gives a node's pods to leave before the update fails with PodEvictionFailure."""
EVICTED_NODE_WAIT = 60
"""Seconds EKS waits after a node's last eviction before it terminates the node."""


@dataclass(frozen=True, kw_only=True)
class PodTiming:
    """How long one of a tier's pods takes to come and to go while a node drains."""

    ready_after: float
    """Seconds from a replacement pod's start until it is Ready (healthy, for its budget), at most."""
    termination_grace: float
    """Seconds from an eviction until the evicted pod has left its node, at most (terminationGracePeriodSeconds)."""

    def node_drain(self, pods_on_node: int = 1) -> float:
        """Seconds, at most, until this tier's pods have left a draining node.

        Each eviction may wait for the previous one's replacement to turn Ready (one at a time), then the pod takes
        its grace period to go.
        """
        return pods_on_node * self.ready_after + self.termination_grace


def app_pod_timing(timing: Timing) -> PodTiming:
    """The app's pods (app/timing.py): started within the startup probe's budget, Ready at the next readiness probe."""
    return PodTiming(
        ready_after=timing.startup_budget + timing.readiness_period, termination_grace=timing.termination_grace
    )


def ingress_pod_timing(timing: IngressTiming) -> PodTiming:
    """ingress-nginx's pods (infra/ingress_timing.py): Ready only once their NLB target is healthy (readiness gate)."""
    return PodTiming(ready_after=timing.time_to_healthy, termination_grace=timing.termination_grace)


@dataclass(frozen=True, kw_only=True)
class TierPlan:
    """One row of the rotation table: a tier, and its pods' timing when the timing is ours."""

    tier: Tier
    timing: PodTiming | None = None
    """None for the platform's own controllers: their charts' probes and grace periods, seconds each."""


def rotation_tiers(
    *,
    app: AppSettings,
    ingress_replicas: int,
    metrics_server_replicas: int,
    load_balancer_controller_replicas: int = LOAD_BALANCER_CONTROLLER_REPLICAS,
    ingress_timing: IngressTiming = INGRESS_TIMING,
) -> tuple[TierPlan, ...]:
    """Every tier a node drain touches, read from what the program renders and installs for these numbers.

    The app from its manifests; the charts from the values the program passes them (tests/charts checks that the
    rendered PodDisruptionBudgets and spread match); CoreDNS from its add-on configuration.
    """
    manifests = render(app)
    ingress = ingress_nginx_values(replicas=ingress_replicas, ingress_class=app.ingress_class, timing=ingress_timing)
    controller = ingress["controller"]
    # The controller's cluster, region, VPC and role do not shape its pods.
    balancer = load_balancer_controller_values(
        cluster_name="", region="", vpc_id="", role_arn="", replicas=load_balancer_controller_replicas
    )
    certs = cert_manager_values()
    metrics = metrics_server_values(replicas=metrics_server_replicas)
    dns = coredns_configuration()

    def from_values(
        name: str, pods: Mapping[str, Any], replicas: int, budget: Mapping[str, Any], labels: Mapping[str, str]
    ) -> Tier:
        return Tier(name=name, replicas=replicas, budgets=(Budget.from_spec(budget),), spread=spread_keys(pods, labels))

    return (
        TierPlan(
            tier=tier_from_objects(f"app ({app.name})", manifests.deployment, [manifests.pod_disruption_budget]),
            timing=app_pod_timing(app.timing),
        ),
        TierPlan(
            tier=from_values(
                "ingress-nginx controller", controller, controller["replicaCount"], controller, CONTROLLER_LABELS
            ),
            timing=ingress_pod_timing(ingress_timing),
        ),
        TierPlan(
            tier=from_values(
                "AWS Load Balancer Controller",
                balancer,
                balancer["replicaCount"],
                balancer["podDisruptionBudget"],
                LOAD_BALANCER_CONTROLLER_LABELS,
            )
        ),
        *(
            TierPlan(
                tier=from_values(
                    f"cert-manager {part}", values, values["replicaCount"], values["podDisruptionBudget"], labels
                )
            )
            for part, values, labels in (
                ("controller", certs, CERT_MANAGER_LABELS["controller"]),
                ("webhook", certs["webhook"], CERT_MANAGER_LABELS["webhook"]),
                ("cainjector", certs["cainjector"], CERT_MANAGER_LABELS["cainjector"]),
            )
        ),
        TierPlan(
            tier=from_values(
                "metrics-server", metrics, metrics["replicas"], metrics["podDisruptionBudget"], METRICS_SERVER_LABELS
            )
        ),
        TierPlan(tier=from_values("CoreDNS", dns, dns["replicaCount"], dns["podDisruptionBudget"], COREDNS_LABELS)),
    )


def timing_problems(plans: Sequence[TierPlan], *, pods_on_node: int = 1) -> list[str]:
    """Tiers whose pods could not leave a draining node within EKS's 15 minutes; empty when every one can."""
    return [
        f"{plan.tier.name}: its pods need up to {plan.timing.node_drain(pods_on_node):.0f} s to leave a draining node, "
        f"more than EKS's {POD_EVICTION_TIMEOUT} s before PodEvictionFailure"
        for plan in plans
        if plan.timing and plan.timing.node_drain(pods_on_node) > POD_EVICTION_TIMEOUT
    ]


# ---------------------------------------------------------------- phase 3, as the cluster decides it


@dataclass(frozen=True)
class Node:
    """A node of the group: its name and its zone."""

    name: str
    zone: str


@dataclass(frozen=True, kw_only=True)
class Eviction:
    """One pod the drain evicted: when, from where, and how many of the tier's pods were still Ready after."""

    time: float
    node: str
    pod: str
    ready_after: int


@dataclass(frozen=True, kw_only=True)
class Rotation:
    """What one tier went through while every old node was drained in turn."""

    tier: str
    replicas: int
    evictions: tuple[Eviction, ...]
    drained: Mapping[str, float]
    """Seconds each old node took from its drain's start until its last pod of this tier had left it."""
    before: Mapping[str, int]
    """The tier's pods per node before the update."""
    after: Mapping[str, int]
    """The tier's pods per node after it (on the new nodes)."""
    failure: str = ""
    """Why EKS would fail the update (PodEvictionFailure); empty when every node drained in time."""

    @property
    def fewest_ready(self) -> int:
        """The fewest Ready pods the tier had at any moment of the update."""
        return min((e.ready_after for e in self.evictions), default=self.replicas)


@dataclass
class _Pod:
    name: str
    node: Node
    ready_at: float
    deleted_at: float | None = None
    gone_at: float | None = None


def _schedule(spread: frozenset[str], live: Sequence[_Pod], candidates: Sequence[Node]) -> Node:
    """The node the scheduler prefers for a new pod of the tier: the least crowded zone, then node, its spread asks for.

    PodTopologySpread counts the tier's pods that are not being deleted on every node, cordoned ones included; the
    model takes the lowest skew outright where the real scheduler weighs it against other scores. A tier without
    spread gets the first node: nothing keeps the scheduler from putting all its pods together.
    """

    def crowding(node: Node) -> tuple[int, int]:
        in_zone = sum(1 for p in live if p.node.zone == node.zone) if ZONE in spread else 0
        on_node = sum(1 for p in live if p.node == node) if HOSTNAME in spread else 0
        return in_zone, on_node

    return min(candidates, key=crowding)  # min keeps the first of equals: candidates' order breaks ties


def node_group_update(
    tier: Tier, timing: PodTiming, old_nodes: Sequence[Node], *, order: Sequence[str] | None = None
) -> Rotation:
    """Replace every node of the group as EKS does with `NODE_GROUP_UPDATE_CONFIG`, and follow one tier through it.

    Phase 2 leaves one new node per zone of the old ones (the least EKS launches) and every old node cordoned. Phase 3
    drains the old nodes one at a time in `order` (EKS picks at random; default: as given): each pod is evicted when
    the tier's budget allows (`Budget.allows_eviction`; no budget allows everything, two refuse everything, as the
    eviction API does), its replacement is scheduled at once on a new node and turns Ready after
    `timing.ready_after`, the evicted pod leaves after `timing.termination_grace`. A refused eviction is retried the
    moment a replacement turns Ready (a real drain retries every few seconds). A node whose pods cannot leave within
    15 minutes fails the update, as EKS does.
    """
    nodes = {node.name: node for node in old_nodes}
    new_nodes = [Node(f"new-{zone}", zone) for zone in dict.fromkeys(node.zone for node in old_nodes)]
    pods: list[_Pod] = []

    def live() -> list[_Pod]:
        return [p for p in pods if p.deleted_at is None]

    for index in range(tier.replicas):
        pods.append(_Pod(f"pod-{index}", _schedule(tier.spread, live(), old_nodes), ready_at=0.0))
    before = _per_node(live())
    evictions: list[Eviction] = []
    drained: dict[str, float] = {}

    def outcome(failure: str = "") -> Rotation:
        return Rotation(
            tier=tier.name,
            replicas=tier.replicas,
            evictions=tuple(evictions),
            drained=dict(drained),
            before=before,
            after=_per_node(live()),
            failure=failure,
        )

    now = 0.0
    for name in order or list(nodes):
        node = nodes[name]
        start, deadline = now, now + POD_EVICTION_TIMEOUT
        while pending := sorted((p for p in live() if p.node == node), key=lambda p: p.name):
            for pod in pending:
                healthy = sum(1 for p in live() if p.ready_at <= now)
                matching = sum(1 for p in pods if p.gone_at is None or p.gone_at > now)
                ready = pod.ready_at <= now
                if len(tier.budgets) <= 1 and all(
                    budget.allows_eviction(scale=tier.replicas, matching=matching, healthy=healthy, ready=ready)
                    for budget in tier.budgets
                ):
                    pod.deleted_at, pod.gone_at = now, now + timing.termination_grace
                    replacement = _Pod(
                        f"pod-{len(pods)}", _schedule(tier.spread, live(), new_nodes), ready_at=now + timing.ready_after
                    )
                    pods.append(replacement)
                    ready_left = sum(1 for p in live() if p.ready_at <= now)
                    evictions.append(Eviction(time=now, node=name, pod=pod.name, ready_after=ready_left))
            if not any(p.node == node for p in live()):
                break
            upcoming = [p.ready_at for p in live() if p.ready_at > now]
            if not upcoming or min(upcoming) > deadline:
                return outcome(f"PodEvictionFailure: {tier.name}'s pods on {name} could not be evicted within 15 min")
            now = min(upcoming)
        emptied = max((p.gone_at or start for p in pods if p.node == node), default=start)
        drained[name] = emptied - start
        if emptied > deadline:
            return outcome(f"PodEvictionFailure: {tier.name}'s pods on {name} were still terminating after 15 min")
        now = emptied + EVICTED_NODE_WAIT
    return outcome()


def _per_node(pods: Sequence[_Pod]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pod in pods:
        counts[pod.node.name] = counts.get(pod.node.name, 0) + 1
    return counts


def node_group(nodes: int, zones: int) -> tuple[Node, ...]:
    """`nodes` nodes spread evenly over `zones` zones, as the Auto Scaling group balances them."""
    return tuple(Node(f"node-{index}", f"zone-{index % zones}") for index in range(nodes))


def fewest_left_by_one_node_loss(placement: Mapping[str, int], replicas: int) -> int:
    """Pods left when the node holding most of them goes at once (a spot reclaim, a crash): what spread buys."""
    return replicas - max(placement.values(), default=0)


# ---------------------------------------------------------------- the README's table


@dataclass(frozen=True, kw_only=True)
class StackTiers:
    """One stack's tiers, for the table."""

    stack: str
    plans: tuple[TierPlan, ...]


def rotation_table(stacks: Sequence[StackTiers]) -> str:
    """The README's "Node rotation" table (markdown): each tier's pods per stack, budget, spread and timing.

    Timing columns read "—" for the platform's own controllers: their charts' probes and grace periods, seconds each.
    """
    names = [plan.tier.name for plan in stacks[0].plans]
    header = " / ".join(s.stack for s in stacks)
    rows = [
        f"| Tier | Pods ({header}) | Budget | Spread over | Replacement Ready within | Evicted pod gone within "
        f"| Its pod off a draining node within |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for index, name in enumerate(names):
        plans = [s.plans[index] for s in stacks]
        if any(p.tier.name != name for p in plans):
            raise ValueError(f"stacks list different tiers: {[p.tier.name for p in plans]}")
        first = plans[0]
        budget = first.tier.budget
        counts = budget.spec().items() if budget else ()
        rules = ", ".join(
            [*(f"{key} {value}" for key, value in counts if key != "unhealthyPodEvictionPolicy")]
            + ([budget.unhealthy_pod_eviction_policy] if budget else ["none"])
        )
        spread = " and ".join(_DOMAINS[key] for key in SPREAD_KEYS if key in first.tier.spread) or "nothing"
        pods = " / ".join(str(p.tier.replicas) for p in plans)
        if first.timing:
            timing = first.timing
            times = (
                f"{_seconds(timing.ready_after)} | {_seconds(timing.termination_grace)} | "
                f"{_seconds(timing.node_drain())}"
            )
        else:
            times = "— | — | —"
        rows.append(f"| {name} | {pods} | {rules} | {spread} | {times} |")
    return "\n".join(rows)


_DOMAINS = {ZONE: "zones", HOSTNAME: "nodes"}


def _seconds(value: float) -> str:
    return f"{math.ceil(value)} s"
