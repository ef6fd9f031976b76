"""Node rotation: a managed node-group update, one old node drained at a time, never leaves a tier without a Ready pod.

The tiers are the ones each real stack renders and installs (infra/node_rotation.py `rotation_tiers`); the update is
EKS's phase 3 as the cluster decides it (`node_group_update`). Negative controls show the same model losing a tier
when a budget or the spread is taken away, so the tables below can fail.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import re
from pathlib import Path

import pulumi_aws as aws
import pytest

from app.contract.disruption import HOSTNAME, ZONE, Budget, Tier
from app.timing import Timing
from harness.project_files import stack_names
from harness.stack_settings import stack_settings
from infra.ingress_timing import INGRESS_TIMING
from infra.node_rotation import (
    EVICTED_NODE_WAIT,
    FORCE_UPDATE_VERSION,
    NODE_GROUP_UPDATE_CONFIG,
    POD_EVICTION_TIMEOUT,
    Node,
    PodTiming,
    StackTiers,
    TierPlan,
    app_pod_timing,
    fewest_left_by_one_node_loss,
    ingress_pod_timing,
    node_group,
    node_group_update,
    rotation_table,
    rotation_tiers,
    timing_problems,
)
from stacks.settings import StackSettings

STACKS = stack_names()

README = Path(__file__).resolve().parents[2] / "README.md"
SPREAD = frozenset({ZONE, HOSTNAME})
OTHER_TIMINGS = (
    PodTiming(ready_after=5, termination_grace=30),  # replacement Ready long before the next node drains
    PodTiming(ready_after=90, termination_grace=10),  # still starting when the next node's drain begins
    PodTiming(ready_after=300, termination_grace=30),  # slower than the whole gap between two nodes
)
"""Timings swept for the tiers whose pods' timing is their chart's: the outcome must not depend on it."""


def plans(settings: StackSettings) -> tuple[TierPlan, ...]:
    return rotation_tiers(
        app=settings.app,
        ingress_replicas=settings.platform.ingress_replicas,
        metrics_server_replicas=settings.platform.metrics_server_replicas,
    )


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> StackSettings:
    return stack_settings(request.param)


# ---------------------------------------------------------------- the node group's settings


def test_the_update_settings_are_pulumi_aws_arguments() -> None:
    accepted = inspect.signature(aws.eks.NodeGroupUpdateConfigArgs).parameters
    assert set(NODE_GROUP_UPDATE_CONFIG) <= set(accepted)
    assert NODE_GROUP_UPDATE_CONFIG == {"max_unavailable": 1, "update_strategy": "DEFAULT"}  # surge, one at a time
    assert "force_update_version" in inspect.signature(aws.eks.NodeGroup._internal_init).parameters
    assert FORCE_UPDATE_VERSION is False


def test_every_tier_of_every_stack_serves_through_a_drain(stack: StackSettings) -> None:
    tiers = plans(stack)
    assert [p.tier.name for p in tiers] == [
        f"app ({stack.app.name})",
        "ingress-nginx controller",
        "AWS Load Balancer Controller",
        "cert-manager controller",
        "cert-manager webhook",
        "cert-manager cainjector",
        "metrics-server",
        "CoreDNS",
    ]
    assert [problem for p in tiers for problem in p.tier.problems()] == []
    assert tiers[0].tier.replicas == stack.app.replicas
    assert tiers[1].tier.replicas == stack.platform.ingress_replicas


def test_every_timed_tier_leaves_a_node_within_ekss_eviction_timeout(stack: StackSettings) -> None:
    tiers = plans(stack)
    assert timing_problems(tiers) == []
    # The app at its autoscaler's ceiling crowds several pods onto a node; each waits for its predecessor.
    crowded = -(-stack.app.max_replicas // stack.cluster.min_nodes)
    assert timing_problems(tiers[:1], pods_on_node=crowded) == []


def test_timing_past_fifteen_minutes_is_named() -> None:
    slow = TierPlan(
        tier=Tier(name="slow", replicas=2, budgets=(Budget(max_unavailable=1),), spread=SPREAD),
        timing=PodTiming(ready_after=800, termination_grace=200),
    )
    (problem,) = timing_problems([slow])
    assert "slow: its pods need up to 1000 s" in problem and f"EKS's {POD_EVICTION_TIMEOUT} s" in problem


# ---------------------------------------------------------------- the update itself, every tier, every order


def _timings(plan: TierPlan) -> tuple[PodTiming, ...]:
    return (plan.timing,) if plan.timing else OTHER_TIMINGS


def test_a_node_group_update_never_leaves_a_tier_without_a_ready_pod(stack: StackSettings) -> None:
    nodes = node_group(stack.cluster.desired_nodes, stack.network.zones)
    app_at_ceiling = dataclasses.replace(stack.app, replicas=stack.app.max_replicas)
    scaled = rotation_tiers(
        app=app_at_ceiling,
        ingress_replicas=stack.platform.ingress_replicas,
        metrics_server_replicas=stack.platform.metrics_server_replicas,
    )[0]
    for plan in (*plans(stack), scaled):
        tier = plan.tier
        for timing in _timings(plan):
            for order in itertools.permutations(n.name for n in nodes):  # EKS picks the next node at random
                rotation = node_group_update(tier, timing, nodes, order=order)
                where = f"{tier.name}, {timing}, order {order}"
                assert rotation.failure == "", where
                assert len(rotation.evictions) == tier.replicas, where  # every old pod left, once
                assert rotation.fewest_ready >= tier.replicas - 1 >= 1, where
                assert sum(rotation.after.values()) == tier.replicas and set(rotation.after) <= {
                    f"new-{z}" for z in {n.zone for n in nodes}
                }, where
                crowded = max(rotation.before.values())
                assert all(seconds <= timing.node_drain(crowded) for seconds in rotation.drained.values()), where
                if tier.replicas <= len(nodes):  # spread: one node's loss (a spot reclaim) never takes them all
                    assert fewest_left_by_one_node_loss(rotation.before, tier.replicas) >= 1, where
                    assert fewest_left_by_one_node_loss(rotation.after, tier.replicas) >= 1, where


def test_the_ingress_controller_drains_in_its_timing() -> None:
    # prd: three controllers on three nodes in three zones; each node waits at most for the previous replacement's
    # readiness gate, then one controller's full termination.
    tier = Tier(name="ingress", replicas=3, budgets=(Budget(max_unavailable=1),), spread=SPREAD)
    timing = ingress_pod_timing(INGRESS_TIMING)
    rotation = node_group_update(tier, timing, node_group(3, 3))
    assert rotation.before == {"node-0": 1, "node-1": 1, "node-2": 1}
    assert rotation.after == {"new-zone-0": 1, "new-zone-1": 1, "new-zone-2": 1}
    assert [e.time for e in rotation.evictions] == [
        0,
        timing.termination_grace + EVICTED_NODE_WAIT,
        2 * (timing.termination_grace + EVICTED_NODE_WAIT),
    ]
    assert rotation.drained == {n: timing.termination_grace for n in ("node-0", "node-1", "node-2")}
    assert rotation.fewest_ready == 2


# ---------------------------------------------------------------- negative controls: the same model, a rule removed


def test_without_a_budget_or_spread_a_tier_goes_dark() -> None:
    tier = Tier(name="bare", replicas=2, budgets=(), spread=frozenset())
    rotation = node_group_update(tier, PodTiming(ready_after=30, termination_grace=30), node_group(2, 2))
    assert rotation.before == {"node-0": 2}  # nothing kept them apart
    assert rotation.fewest_ready == 0  # both evicted at once
    assert fewest_left_by_one_node_loss(rotation.before, 2) == 0


def test_without_a_budget_spread_alone_loses_the_tier_when_pods_start_slowly() -> None:
    tier = Tier(name="unbudgeted", replicas=2, budgets=(), spread=SPREAD)
    rotation = node_group_update(tier, PodTiming(ready_after=300, termination_grace=30), node_group(2, 2))
    assert rotation.before == {"node-0": 1, "node-1": 1}
    assert rotation.fewest_ready == 0  # the second node drains before the first pod's replacement is Ready


def test_with_the_budget_the_same_slow_tier_waits_instead() -> None:
    tier = Tier(name="budgeted", replicas=2, budgets=(Budget(max_unavailable=1),), spread=SPREAD)
    rotation = node_group_update(tier, PodTiming(ready_after=300, termination_grace=30), node_group(2, 2))
    assert rotation.fewest_ready == 1
    second = rotation.evictions[1]
    assert second.time == 300  # refused until the first replacement turned Ready, then retried
    assert rotation.drained["node-1"] == 300 - (30 + EVICTED_NODE_WAIT) + 30


def test_min_available_one_lets_two_of_three_go_at_once() -> None:
    tier = Tier(name="loose", replicas=3, budgets=(Budget(min_available=1),), spread=frozenset())
    rotation = node_group_update(tier, PodTiming(ready_after=30, termination_grace=30), node_group(3, 3))
    assert rotation.fewest_ready == 1  # capacity fell to a third; maxUnavailable 1 keeps two


def test_a_budget_that_never_allows_an_eviction_fails_the_update() -> None:
    tier = Tier(name="strict", replicas=2, budgets=(Budget(min_available=2),), spread=SPREAD)
    rotation = node_group_update(tier, PodTiming(ready_after=30, termination_grace=30), node_group(2, 2))
    assert rotation.failure.startswith("PodEvictionFailure: strict's pods on node-0")
    assert rotation.evictions == ()


def test_two_budgets_over_one_tier_fail_the_update() -> None:
    # eviction.go: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    budgets = (Budget(max_unavailable=1), Budget(max_unavailable=1))
    tier = Tier(name="twice", replicas=2, budgets=budgets, spread=SPREAD)
    rotation = node_group_update(tier, PodTiming(ready_after=30, termination_grace=30), node_group(2, 2))
    assert rotation.failure.startswith("PodEvictionFailure: twice's pods on node-0") and rotation.evictions == ()


def test_pods_that_outlast_fifteen_minutes_fail_the_update() -> None:
    tier = Tier(name="slow", replicas=2, budgets=(Budget(max_unavailable=1),), spread=SPREAD)
    rotation = node_group_update(tier, PodTiming(ready_after=30, termination_grace=901), node_group(2, 2))
    assert "still terminating after 15 min" in rotation.failure


def test_new_nodes_come_one_per_zone_of_the_old_ones() -> None:
    tier = Tier(name="t", replicas=4, budgets=(Budget(max_unavailable=1),), spread=SPREAD)
    nodes = (Node("a", "zone-a"), Node("b", "zone-a"), Node("c", "zone-b"))
    rotation = node_group_update(tier, PodTiming(ready_after=1, termination_grace=1), nodes)
    assert rotation.after == {"new-zone-a": 2, "new-zone-b": 2}


# ---------------------------------------------------------------- the README states these numbers


def test_the_readme_table_is_the_modules() -> None:
    table = rotation_table([StackTiers(stack=name, plans=plans(stack_settings(name))) for name in STACKS])
    assert table in README.read_text(), f"README's Node rotation table differs; it should read:\n{table}"


def test_the_readme_prose_states_the_modules_numbers() -> None:
    text = README.read_text()
    section = text[text.index("### Node rotation") :]
    section = section[: section.index("\n### ", 1)]
    app, ingress = app_pod_timing(Timing()), ingress_pod_timing(INGRESS_TIMING)
    for phrase in (
        f"{POD_EVICTION_TIMEOUT // 60} minutes",
        f"waits {EVICTED_NODE_WAIT} s",
        f"`max_unavailable: {NODE_GROUP_UPDATE_CONFIG['max_unavailable']}`",
        f"`update_strategy: {NODE_GROUP_UPDATE_CONFIG['update_strategy']}`",
        f"{INGRESS_TIMING.target_registration:.0f} s",
        f"{ingress.ready_after:.0f} s",
        f"{ingress.termination_grace:.0f} s",
        f"{INGRESS_TIMING.pre_stop:.0f} s",
        f"{app.ready_after:.0f} s",
        f"{app.termination_grace:.0f} s",
        f"{ingress.node_drain():.0f} s",
    ):
        assert phrase in section, phrase
    seconds = {int(n) for n in re.findall(r"(\d+) s\b", section)}
    known = {
        EVICTED_NODE_WAIT,
        int(INGRESS_TIMING.target_registration),
        int(INGRESS_TIMING.pre_stop),
        int(INGRESS_TIMING.health_check_interval),
        int(INGRESS_TIMING.controller_reaction),
        int(INGRESS_TIMING.deregistration_delay),
        int(ingress.ready_after),
        int(ingress.termination_grace),
        int(ingress.node_drain()),
        int(app.ready_after),
        int(app.termination_grace),
        int(app.node_drain()),
        int(POD_EVICTION_TIMEOUT - ingress.node_drain()),
        Timing().pre_stop,
        15,  # the Load Balancer Controller's leader lease (controller-runtime's default)
    }
    assert seconds <= known, f"README states seconds no module gives: {sorted(seconds - known)}"
