"""Drains and node-group updates through the real control loop on the fake runtime (fake seconds, no processes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.timing import LOCAL_TIMING
from localenv import LocalEnvError, local_deployment, local_manifests
from localenv.control.disruption import DisruptionBudget
from localenv.control.events import NodeEvent, NodeStep, PodEvent
from localenv.controller import TICK_S, Controller
from localenv.events import EventLog
from localenv.nodegroup import NodeGroup
from localenv.profile import LOCAL_NODES
from localenv.runtime.fake import FakeRuntime
from localenv.spec import DeploymentSpec


@pytest.fixture
def group() -> Iterator[tuple[NodeGroup, Controller, EventLog]]:
    fake = FakeRuntime()
    log = EventLog(None, clock=fake.now)
    controller = Controller(runtime=fake, events=log, endpoint_propagation=LOCAL_TIMING.endpoint_propagation)
    controller.set_budget(DisruptionBudget.from_manifest(local_manifests("v1").pod_disruption_budget))
    rollout = controller.apply(DeploymentSpec.from_manifest(local_deployment("v1", 3)))
    fake.run(controller, 10.0, TICK_S)
    assert rollout.drained is not None
    nodes = NodeGroup(
        LOCAL_NODES, controllers=lambda: [controller], events=log, pause=lambda s: fake.run(controller, s, TICK_S)
    )
    yield nodes, controller, log
    controller.stop()


def test_three_replicas_land_one_per_node(group: tuple[NodeGroup, Controller, EventLog]) -> None:
    _, controller, _ = group
    assert sorted(p.node or "" for p in controller.status().pods) == ["node-1", "node-2", "node-3"]


def test_a_drain_evicts_within_the_budget_and_the_replica_set_replaces_without_surge(
    group: tuple[NodeGroup, Controller, EventLog],
) -> None:
    nodes, controller, log = group
    since = len(log)
    nodes.drain("node-1", timeout=30)
    events = log.snapshot(since)
    assert [e.step for e in events if isinstance(e, NodeEvent) and e.step is NodeStep.EVICTED] == [NodeStep.EVICTED]
    assert all(e.counts.pods <= 3 for e in events if isinstance(e, PodEvent))
    assert all(e.counts.ready >= 2 for e in events if isinstance(e, PodEvent))
    assert controller.pods_on("node-1") == []
    assert nodes.node("node-1").unschedulable


def test_a_node_group_update_replaces_every_node(group: tuple[NodeGroup, Controller, EventLog]) -> None:
    nodes, controller, _ = group
    steps = nodes.update(timeout=30)
    assert [n.name for n in nodes.nodes] == ["node-4", "node-5", "node-6"]
    assert len(steps) == 6
    assert sorted(p.node or "" for p in controller.status().pods if p.phase.value == "Running") == [
        "node-4",
        "node-5",
        "node-6",
    ]


def test_a_blocked_drain_fails_at_its_timeout_and_leaves_the_pods_running(
    group: tuple[NodeGroup, Controller, EventLog],
) -> None:
    nodes, controller, log = group
    controller.set_budget(DisruptionBudget(name="strict", min_available=3))
    with pytest.raises(LocalEnvError, match=r"drain of node-2 timed out after 12 s .*needs 3 healthy pods"):
        nodes.drain("node-2", timeout=12)
    refused = [e for e in log.snapshot() if isinstance(e, NodeEvent) and e.step is NodeStep.EVICTION_REFUSED]
    # kubectl's retry: at 0, 5 and 10 s.
    assert len(refused) == 3
    assert controller.pods_on("node-2") and controller.counts().ready == 3


def test_removing_a_node_that_still_runs_pods_is_refused(group: tuple[NodeGroup, Controller, EventLog]) -> None:
    nodes, _, _ = group
    with pytest.raises(LocalEnvError, match="drain it first"):
        nodes.remove("node-1")
    with pytest.raises(LocalEnvError, match="there is no node 'node-9'"):
        nodes.drain("node-9", timeout=1)
