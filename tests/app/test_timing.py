"""The budgets we ship pass Timing.problems, and it refuses each broken relation by name.

The relations themselves are stated once, in Timing.problems; these tests check what it decides, and
tests/contract checks what the rendered pod carries. Nothing here restates a definition.
"""

from __future__ import annotations

import dataclasses

import pytest
from gunicorn.workers import gthread

from app.timing import GUNICORN_STOP_KEEPALIVE_LINGER_S, LOCAL_TIMING, Timing

BUDGETS = [pytest.param(Timing(), id="eks"), pytest.param(LOCAL_TIMING, id="local")]


@pytest.mark.parametrize("timing", BUDGETS)
def test_budget_is_sound(timing: Timing) -> None:
    assert timing.problems() == []


def test_local_budget_keeps_the_relations_at_a_human_scale() -> None:
    assert LOCAL_TIMING.termination_grace < Timing().termination_grace
    assert LOCAL_TIMING.progress_deadline < Timing().progress_deadline


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"endpoint_propagation": -1.0}, "timing.endpoint_propagation"),
        ({"pre_stop": 5}, "timing.pre_stop"),  # equal to propagation is not enough
        ({"pre_stop": 3}, "timing.pre_stop"),
        ({"graceful_timeout": 0}, "timing.graceful_timeout"),
        ({"graceful_timeout": 2}, "timing.graceful_timeout"),  # not above gunicorn's 2 s keep-alive linger
        ({"shutdown_margin": 0}, "timing.shutdown_margin"),
        ({"keepalive": 60}, "timing.keepalive"),
        ({"keepalive": 2}, "timing.keepalive"),
        ({"worker_timeout": 20}, "timing.worker_timeout"),
        ({"readiness_period": 0}, "timing.readiness_period"),
        ({"readiness_failure_threshold": 0}, "timing.readiness_failure_threshold"),
        ({"liveness_period": 0}, "timing.liveness_period"),
        ({"liveness_failure_threshold": 0}, "timing.liveness_failure_threshold"),
        ({"probe_timeout": 0}, "timing.probe_timeout"),
        ({"probe_timeout": 10}, "timing.probe_timeout must be shorter"),
        ({"startup_period": 0}, "timing.startup_period"),
        ({"startup_failure_threshold": 0}, "timing.startup_failure_threshold"),
        ({"min_ready": -1}, "timing.min_ready"),
        ({"progress_deadline": 35}, "timing.progress_deadline"),
    ],
)
def test_each_broken_relation_is_reported_naming_its_field(broken: dict[str, float], field: str) -> None:
    problems = dataclasses.replace(Timing(), **broken).problems()
    assert any(p.startswith(field) for p in problems), problems


@pytest.mark.parametrize(
    "edge",
    [
        {"pre_stop": 6},  # one second past propagation
        {"keepalive": 61},  # one second past the ingress's keep-alive
        {"worker_timeout": 21},
        {"probe_timeout": 9},
        {"progress_deadline": 36},  # one second past minReady 5 + startup budget 30
        {"shutdown_margin": 1, "min_ready": 0, "endpoint_propagation": 0.0},
    ],
)
def test_a_budget_just_inside_every_relation_is_accepted(edge: dict[str, float]) -> None:
    assert dataclasses.replace(Timing(), **edge).problems() == []


def test_every_broken_relation_is_reported_at_once() -> None:
    problems = Timing(pre_stop=1, keepalive=30, shutdown_margin=0, graceful_timeout=40).problems()
    named = {p.split()[0] for p in problems}
    assert named == {"timing.pre_stop", "timing.keepalive", "timing.shutdown_margin", "timing.worker_timeout"}


def test_rollout_floor_is_waves_of_ready_plus_min_ready_then_one_drain() -> None:
    timing = Timing()
    # 3 replicas, surge 1: three waves of (2 s to ready + 5 s minReady), then one drain: the 10 s preStop
    # and gunicorn's 2 s keep-alive linger.
    assert timing.rollout_floor(replicas=3, surge=1, time_to_ready=2.0) == 3 * (2 + 5) + 12
    # 10 replicas, surge 4: ⌈10 / 4⌉ = 3 waves.
    assert timing.rollout_floor(replicas=10, surge=4, time_to_ready=1.0) == 3 * (1 + 5) + 12
    assert timing.startup_budget == 30
    assert timing.drain_seconds() == 12.0


def test_the_keep_alive_linger_is_the_installed_gunicorns() -> None:
    # The floor counts gunicorn's own wait; an upgrade that changes it must change the constant too.
    assert gthread.STOP_KEEPALIVE_LINGER == GUNICORN_STOP_KEEPALIVE_LINGER_S
