"""Canary analysis: counts from the app's real /metrics text, step verdicts, and the step loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask.testing import FlaskClient

from app.contract.analysis import (
    MetricsError,
    RequestCounts,
    Snapshot,
    Verdict,
    analysis_requests_needed,
    failure_budget,
    judge,
    parse_requests,
    run_canary,
    snapshot,
)
from app.contract.canary import CanaryPolicy
from app.version import BuildInfo
from app.web import create_app

POLICY = CanaryPolicy(
    strategy="canary", steps=(10, 50, 100), step_seconds=10, step_timeout_seconds=60, min_requests=100
)


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    app = create_app({"TESTING": True, "BUILD_INFO": BuildInfo(version="v2", commit="abc")})
    with app.test_client() as test_client:
        yield test_client


def metrics_text(client: FlaskClient) -> str:
    return client.get("/metrics").get_data(as_text=True)


def exposition(samples: dict[tuple[str, str], float], scheme: str = "http") -> str:
    """Prometheus text as app/metrics.py writes it: the request-duration histogram's count per series."""
    name = "http_server_request_duration_seconds"
    lines = [f"# HELP {name} Duration of HTTP server requests.", f"# TYPE {name} histogram"]
    for (route, status), value in samples.items():
        labels = (
            f'http_request_method="GET",http_response_status_code="{status}",http_route="{route}",url_scheme="{scheme}"'
        )
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {value}')
        lines.append(f"{name}_count{{{labels}}} {value}")
        lines.append(f"{name}_sum{{{labels}}} {value / 100}")
    return "\n".join(lines) + "\n"


# --- counting ---------------------------------------------------------------------------------


def test_counts_come_from_the_apps_own_metrics_and_leave_probes_out(client: FlaskClient) -> None:
    before = snapshot({"pod": metrics_text(client)})
    for _ in range(7):
        assert client.get("/version").status_code == 200
    for _ in range(3):
        assert client.get("/no-such-page").status_code == 404
    for _ in range(5):
        client.get("/healthz")
        client.get("/readyz")
    counts = snapshot({"pod": metrics_text(client)}).since(before)
    # /metrics itself, /healthz and /readyz are not user traffic; a 404 is the client's fault.
    assert counts.by_status == {"200": 7, "404": 3}
    assert counts.total == 10
    assert counts.failed == 0


def test_server_errors_count_as_failed() -> None:
    counts = RequestCounts({"200": 95, "404": 2, "500": 2, "503": 1})
    assert counts.total == 100
    assert counts.failed == 3
    assert counts.error_rate == pytest.approx(0.03)
    assert RequestCounts().error_rate == 0.0
    assert (counts + RequestCounts({"500": 1})).failed == 4


def test_snapshots_sum_pods_and_survive_restarts_and_new_pods() -> None:
    before = Snapshot(
        {
            "a": parse_requests(exposition({("/", "200"): 100, ("/", "500"): 4})),
            "b": parse_requests(exposition({("/", "200"): 50})),
        }
    )
    after = Snapshot(
        {
            "a": parse_requests(exposition({("/", "200"): 130, ("/", "500"): 6})),
            # b restarted: its counters began again from zero, so all 20 are new.
            "b": parse_requests(exposition({("/", "200"): 20})),
            # c started during the window.
            "c": parse_requests(exposition({("/version", "200"): 5, ("/healthz", "200"): 9})),
        }
    )
    counts = after.since(before)
    assert counts.by_status == {"200": 55, "500": 2}


def test_series_that_differ_only_in_labels_the_analysis_ignores_add_up() -> None:
    text = exposition({("/", "200"): 7, ("/", "503"): 1}) + exposition({("/", "200"): 3}, scheme="https")
    assert parse_requests(text) == {("/", "GET", "200"): 10.0, ("/", "GET", "503"): 1.0}


def test_garbage_metrics_are_reported_not_crashed_on() -> None:
    with pytest.raises(MetricsError, match="not Prometheus text"):
        parse_requests('http_server_request_duration_seconds_count{http_route="/" 1 2 3\n')


# --- the verdict of one step ------------------------------------------------------------------


def test_a_failed_smoke_check_aborts_at_once() -> None:
    decision = judge(POLICY, 10, RequestCounts({"200": 500}), 30.0, ["/version answered v1, expected v2"])
    assert decision.verdict is Verdict.ABORT
    assert decision.reasons == ("smoke check: /version answered v1, expected v2",)


def test_too_many_failures_abort_before_the_minimum_is_reached() -> None:
    assert failure_budget(POLICY, 40) == 1  # 1 % of min_requests 100
    assert judge(POLICY, 10, RequestCounts({"200": 38, "500": 1}), 1.0).verdict is Verdict.WAIT
    decision = judge(POLICY, 10, RequestCounts({"200": 38, "500": 2}), 1.0)
    assert decision.verdict is Verdict.ABORT
    assert "2 of 40 canary requests failed" in decision.reasons[0]


def test_an_error_rate_above_the_limit_aborts_and_at_the_limit_passes() -> None:
    assert judge(POLICY, 10, RequestCounts({"200": 990, "500": 10}), 20.0).verdict is Verdict.CONTINUE
    assert judge(POLICY, 10, RequestCounts({"200": 989, "500": 11}), 20.0).verdict is Verdict.ABORT


def test_a_quiet_step_asks_for_analysis_traffic_and_never_passes_vacuously() -> None:
    quiet = RequestCounts({"200": 5})
    decision = judge(POLICY, 10, quiet, 5.0)
    assert decision.verdict is Verdict.WAIT
    # 5 requests in 5 s project to 10 by the end of the 10 s step: 90 short.
    assert decision.analysis_requests == 90
    assert analysis_requests_needed(POLICY, RequestCounts(), 0.0) == 0  # nothing to project from yet
    assert analysis_requests_needed(POLICY, RequestCounts(), 1.0) == 100
    # Past the observation time the projection is what was seen.
    assert analysis_requests_needed(POLICY, RequestCounts({"200": 30}), 20.0) == 70
    assert analysis_requests_needed(POLICY, RequestCounts({"200": 60}), 5.0) == 0
    # Without analysis traffic the step waits, then aborts at its timeout instead of stalling.
    silent = CanaryPolicy(strategy="canary", analysis_traffic=False, step_seconds=10, step_timeout_seconds=60)
    assert judge(silent, 10, quiet, 59.0).analysis_requests == 0
    timed_out = judge(silent, 10, quiet, 60.0)
    assert timed_out.verdict is Verdict.ABORT
    assert "cannot be judged" in timed_out.reasons[0]


def test_a_healthy_step_waits_out_its_observation_then_continues_or_promotes() -> None:
    healthy = RequestCounts({"200": 400})
    assert judge(POLICY, 10, healthy, 9.9).verdict is Verdict.WAIT
    assert judge(POLICY, 10, healthy, 10.0).verdict is Verdict.CONTINUE
    assert judge(POLICY, 50, healthy, 10.0).verdict is Verdict.CONTINUE
    promote = judge(POLICY, 100, healthy, 10.0)
    assert promote.verdict is Verdict.PROMOTE
    assert "the last step" in promote.reasons[0]


# --- the step loop ----------------------------------------------------------------------------


@dataclass
class ScriptedCanary:
    """A canary whose pods answer `per_second` requests a second, `failing` of every 100 with 500."""

    per_second: int = 50
    failing: int = 0
    smoke_problems: list[str] = field(default_factory=list)
    never_ready_at: int | None = None
    now: float = 0.0
    weights: list[int] = field(default_factory=list)
    analysis_sent: int = 0
    events: list[str] = field(default_factory=list)
    served: float = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.served += self.per_second * seconds

    def set_weight(self, weight: int) -> None:
        if weight == self.never_ready_at:
            raise TimeoutError(f"canary pods not ready at weight {weight}")
        self.weights.append(weight)

    def canary_metrics(self) -> dict[str, str]:
        total = self.served + self.analysis_sent
        failed = int(total * self.failing / 100)
        return {"pod-1": exposition({("/", "200"): total - failed, ("/", "500"): failed})}

    def smoke(self) -> list[str]:
        return list(self.smoke_problems)

    def send_analysis_traffic(self, requests: int) -> None:
        self.analysis_sent += requests
        self.now += 1.0

    def promote(self) -> None:
        self.events.append("promote")

    def abort(self) -> None:
        self.events.append("abort")


def run(target: ScriptedCanary, policy: CanaryPolicy = POLICY) -> tuple[bool, list[tuple[int, Verdict]]]:
    seen: list[tuple[int, Verdict]] = []
    outcome = run_canary(
        policy,
        target,
        progress=lambda weight, decision: seen.append((weight, decision.verdict)),
        clock=target.clock,
        sleep=target.sleep,
    )
    assert outcome.summary.startswith("canary promoted" if outcome.promoted else "canary aborted")
    return outcome.promoted, seen


def test_a_healthy_canary_walks_every_step_and_is_promoted() -> None:
    target = ScriptedCanary(per_second=50)
    promoted, seen = run(target)
    assert promoted
    assert target.weights == [10, 50, 100]
    assert target.events == ["promote"]
    assert [s for s in seen if s[1] is not Verdict.WAIT] == [
        (10, Verdict.CONTINUE),
        (50, Verdict.CONTINUE),
        (100, Verdict.PROMOTE),
    ]
    assert target.analysis_sent == 0


def test_a_failing_canary_is_aborted_at_the_first_step() -> None:
    target = ScriptedCanary(per_second=50, failing=20)
    promoted, seen = run(target)
    assert not promoted
    assert target.weights == [10]
    assert target.events == ["abort"]
    assert seen[-1] == (10, Verdict.ABORT)


def test_a_silent_environment_gets_analysis_traffic_and_still_finishes() -> None:
    target = ScriptedCanary(per_second=0)
    promoted, _ = run(target)
    assert promoted
    assert target.analysis_sent >= 3 * POLICY.min_requests


def test_smoke_problems_or_a_canary_that_never_gets_ready_abort_the_release() -> None:
    smoky = ScriptedCanary(smoke_problems=["page shows v1"])
    assert run(smoky)[0] is False
    assert smoky.events == ["abort"]

    stuck = ScriptedCanary(never_ready_at=50)
    promoted, seen = run(stuck)
    assert not promoted
    assert stuck.weights == [10]
    assert stuck.events == ["abort"]
    assert seen[-1] == (50, Verdict.ABORT)


def test_an_operator_can_promote_or_abort_before_the_analysis_decides() -> None:
    for wanted, event in ((Verdict.PROMOTE, "promote"), (Verdict.ABORT, "abort")):
        target = ScriptedCanary(per_second=50)
        outcome = run_canary(
            POLICY, target, clock=target.clock, sleep=target.sleep, override=lambda wanted=wanted: wanted
        )
        assert target.weights == [10]
        assert target.events == [event]
        assert outcome.promoted is (wanted is Verdict.PROMOTE)
        assert outcome.reasons == (f"{event} requested by the operator",)


def test_an_outcome_reads_as_json_for_scripts() -> None:
    target = ScriptedCanary(per_second=50, failing=20)
    data = run_canary(POLICY, target, clock=target.clock, sleep=target.sleep).to_dict()
    assert data["ok"] is False
    assert str(data["message"]).startswith("canary aborted at 10 %")
    assert data["steps"] == [{"weight": 10, "verdict": "abort", "requests": 50, "failed": 10, "seconds": 1.0}]
