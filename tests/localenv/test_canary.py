"""Canary releases proven locally under load: real nginx splitting by weight and header, real gunicorn pods.

Each test brings 2 replicas of v1 up, puts live traffic on the ingress (keep-alive and fresh
connections, no client retries) and runs a canary through the local policy's steps (10 → 50 → 100 %).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.contract.analysis import Decision, Verdict
from app.contract.canary import LOCAL_CANARY
from app.contract.routers import ROUTERS
from harness.local_environment import assert_clear_error, plan, processes_under, run
from localenv import LocalEnvironment
from localenv.canary import LocalCanary, release_canary
from localenv.environment import EnvironmentStatus
from localenv.images import FAULTY_IMAGE
from localenv.traffic import ResponseRecord, Traffic, TrafficReport

pytestmark = pytest.mark.process

SHARE_TOLERANCE = 5.0  # percentage points
MIN_RESPONSES_PER_STEP = 300  # below this, ±5 points would be luck rather than measurement


@dataclass
class Timeline:
    """When the ingress's canary weight changed, on the traffic's clock; and every analysis decision."""

    traffic: Traffic
    routes: list[tuple[int, float]] = field(default_factory=list)
    decisions: list[tuple[int, Decision]] = field(default_factory=list)
    canary_addresses: set[str] = field(default_factory=set)
    env: LocalEnvironment | None = None

    def on_route(self, weight: int) -> None:
        self.routes.append((weight, self.traffic.now()))
        if self.env is not None and weight > 0:
            self.canary_addresses |= {p.address for p in self.env.canary_controller().status().pods if p.address}

    def windows(self, end: float) -> list[tuple[int, float, float]]:
        """(weight, start, end) for each weight the ingress held."""
        bounds = [*self.routes, (-1, end)]
        return [(w, start, stop) for (w, start), (_, stop) in itertools.pairwise(bounds)]


def share(responses: list[ResponseRecord], version: str) -> float:
    served = [r for r in responses if r.version is not None]
    return 100.0 * sum(r.version == version for r in served) / len(served)


def within(report: TrafficReport, start: float, end: float) -> list[ResponseRecord]:
    return [r for r in report.responses if start <= r.t < end]


@pytest.mark.parametrize("env", ROUTERS, indirect=True)
def test_weights_hold_at_every_step_marked_requests_reach_the_canary_and_promotion_drops_nothing(
    env: LocalEnvironment,
) -> None:
    env.up("v1", replicas=2)
    users = Traffic(plan(env)).start()
    testers = Traffic(
        plan(env, keepalive_clients=1, fresh_clients=0, requests_per_second=40.0, headers=LOCAL_CANARY.headers)
    )
    testers.start()
    timeline = Timeline(users)
    try:
        time.sleep(0.5)
        outcome = release_canary(
            env, "v2", on_route=timeline.on_route, progress=lambda w, d: timeline.decisions.append((w, d))
        )
        time.sleep(0.5)
    finally:
        user_report, tester_report = users.stop(), testers.stop()

    assert outcome.promoted, outcome.summary
    assert [w for w, _ in timeline.routes] == [*LOCAL_CANARY.steps, 0]
    print(f"\n{outcome.summary}; {user_report.total} user requests, {user_report.failed} failed")
    for weight, start, end in timeline.windows(user_report.duration)[:-1]:
        responses = within(user_report, start, end)
        measured = share(responses, "v2")
        print(f"  weight {weight:>3} %: {len(responses)} responses, v2 share {measured:.1f} %")
        assert len(responses) >= MIN_RESPONSES_PER_STEP, f"too few responses at {weight} % to measure a share"
        assert abs(measured - weight) <= SHARE_TOLERANCE, f"weight {weight} %, measured {measured:.1f} %"

    # While the canary ran, every request marked X-Canary: always reached it, whatever the weight.
    canary_start, canary_end = timeline.routes[0][1], timeline.routes[-1][1]
    offset = tester_report.started_monotonic - user_report.started_monotonic  # testers' clock → users' clock
    marked = [r for r in tester_report.responses if canary_start <= r.t + offset < canary_end]
    assert len(marked) >= 50
    assert {r.version for r in marked} == {"v2"}
    print(f"  marked requests during the canary: {len(marked)}, all v2")

    # Promotion: 0 failed requests for users and testers, and only the new version at the end.
    assert user_report.failed == 0, user_report.by_status
    assert tester_report.failed == 0, tester_report.by_status
    status = env.status()
    assert status.version == "v2"
    assert {p.version for p in status.pods} == {"v2"}
    final = Traffic(plan(env, max_requests=300, max_seconds=10.0)).start()
    final.wait(timeout=15.0)
    after = final.stop()
    assert after.failed == 0
    assert set(after.by_version) == {"v2"}


@pytest.mark.parametrize("env", ROUTERS, indirect=True)
def test_a_faulty_build_is_aborted_and_its_failures_stay_on_canary_traffic(env: LocalEnvironment) -> None:
    env.up("v1", replicas=2)
    users = Traffic(plan(env)).start()
    timeline = Timeline(users, env=env)
    try:
        time.sleep(0.5)
        outcome = release_canary(
            env,
            "v2",
            image_repository=FAULTY_IMAGE,
            on_route=timeline.on_route,
            progress=lambda w, d: timeline.decisions.append((w, d)),
        )
        time.sleep(0.5)
    finally:
        report = users.stop()

    assert not outcome.promoted
    assert timeline.decisions[-1][1].verdict is Verdict.ABORT
    assert [w for w, _ in timeline.routes] == [10, 0]
    canary_start, canary_end = timeline.routes[0][1], timeline.routes[-1][1]
    failed = [r for r in report.responses if not r.ok]
    window = within(report, canary_start, canary_end)
    print(
        f"\n{outcome.summary}\n  {report.total} user requests, {len(failed)} failed, all within the "
        f"{canary_end - canary_start:.2f} s the canary had 10 % ({len(window)} requests then)"
    )
    # Counted: the bad build did hurt some users, and the report says how many.
    assert failed, "the faulty build failed no request: the test proves nothing"
    # Limited: only while the canary had weight (a request sent before the weight dropped to 0 may
    # finish just after), only 5xx answers from the canary's own pods, and at most its share of traffic.
    # (A mark is taken just after nginx has the new route: a request sent in that moment before the 10 %
    # mark may already have reached the canary — on a busy machine the moment can last a while.)
    assert all(canary_start - 1.0 <= r.t < canary_end for r in failed)
    assert {r.status for r in failed} == {500}
    assert len(failed) <= 0.1 * len(window) + 5
    access_log = [json.loads(line) for log in env.ingress_access_logs() for line in log.read_text().splitlines()]
    failed_upstreams = {entry["upstream_addr"] for entry in access_log if str(entry["status"]).startswith("5")}
    assert failed_upstreams and failed_upstreams <= timeline.canary_addresses
    # Afterwards only the stable version runs and serves, without failures.
    status = env.status()
    assert {p.version for p in status.pods} == {"v1"}
    assert all(not p.name.startswith("example-app-canary") for p in status.pods)
    assert not [r for r in report.responses if r.t >= canary_end + 0.5 and not r.ok]


def test_the_cli_aborts_a_bad_build_in_a_quiet_environment_on_analysis_traffic_alone(tmp_path: Path) -> None:
    """No user sends a request: the analysis sends its own, so a bad build is caught, not waved through.

    Through `--router gateway-api`: the in-process tests above run both routers; this one proves the option.
    """
    state = tmp_path / "s"
    try:
        # --no-monitoring: the analysis reads the pods here (the Prometheus analysis is test_monitoring_proof.py's).
        options = ("--port", "0", "--replicas", "2", "--version", "v1", "--router", "gateway-api", "--no-monitoring")
        up = run(state, "up", *options)
        assert up.returncode == 0, up.stdout + up.stderr
        assert_clear_error(run(state, "abort"), "no canary is running", "--strategy canary")
        assert_clear_error(run(state, "deploy", "--version", "latest", "--strategy", "canary"), "latest")
        released = run(state, "deploy", "--version", "v2", "--strategy", "canary", "--image", FAULTY_IMAGE, "--json")
        assert released.returncode == 1, released.stdout + released.stderr
        outcome = json.loads(released.stdout)["rollout"]
        assert outcome["promoted"] is False
        assert [(s["weight"], s["verdict"]) for s in outcome["steps"]] == [(10, "abort")]
        # The smoke checks pass (their three /version requests come before the bug's fourth); the
        # failed requests the analysis sent itself, with nobody else around, are what stops it.
        print(f"\n{outcome['message']}; step: {outcome['steps'][0]}")
        assert outcome["steps"][0]["failed"] >= 2
        assert "canary requests failed" in outcome["message"]
        status = EnvironmentStatus.from_json(json.loads(run(state, "status", "--json").stdout))
        assert {(p.name.startswith("example-app-canary"), p.version) for p in status.pods} == {(False, "v1")}
    finally:
        run(state, "down")
    assert processes_under(state) == []


@pytest.mark.parametrize("env", ROUTERS, indirect=True)
def test_only_the_exact_header_value_reaches_a_canary_at_weight_zero_and_none_after_removal(
    env: LocalEnvironment,
) -> None:
    env.up("v1", replicas=2)
    # Every ingress replica runs with the tuning read from the router's objects (Envoy's request timeout bounds
    # all attempts of a gateway-api request; ingress-nginx's ConfigMap has its own bound).
    bound = f"proxy_next_upstream_timeout {env.route.tuning.proxy_next_upstream_timeout}s;"
    confs = list((env.state_dir / "ingress").glob("*/nginx.conf"))
    assert confs and all(bound in conf.read_text() for conf in confs)
    canary = LocalCanary(env, "v2")
    canary.set_weight(0)  # pods up, no share of traffic: only marked requests reach it

    def versions(headers: dict[str, str]) -> set[str | None]:
        probe = Traffic(plan(env, keepalive_clients=1, fresh_clients=1, max_requests=150, headers=headers)).start()
        probe.wait(timeout=30.0)
        report = probe.stop()
        assert report.total == 150 and report.failed == 0
        return set(report.by_version)

    assert versions({}) == {"v1"}
    assert versions(LOCAL_CANARY.headers) == {"v2"}
    assert versions({LOCAL_CANARY.header: "sometimes"}) == {"v1"}  # any other value: by weight (0 %)
    canary.abort()
    assert versions(LOCAL_CANARY.headers) == {"v1"}
    assert all(not p.name.startswith("example-app-canary") for p in env.status().pods)
