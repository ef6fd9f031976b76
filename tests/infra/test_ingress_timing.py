"""The ingress controller's termination sequence against the NLB's: each relation holds, each violation is named."""

from __future__ import annotations

import dataclasses

import pytest

from infra.ingress_timing import INGRESS_TIMING, LOCAL_INGRESS_TIMING, IngressTiming, whole_seconds

PROFILES = [pytest.param(INGRESS_TIMING, id="eks"), pytest.param(LOCAL_INGRESS_TIMING, id="local")]


@pytest.mark.parametrize("timing", PROFILES)
def test_both_profiles_are_sound(timing: IngressTiming) -> None:
    assert timing.problems() == []


def test_the_eks_profile_is_what_aws_accepts() -> None:
    assert INGRESS_TIMING.aws_problems() == []


def test_the_local_profile_is_not_an_aws_profile() -> None:
    # Sub-second health checks exist only on the local stand-in; AWS would refuse them.
    assert any("health_check_interval" in p for p in LOCAL_INGRESS_TIMING.aws_problems())


@pytest.mark.parametrize("timing", PROFILES)
def test_nginx_accepts_until_the_nlb_has_stopped_sending(timing: IngressTiming) -> None:
    # SIGTERM (and with it /healthz 503 and, after shutdown_grace, `nginx -s quit`) comes only after the
    # NLB's last possible new connection: the Load Balancer Controller's reaction plus the NLB's propagation.
    last_new_connection = timing.controller_reaction + timing.deregistration_propagation
    assert timing.pre_stop >= last_new_connection
    assert timing.stop_accepting > last_new_connection


@pytest.mark.parametrize("timing", PROFILES)
def test_the_nlb_cuts_only_after_nginx_is_done(timing: IngressTiming) -> None:
    # Connection termination at the end of the deregistration delay must never hit a request nginx still serves.
    assert timing.deregistration_delay >= timing.pre_stop + timing.shutdown_grace + timing.drain


@pytest.mark.parametrize("timing", PROFILES)
def test_the_kubelet_never_kills_a_draining_controller(timing: IngressTiming) -> None:
    assert timing.shutdown_margin > 0
    assert timing.termination_grace > timing.nginx_done + timing.post_shutdown_grace


@pytest.mark.parametrize("timing", PROFILES)
def test_an_unhealthy_target_keeps_its_connections_while_nginx_drains(timing: IngressTiming) -> None:
    # /healthz turns 503 at SIGTERM: the target may turn unhealthy while nginx still finishes requests.
    assert timing.unhealthy_draining_interval >= timing.shutdown_grace + timing.drain


def test_the_arithmetic_of_the_comments() -> None:
    assert INGRESS_TIMING.pre_stop == 10 + 120
    assert INGRESS_TIMING.deregistration_delay == 130 + 5 + 30
    assert INGRESS_TIMING.termination_grace == 130 + 5 + 30 + 10 + 10 == 185
    assert LOCAL_INGRESS_TIMING.termination_grace == 2.5 + 0.5 + 3 + 0.5 + 1 == 7.5


def test_the_local_profile_keeps_the_relations_at_a_human_scale() -> None:
    assert LOCAL_INGRESS_TIMING.termination_grace < 10 < INGRESS_TIMING.termination_grace
    assert LOCAL_INGRESS_TIMING.deregistration_propagation < INGRESS_TIMING.deregistration_propagation


def test_a_rollout_waits_for_every_new_targets_health_then_one_shutdown() -> None:
    timing = IngressTiming()
    per_pod = timing.target_registration + timing.health_check_interval * timing.healthy_threshold
    assert timing.rollout_budget(3) == 3 * per_pod + timing.termination_grace
    assert timing.rollout_budget(3) > timing.rollout_budget(2)


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"pre_stop": 129}, "ingress_timing.pre_stop"),  # one second short of the NLB's last new connection
        ({"deregistration_propagation": 121}, "ingress_timing.pre_stop"),  # a slower NLB outgrows the preStop
        ({"deregistration_delay": 164}, "ingress_timing.deregistration_delay"),  # cuts nginx's last second
        ({"drain": 31}, "ingress_timing.deregistration_delay"),  # a longer drain outgrows the NLB's delay
        ({"health_check_timeout": 10}, "ingress_timing.health_check_timeout"),
        ({"healthy_threshold": 0}, "ingress_timing.healthy_threshold"),
        ({"unhealthy_threshold": 0}, "ingress_timing.unhealthy_threshold"),
        ({"drain": 0, "deregistration_delay": 135}, "ingress_timing.drain"),
        ({"shutdown_margin": 0}, "ingress_timing.shutdown_margin"),
        ({"shutdown_grace": -1}, "ingress_timing.shutdown_grace"),
    ],
)
def test_a_broken_relation_is_named(broken: dict[str, float], field: str) -> None:
    problems = dataclasses.replace(INGRESS_TIMING, **broken).problems()
    assert any(field in p for p in problems), problems


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"health_check_interval": 4, "health_check_timeout": 2}, "health_check_interval"),
        ({"healthy_threshold": 11}, "healthy_threshold"),
        ({"deregistration_delay": 3601}, "deregistration_delay"),
        ({"shutdown_grace": 5.5, "deregistration_delay": 166}, "whole seconds"),
    ],
)
def test_what_aws_would_refuse_is_named(broken: dict[str, float], field: str) -> None:
    timing = dataclasses.replace(INGRESS_TIMING, **broken)
    assert timing.problems() == []
    assert any(field in p for p in timing.aws_problems()), timing.aws_problems()


def test_whole_seconds_refuses_a_fraction_instead_of_rounding() -> None:
    assert whole_seconds(130.0, "pre_stop") == 130
    with pytest.raises(ValueError, match=r"pre_stop is 2\.5 s"):
        whole_seconds(2.5, "pre_stop")


@pytest.mark.parametrize("timing", PROFILES)
def test_both_profiles_are_sound_for_envoy(timing: IngressTiming) -> None:
    assert timing.envoy_problems() == []


@pytest.mark.parametrize("timing", PROFILES)
def test_envoy_keeps_serving_until_the_nlb_has_stopped_sending(timing: IngressTiming) -> None:
    # Envoy exits at the first idle moment after minDrainDuration: not before the NLB's last new connection.
    assert timing.envoy_min_drain >= timing.controller_reaction + timing.deregistration_propagation


@pytest.mark.parametrize("timing", PROFILES)
def test_envoy_finishes_before_the_nlb_cuts(timing: IngressTiming) -> None:
    # A request on the NLB's last new connection has `drain` to finish; the NLB's reset comes after drainTimeout.
    assert timing.envoy_drain_timeout >= timing.envoy_min_drain + timing.drain
    assert timing.deregistration_delay >= timing.envoy_drain_timeout
    assert timing.envoy_termination_grace > timing.envoy_drain_timeout


def test_the_envoy_arithmetic_of_the_comments() -> None:
    assert INGRESS_TIMING.envoy_min_drain == 10 + 120
    assert INGRESS_TIMING.envoy_drain_timeout == 165 == INGRESS_TIMING.deregistration_delay
    assert INGRESS_TIMING.envoy_termination_grace == 165 + 300


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"envoy_min_drain": 100}, "envoy_min_drain"),
        ({"envoy_drain_timeout": 150}, "envoy_drain_timeout"),
        ({"envoy_drain_timeout": 170, "deregistration_delay": 168}, "envoy_drain_timeout"),
    ],
)
def test_a_broken_envoy_relation_is_named(broken: dict[str, float], field: str) -> None:
    timing = dataclasses.replace(INGRESS_TIMING, **broken)
    assert any(field in p for p in timing.envoy_problems())
    assert timing.problems() == []  # nginx's own sequence is unaffected
