"""Canary analysis: count the canary's requests from its /metrics, decide each step, and run the steps.

The app counts every answer in `http_server_request_duration_seconds_count{http_route,
http_request_method,http_response_status_code}` (app/metrics.py, names from app/slo.py). Counters
only grow, so a step's traffic is the difference between a snapshot taken when the step starts and
one taken now, per pod (a pod that restarted starts again from zero). Probe and scrape routes are not
user traffic: a canary that only answers its kubelet must not pass.

`judge` is pure: counts, elapsed time and smoke problems in, a verdict with reasons out.
`run_canary` walks a policy's steps against any `CanaryTarget` (the EKS driver in
infra/canary_driver.py, the local environment) with the clock injected, so the same loop is tested
here and drives both targets.

    before = snapshot({"pod-a": text_then})
    counts = snapshot({"pod-a": text_now}).since(before)
    judge(policy, weight=10, counts=counts, elapsed=61.0).verdict  # Verdict.CONTINUE
"""

from __future__ import annotations

import enum
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.parser import text_string_to_metric_families

from app.contract.canary import CanaryPolicy
from app.slo import METHOD_LABEL, NON_USER_ROUTES, REQUEST_COUNT, ROUTE_LABEL, STATUS_LABEL

FAILED_STATUS_FROM = 500

Series = tuple[str, str, str]
"""(route, method, status) of one request-count series (other labels summed over)."""


class MetricsError(ValueError):
    """A /metrics answer that is not Prometheus text."""


def parse_requests(text: str) -> dict[Series, float]:
    """User requests per (route, method, status) from one pod's /metrics text; probes and scrapes left out."""
    series: dict[Series, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name != REQUEST_COUNT:
                    continue
                route = sample.labels.get(ROUTE_LABEL, "")
                if route in NON_USER_ROUTES:
                    continue
                key = (route, sample.labels.get(METHOD_LABEL, ""), sample.labels.get(STATUS_LABEL, ""))
                series[key] = series.get(key, 0.0) + float(sample.value)
    except ValueError as error:
        raise MetricsError(f"the canary's /metrics is not Prometheus text ({error})") from None
    return series


@dataclass(frozen=True)
class RequestCounts:
    """Requests answered, by HTTP status; `failed` are the 5xx answers."""

    by_status: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every counted request."""
        return sum(self.by_status.values())

    @property
    def failed(self) -> int:
        """Requests answered with a server error (5xx): the canary's fault, not the client's."""
        return sum(n for status, n in self.by_status.items() if status.isdigit() and int(status) >= FAILED_STATUS_FROM)

    @property
    def error_rate(self) -> float:
        """failed / total, 0 when nothing was counted."""
        return self.failed / self.total if self.total else 0.0

    def __add__(self, other: RequestCounts) -> RequestCounts:
        merged: Counter[str] = Counter(self.by_status)
        merged.update(other.by_status)
        return RequestCounts(dict(merged))


@dataclass(frozen=True)
class Snapshot:
    """Counter values of every canary pod at one moment, keyed by pod."""

    pods: Mapping[str, Mapping[Series, float]]

    def since(self, before: Snapshot) -> RequestCounts:
        """Requests answered between `before` and this snapshot, summed over pods.

        A series that went down belongs to a process that restarted: its whole current value is new.
        A pod missing from `before` started during the window and counts from zero.
        """
        by_status: Counter[str] = Counter()
        for pod, series in self.pods.items():
            earlier = before.pods.get(pod, {})
            for key, value in series.items():
                previous = earlier.get(key, 0.0)
                grown = value - previous if value >= previous else value
                by_status[key[2]] += round(grown)
        return RequestCounts({status: n for status, n in by_status.items() if n})


def snapshot(texts: Mapping[str, str]) -> Snapshot:
    """Parse each pod's /metrics text into one snapshot."""
    return Snapshot({pod: parse_requests(text) for pod, text in texts.items()})


class Verdict(enum.Enum):
    """What a canary step's analysis concludes."""

    WAIT = "wait"
    """Not enough evidence yet: keep observing (and send analysis traffic if it is too quiet)."""
    CONTINUE = "continue"
    """This step passed: raise the weight to the next step."""
    PROMOTE = "promote"
    """The last step passed: roll the stable Deployment to the canary's version, then remove the canary."""
    ABORT = "abort"
    """The canary failed or could not be judged: weight 0, remove it; the stable version keeps serving."""


@dataclass(frozen=True)
class Decision:
    """A verdict, the reasons a person reads, and the evidence behind it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    counts: RequestCounts
    elapsed: float
    analysis_requests: int = 0
    """Marked requests the analysis should send now because users alone will not reach min_requests."""


def failure_budget(policy: CanaryPolicy, requests: int) -> int:
    """Most failed requests a step tolerates among `requests` (never judged below min_requests)."""
    return math.floor(policy.max_error_rate * max(requests, policy.min_requests) + 1e-9)


def analysis_requests_needed(policy: CanaryPolicy, counts: RequestCounts, elapsed: float) -> int:
    """Marked requests to send now so the step reaches min_requests by the end of its observation time.

    Users' canary traffic so far is projected to the end of `step_seconds`; only the shortfall is
    generated, so a busy environment gets no extra load and a silent one does not wait for ever.
    """
    # At the step's first look nothing can be projected yet: users get one poll before we add load.
    if not policy.analysis_traffic or counts.total >= policy.min_requests or elapsed <= 0:
        return 0
    projected = counts.total * max(policy.step_seconds, elapsed) / elapsed
    return max(0, policy.min_requests - math.floor(projected))


def judge(
    policy: CanaryPolicy,
    weight: int,
    counts: RequestCounts,
    elapsed: float,
    smoke_problems: tuple[str, ...] | list[str] = (),
) -> Decision:
    """Decide a canary step from its counts, its age in seconds and the smoke checks' problems."""
    share = f"{counts.failed} of {counts.total} canary requests failed ({counts.error_rate:.1%})"
    limit = f"limit {policy.max_error_rate:.1%} over ≥ {policy.min_requests} requests"

    def decision(verdict: Verdict, *reasons: str, analysis: int = 0) -> Decision:
        return Decision(verdict, tuple(reasons), counts, elapsed, analysis)

    if smoke_problems:
        return decision(Verdict.ABORT, *(f"smoke check: {p}" for p in smoke_problems))
    if counts.failed > failure_budget(policy, counts.total):
        # Past the budget even if every further request succeeded up to min_requests: stop now,
        # which bounds the failed requests users see to the budget plus one poll's worth.
        return decision(Verdict.ABORT, f"{share}; {limit}")
    if counts.total < policy.min_requests:
        if elapsed >= policy.step_timeout_seconds:
            return decision(
                Verdict.ABORT,
                f"only {counts.total} of {policy.min_requests} canary requests in {elapsed:.0f} s "
                f"(step timeout {policy.step_timeout_seconds:g} s): the step cannot be judged; "
                "enable release.analysis_traffic or lower release.min_requests",
            )
        return decision(
            Verdict.WAIT,
            f"{counts.total} of {policy.min_requests} canary requests so far",
            analysis=analysis_requests_needed(policy, counts, elapsed),
        )
    if elapsed < policy.step_seconds:
        return decision(Verdict.WAIT, f"{share}; observing {elapsed:.0f} of {policy.step_seconds:g} s")
    if policy.next_weight(weight) is None:
        return decision(Verdict.PROMOTE, f"{share} at weight {weight} %, the last step; {limit}")
    return decision(Verdict.CONTINUE, f"{share} at weight {weight} %; {limit}")


class CanaryTarget(Protocol):
    """Where a canary runs: the EKS stack (through `pulumi up`) or the local environment."""

    def set_weight(self, weight: int) -> None:
        """Run the canary at `weight` percent; return once its pods are ready and the ingress splits."""

    def canary_metrics(self) -> dict[str, str]:
        """Each canary pod's /metrics text, keyed by something that names the pod."""

    def smoke(self) -> list[str]:
        """Problems the smoke checks found on the canary (reached by header); empty when it passed."""

    def send_analysis_traffic(self, requests: int) -> None:
        """Send `requests` requests marked with the canary header, paced at the policy's analysis_rate."""

    def promote(self) -> None:
        """Roll the stable Deployment to the canary's version (surge rollout), then remove the canary."""

    def abort(self) -> None:
        """Set the canary's weight to 0 and remove it; the stable version serves everything."""


@dataclass(frozen=True)
class CanaryOutcome:
    """How a canary release ended: promoted or aborted, with the decision of every step."""

    promoted: bool
    decisions: tuple[tuple[int, Decision], ...]
    """(weight, final decision) per step that ran."""
    reasons: tuple[str, ...]

    @property
    def summary(self) -> str:
        """One line a person reads at the end of a release."""
        steps = " → ".join(f"{weight} %" for weight, _ in self.decisions) or "no step"
        if self.promoted:
            return f"canary promoted after {steps}"
        return f"canary aborted at {steps}: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: the verdict, the summary line and each step's final counts."""
        return {
            "ok": self.promoted,
            "promoted": self.promoted,
            "message": self.summary,
            "reasons": list(self.reasons),
            "steps": [
                {
                    "weight": weight,
                    "verdict": decision.verdict.value,
                    "requests": decision.counts.total,
                    "failed": decision.counts.failed,
                    "seconds": round(decision.elapsed, 2),
                }
                for weight, decision in self.decisions
            ],
        }


Progress = Callable[[int, Decision], None]
Override = Callable[[], Verdict | None]
"""An operator's decision that ends the analysis early: PROMOTE or ABORT (None: let the analysis decide)."""


def run_canary(
    policy: CanaryPolicy,
    target: CanaryTarget,
    *,
    progress: Progress | None = None,
    poll_seconds: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    override: Override | None = None,
) -> CanaryOutcome:
    """Walk the policy's steps on `target`: analyse each, continue, promote after the last, or abort.

    Any error from the target while the canary runs (it never became ready, its metrics are
    unreadable) aborts the release: the canary is removed and the stable version keeps serving.
    `override` is asked at every look: an operator's `promote` or `abort` wins over the analysis.
    """
    decisions: list[tuple[int, Decision]] = []
    for weight in policy.steps:
        try:
            decision = _run_step(
                policy,
                target,
                weight,
                progress=progress,
                poll_seconds=poll_seconds,
                clock=clock,
                sleep=sleep,
                override=override,
            )
        except Exception as error:
            decision = Decision(Verdict.ABORT, (f"{type(error).__name__}: {error}",), RequestCounts(), 0.0)
            if progress is not None:
                progress(weight, decision)
        decisions.append((weight, decision))
        if decision.verdict is Verdict.ABORT:
            target.abort()
            return CanaryOutcome(False, tuple(decisions), decision.reasons)
        if decision.verdict is Verdict.PROMOTE:
            target.promote()
            return CanaryOutcome(True, tuple(decisions), decision.reasons)
    # Steps that end below 100 % finish with CONTINUE on the last one; judge() promotes instead.
    raise AssertionError("the last step always ends in promote or abort")  # pragma: no cover


def _run_step(
    policy: CanaryPolicy,
    target: CanaryTarget,
    weight: int,
    *,
    progress: Progress | None,
    poll_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    override: Override | None,
) -> Decision:
    target.set_weight(weight)
    before = snapshot(target.canary_metrics())
    smoke_problems = tuple(target.smoke())
    started = clock()
    while True:
        elapsed = clock() - started
        counts = snapshot(target.canary_metrics()).since(before)
        decision = judge(policy, weight, counts, elapsed, smoke_problems)
        manual = override() if override is not None else None
        if manual in (Verdict.PROMOTE, Verdict.ABORT):
            decision = Decision(manual, (f"{manual.value} requested by the operator",), counts, elapsed)
        if progress is not None:
            progress(weight, decision)
        if decision.verdict is not Verdict.WAIT:
            return decision
        if decision.analysis_requests:
            target.send_analysis_traffic(
                min(decision.analysis_requests, math.ceil(policy.analysis_rate * poll_seconds))
            )
        sleep(poll_seconds)
