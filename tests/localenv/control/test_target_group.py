"""The target group's lifecycle as tables: registering → healthy → draining → removed, on the local timings."""

from __future__ import annotations

import pytest

from infra.ingress_timing import LOCAL_INGRESS_TIMING as T
from localenv.control.target_group import (
    TargetGroup,
    TargetGroupPolicy,
    TargetHealth,
    TargetPod,
    TargetStep,
    gate_passes,
    sync_target_group,
)

POD = TargetPod(name="ingress-1-1", address="127.0.0.1:9001", terminating_since=None)


def terminating(at: float) -> TargetPod:
    return TargetPod(name=POD.name, address=POD.address, terminating_since=at)


def steps(actions: list) -> list[TargetStep]:
    return [a.step for a in actions]


def test_a_new_pod_is_registered_once_and_its_gate_passes_only_when_healthy() -> None:
    group = TargetGroup(policy=TargetGroupPolicy(timing=T))
    assert steps(sync_target_group(group, [POD], {}, 0.0)) == [TargetStep.REGISTER]
    assert steps(sync_target_group(group, [POD], {}, 0.1)) == []
    assert not gate_passes(group, POD.name)
    sync_target_group(group, [POD], {POD.name: False}, 0.5)  # checks still failing: initial, gate closed
    assert group.targets[POD.name].health is TargetHealth.INITIAL and not gate_passes(group, POD.name)
    sync_target_group(group, [POD], {POD.name: True}, 1.0)
    assert gate_passes(group, POD.name)


@pytest.mark.parametrize(
    ("at", "expected", "accepting"),
    [
        (T.controller_reaction - 0.01, TargetHealth.HEALTHY, True),
        (T.controller_reaction, TargetHealth.DRAINING, True),
        (T.controller_reaction + T.deregistration_propagation - 0.01, TargetHealth.DRAINING, True),
        (T.controller_reaction + T.deregistration_propagation, TargetHealth.DRAINING, False),
    ],
)
def test_a_terminating_pod_is_deregistered_after_the_reaction_and_stops_new_connections_after_propagation(
    at: float, expected: TargetHealth, accepting: bool
) -> None:
    group = TargetGroup(policy=TargetGroupPolicy(timing=T))
    sync_target_group(group, [POD], {POD.name: True}, 0.0)
    sync_target_group(group, [terminating(0.0)], {}, T.controller_reaction if at >= T.controller_reaction else at)
    sync_target_group(group, [terminating(0.0)], {POD.name: True}, at)
    target = group.targets[POD.name]
    assert (target.health, target.accepting_new) == (expected, accepting)


def test_new_connections_stop_no_later_than_the_pre_stop_ends_and_removal_waits_for_the_deregistration_delay() -> None:
    group = TargetGroup(policy=TargetGroupPolicy(timing=T))
    sync_target_group(group, [POD], {POD.name: True}, 0.0)
    seen: dict[TargetStep, float] = {}
    now = 0.0
    while now < 20 and TargetStep.REMOVE not in seen:
        for action in sync_target_group(group, [terminating(0.0)], {POD.name: now < T.pre_stop}, now):
            seen[action.step] = now
        now = round(now + 0.02, 2)
    assert seen[TargetStep.STOP_NEW_CONNECTIONS] <= T.pre_stop + 0.02
    removal = seen[TargetStep.REMOVE]
    assert (
        T.controller_reaction + T.deregistration_delay - 0.02
        <= removal
        <= T.controller_reaction + T.deregistration_delay + 0.04
    )
    assert removal >= T.nginx_done, "connections terminated while nginx may still be finishing requests"
    assert TargetStep.RESET_CONNECTIONS not in seen
    assert POD.name not in group.targets


def test_a_crashed_target_turns_unhealthy_keeps_its_connections_and_comes_back() -> None:
    group = TargetGroup(policy=TargetGroupPolicy(timing=T))
    sync_target_group(group, [POD], {POD.name: True}, 0.0)
    assert steps(sync_target_group(group, [POD], {POD.name: False}, 1.0)) == []
    assert group.targets[POD.name].health is TargetHealth.UNHEALTHY and not gate_passes(group, POD.name)
    sync_target_group(group, [POD], {POD.name: True}, 2.0)
    assert gate_passes(group, POD.name)


def test_legacy_keeps_a_terminating_target_until_checks_fail_then_resets_its_connections_and_has_no_gate() -> None:
    group = TargetGroup(policy=TargetGroupPolicy.legacy(T))
    sync_target_group(group, [POD], {}, 0.0)
    assert gate_passes(group, POD.name), "legacy has no readiness gate"
    sync_target_group(group, [POD], {POD.name: True}, 0.5)
    assert steps(sync_target_group(group, [terminating(1.0)], {POD.name: True}, 5.0)) == []
    assert group.targets[POD.name].health is TargetHealth.HEALTHY
    assert steps(sync_target_group(group, [terminating(1.0)], {POD.name: False}, 5.5)) == [TargetStep.RESET_CONNECTIONS]


def test_a_pod_that_vanished_is_deregistered_at_once() -> None:
    group = TargetGroup(policy=TargetGroupPolicy(timing=T))
    sync_target_group(group, [POD], {POD.name: True}, 0.0)
    sync_target_group(group, [], {}, 1.0)
    assert group.targets[POD.name].health is TargetHealth.DRAINING
