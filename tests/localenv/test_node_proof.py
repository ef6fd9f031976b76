"""The proof for nodes: real nginx, real gunicorn pods, live traffic while nodes are drained and replaced.

Under keep-alive and one-request-per-connection clients with no client retries: draining a node loses
no request and never goes past the PodDisruptionBudget (checked from the event log); a full node-group
update loses no request; a drain the budget forbids waits, says why, and gives up at its timeout with
every pod still running. The algorithm (placement, budget arithmetic, eviction verdicts) is in the
tables of tests/localenv/control.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from harness.local_environment import start_traffic
from localenv import LocalEnvError, LocalEnvironment
from localenv.control.disruption import BUDGET_REFUSAL
from localenv.control.events import NodeEvent, NodeStep, PodChange, PodEvent
from localenv.ingress_pod import DEFAULT_INGRESS_REPLICAS, INGRESS_DEPLOYMENT, ingress_budget
from localenv.profile import local_manifests

pytestmark = pytest.mark.process

REPLICAS = 3
# The contract's budget: maxUnavailable 1 of 3 → at least 2 healthy pods at every moment of a drain.
DESIRED_HEALTHY = REPLICAS - local_manifests("v1").pod_disruption_budget["spec"]["maxUnavailable"]
APP_DEPLOYMENT = local_manifests("v1").deployment["metadata"]["name"]
# The ingress tier's budget, the same drain rule over its replicas.
INGRESS_DESIRED_HEALTHY = DEFAULT_INGRESS_REPLICAS - ingress_budget()["spec"]["maxUnavailable"]
# Loose for 2 busy cores: a local pod is replaced in about a second.
DRAIN_TIMEOUT_S = 60.0
# A drain that can never finish: long enough to see kubectl's 5 s retry twice.
BLOCKED_TIMEOUT_S = 11.0


def no_budget_violated(env: LocalEnvironment, since: int) -> None:
    """Every eviction had a disruption to spend, and at every event each Deployment kept ≥ desiredHealthy ready pods.

    Each event carries its own Deployment's counts (the app's or the ingress controller's); the pod's name says which.
    """
    events = env.event_log.snapshot(since)
    evictions = [e for e in events if isinstance(e, NodeEvent) and e.step is NodeStep.EVICTED]
    assert evictions, "nothing was evicted: the drain proved nothing"
    assert all((e.disruptions_allowed or 0) >= 1 for e in evictions), evictions
    desired_healthy = {APP_DEPLOYMENT: DESIRED_HEALTHY, INGRESS_DEPLOYMENT: INGRESS_DESIRED_HEALTHY}
    for deployment, floor in desired_healthy.items():
        ready = [
            e.counts.ready
            for e in events
            if isinstance(e, PodEvent | NodeEvent) and e.counts.desired and _deployment_of(e.pod) == deployment
        ]
        assert ready, f"no event of {deployment}"
        assert min(ready) >= floor, f"{deployment}: ready pods fell to {min(ready)} < {floor}"


def _deployment_of(pod: str | None) -> str:
    return (pod or "").rsplit("-", 2)[0]


def _app_pods(pods: Sequence[str]) -> list[str]:
    """The app's pods among a node's (the ingress controller's pods share the nodes)."""
    return [pod for pod in pods if _deployment_of(pod) == APP_DEPLOYMENT]


def _ingress_pods(pods: Sequence[str]) -> list[str]:
    """The ingress controller's pods among a node's."""
    return [pod for pod in pods if _deployment_of(pod) == INGRESS_DEPLOYMENT]


def test_draining_a_node_under_load_loses_nothing_and_keeps_the_budget(env: LocalEnvironment) -> None:
    assert env.up("v1", REPLICAS).ok
    # Proof 3 is about a node that holds both tiers: its app pod and its ingress pod leave at once.
    node = next((n for n in env.node_status() if _app_pods(n.pods) and _ingress_pods(n.pods)), None)
    assert node is not None, f"no node holds an app pod and an ingress pod: {env.node_status()}"
    evicted_ingress = _ingress_pods(node.pods)
    since = len(env.event_log)
    traffic = start_traffic(env)
    try:
        seconds = env.drain(node.name, DRAIN_TIMEOUT_S)
        env.wait_for(
            lambda s: (
                s.ingress_deployment is not None
                and sum(p.ready for p in s.ingress_deployment.pods) == DEFAULT_INGRESS_REPLICAS
            ),
            timeout=20,
            what="the evicted ingress pod's replacement",
        )
        env.wait_for(lambda s: s.counts.ready == REPLICAS, timeout=20, what="the evicted pod's replacement")
    finally:
        report = traffic.stop()
    print(f"drain {node.name}: {report.total} requests, {report.failed} failed, {report.retried} retried, {seconds} s")
    assert report.total > 200, "too little traffic to prove anything"
    assert report.failed == 0, f"{report.failed} failed {dict(report.by_status)}"
    no_budget_violated(env, since)
    after = {n.name: n for n in env.node_status()}
    assert after[node.name].unschedulable and not after[node.name].pods
    # Replaced on the other nodes, without surge: never more than REPLICAS pods counted.
    assert sum(len(_app_pods(n.pods)) for n in after.values()) == REPLICAS
    assert sum(len(_ingress_pods(n.pods)) for n in after.values()) == DEFAULT_INGRESS_REPLICAS
    assert not set(evicted_ingress) & {p for n in after.values() for p in n.pods}, "the ingress pod was not evicted"
    evicted = {e.pod for e in env.event_log.snapshot(since) if isinstance(e, NodeEvent) and e.step is NodeStep.EVICTED}
    assert {*_app_pods(node.pods), *evicted_ingress} <= evicted, evicted
    created = [e for e in env.event_log.snapshot(since) if isinstance(e, PodEvent) and e.change is PodChange.CREATED]
    assert all(e.counts.pods <= REPLICAS for e in created)


def test_a_full_node_group_update_under_load_loses_nothing(env: LocalEnvironment) -> None:
    assert env.up("v1", REPLICAS).ok
    old = {n.name for n in env.node_status()}
    since = len(env.event_log)
    traffic = start_traffic(env)
    try:
        steps = env.update_node_group(DRAIN_TIMEOUT_S)
        env.wait_for(lambda s: s.counts.ready == REPLICAS, timeout=20, what="every pod ready on the new nodes")
    finally:
        report = traffic.stop()
    print(f"node-group update: {report.total} requests, {report.failed} failed, {report.retried} retried; {steps}")
    assert report.total > 200
    assert report.failed == 0, f"{report.failed} failed {dict(report.by_status)}"
    nodes = env.node_status()
    assert not old & {n.name for n in nodes}, "an old node survived the update"
    assert sum(len(_app_pods(n.pods)) for n in nodes) == REPLICAS
    no_budget_violated(env, since)


def test_a_drain_the_budget_forbids_waits_says_why_and_gives_up_with_nothing_half_evicted(
    env: LocalEnvironment,
) -> None:
    strict = local_manifests("v1").pod_disruption_budget
    strict["spec"] = {**strict["spec"], "minAvailable": REPLICAS}
    del strict["spec"]["maxUnavailable"]
    assert env.up("v1", REPLICAS, budget=strict).ok
    node = next(n for n in env.node_status() if _app_pods(n.pods))
    pods_before = {p.name for p in env.status().pods}
    since = len(env.event_log)
    with pytest.raises(LocalEnvError) as failure:
        env.drain(node.name, BLOCKED_TIMEOUT_S)
    message = str(failure.value)
    print(message)
    assert f"drain of {node.name} timed out after {BLOCKED_TIMEOUT_S:g} s" in message
    assert BUDGET_REFUSAL in message and "needs 3 healthy pods and has 3 currently" in message
    assert all(p in message for p in _app_pods(node.pods))  # the ingress pod there had a disruption to spend
    assert "stays cordoned" in message
    refused = [
        e for e in env.event_log.snapshot(since) if isinstance(e, NodeEvent) and e.step is NodeStep.EVICTION_REFUSED
    ]
    assert len(refused) >= 2, "a refused eviction must be retried (every 5 s, as kubectl drain)"
    assert all(e.code == 429 for e in refused)
    # Nothing half-evicted: the same pods, all running and ready; the node still cordoned.
    status = env.status()
    assert {p.name for p in status.pods} == pods_before and status.counts.ready == REPLICAS
    assert next(n for n in status.nodes if n.name == node.name).unschedulable
