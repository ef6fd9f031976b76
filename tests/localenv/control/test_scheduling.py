"""The scheduler's placement as a table: cases in the spirit of kube-scheduler's PodTopologySpread and
InterPodAffinity plugin tests (filtering_test.go, scoring_test.go), on nodes spread over zones."""

from __future__ import annotations

import pytest

from localenv.control.scheduling import (
    HOSTNAME_KEY,
    ZONE_KEY,
    AntiAffinityTerm,
    Node,
    PlacedPod,
    Placement,
    SpreadConstraint,
    WhenUnsatisfiable,
    schedule,
)
from localenv.profile import LOCAL_NODES, local_deployment
from localenv.spec import DeploymentSpec

HARD, SOFT = WhenUnsatisfiable.DO_NOT_SCHEDULE, WhenUnsatisfiable.SCHEDULE_ANYWAY
# Four nodes over two zones, as the upstream tables use (node-a, node-b in zone1; node-x, node-y in zone2).
FOUR = (
    Node(name="node-a", zone="zone1"),
    Node(name="node-b", zone="zone1"),
    Node(name="node-x", zone="zone2"),
    Node(name="node-y", zone="zone2"),
)


def pods(*nodes: str, revision: int = 1) -> list[PlacedPod]:
    return [PlacedPod(node=n, revision=revision) for n in nodes]


def zone(skew: int, when: WhenUnsatisfiable, *, same_revision: bool = False) -> SpreadConstraint:
    return SpreadConstraint(max_skew=skew, topology_key=ZONE_KEY, when_unsatisfiable=when, same_revision=same_revision)


def host(skew: int, when: WhenUnsatisfiable) -> SpreadConstraint:
    return SpreadConstraint(max_skew=skew, topology_key=HOSTNAME_KEY, when_unsatisfiable=when)


CASES = [
    # (name, placement, nodes, existing pods, expected node or None)
    ("no constraints: the first node", Placement(), FOUR, [], "node-a"),
    (
        "zones 2/1, maxSkew 1, DoNotSchedule: only zone2 fits",
        Placement(spread=(zone(1, HARD),)),
        FOUR,
        pods("node-a", "node-b", "node-x"),
        "node-y",
    ),
    (
        "zones 3/1, maxSkew 2: zone1 would be 4 - 1 = 3 > 2, zone2 fits",
        Placement(spread=(zone(2, HARD),)),
        FOUR,
        pods("node-a", "node-a", "node-b", "node-x"),
        "node-y",
    ),
    (
        "hostname ScheduleAnyway: the node with fewest pods scores best",
        Placement(spread=(host(1, SOFT),)),
        FOUR,
        pods("node-a", "node-b", "node-x"),
        "node-y",
    ),
    (
        "zone and hostname ScheduleAnyway: the empty zone wins over an empty node in a busy zone",
        Placement(spread=(zone(1, SOFT), host(1, SOFT))),
        (*LOCAL_NODES, Node(name="node-4", zone="zone-a")),
        pods("node-1", "node-2"),
        "node-3",
    ),
    (
        "a cordoned node is filtered out even when it is the emptiest",
        Placement(spread=(host(1, SOFT),)),
        (Node(name="node-a", zone="zone1", unschedulable=True), *FOUR[1:]),
        pods("node-b", "node-x", "node-y"),
        "node-b",
    ),
    (
        "required anti-affinity per hostname: only the node without a pod",
        Placement(anti_affinity=(AntiAffinityTerm(topology_key=HOSTNAME_KEY, required=True),)),
        FOUR,
        pods("node-a", "node-b", "node-x"),
        "node-y",
    ),
    (
        "preferred anti-affinity per zone: the zone with fewer matching pods",
        Placement(anti_affinity=(AntiAffinityTerm(topology_key=ZONE_KEY, required=False, weight=10),)),
        FOUR,
        pods("node-x"),
        "node-a",
    ),
    (
        "matchLabelKeys pod-template-hash: the old revision's pods are not counted",
        Placement(spread=(zone(1, HARD, same_revision=True),)),
        FOUR,
        pods("node-a", "node-b", revision=1) + pods("node-x", revision=2),
        "node-a",
    ),
]


@pytest.mark.parametrize(("name", "placement", "nodes", "existing", "expected"), CASES)
def test_the_scheduler_places_a_pod_as_its_filter_and_score_plugins_would(
    name: str, placement: Placement, nodes: tuple[Node, ...], existing: list[PlacedPod], expected: str
) -> None:
    assert schedule(placement, 2 if "old revision" in name else 1, nodes, existing).node == expected, name


def test_terminating_pods_are_not_counted() -> None:
    existing = [PlacedPod(node="node-a", revision=1, terminating=True), *pods("node-x")]
    assert schedule(Placement(spread=(zone(1, HARD),)), 1, FOUR, existing).node == "node-a"


def test_no_feasible_node_is_a_failed_scheduling_message_naming_each_reason() -> None:
    nodes = (Node(name="node-a", zone="zone1", unschedulable=True), Node(name="node-b", zone="zone1"))
    placement = Placement(anti_affinity=(AntiAffinityTerm(topology_key=HOSTNAME_KEY, required=True),))
    decision = schedule(placement, 1, nodes, pods("node-b"))
    assert decision.node is None
    assert decision.reason == (
        "0/2 nodes are available: 1 node(s) were unschedulable, 1 node(s) didn't match pod anti-affinity rules."
    )


def test_the_contracts_spread_puts_three_replicas_one_per_node_and_zone() -> None:
    placement = DeploymentSpec.from_manifest(local_deployment("v1", 3)).placement
    placed: list[PlacedPod] = []
    for _ in range(3):
        decision = schedule(placement, 1, LOCAL_NODES, placed)
        assert decision.node is not None
        placed.append(PlacedPod(node=decision.node, revision=1))
    assert sorted(p.node for p in placed) == [n.name for n in LOCAL_NODES]
