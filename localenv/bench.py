"""Benchmark: rolling updates of the local environment under live traffic, measured against the targets.

`python -m localenv.bench` (or `make bench`) brings the local environment up at 3 and then 10
replicas, runs rollouts while the traffic generator keeps every response, and prints one table:
requests, failed, retried, p50/p99 in steady state vs during the rollout, and rollout seconds vs the
theoretical minimum `Timing.rollout_floor` (⌈replicas / surge⌉ × (time to ready + minReadySeconds)
+ drain, with the time to ready measured from this run's events). It checks the targets:

- 0 failed of ≥ 20,000 requests over 5 rollouts (at the first replica count);
- p99 during a rollout ≤ 2 × steady p99;
- rollout time ≤ 1.5 × the theoretical minimum.

Then the tiers around the app (issue 12), each at 3 app replicas and 2–3 ingress replicas, in a fresh
environment: an ingress-tier release (a new controller version, surge one, gated on its load-balancer
target) and a node-group update (every node replaced, old ones drained one at a time). Each runs under the
project's generator and, in the same run, wrk (Debian's /usr/bin/wrk) at the machine's saturation load on
loopback: requests, failed, retried, p50/p99 steady vs during, duration vs the minimum the timings allow
(`ingress_release_floor`, `node_group_update_floor`), each target printed as PASS or MISS.

It also writes a timeline chart per replica count and `bench.json` into `--out` (default
build/bench). It is a benchmark, not a test: it prints numbers and exits 0 even on a MISS, unless
`--strict` is given. Bounded in time: every rollout waits at most its progress deadline.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.serving import VERSION_PATH
from app.slo import LOCAL as LOCAL_SLO
from app.timing import LOCAL_TIMING, Timing
from infra.ingress_timing import LOCAL_INGRESS_TIMING, IngressTiming
from localenv.chart import write_timeline
from localenv.errors import LocalEnvError
from localenv.events import EndpointsEvent, EndpointsStage, Event, PodChange, PodEvent
from localenv.ingress_pod import DEFAULT_INGRESS_REPLICAS, INGRESS_DEPLOYMENT
from localenv.monitoring import ANALYSIS_POLL_S
from localenv.traffic import Traffic, TrafficPlan, TrafficReport, loopback_problem, percentile

DEFAULT_OUT = Path("build/bench")
CHART_NAME = "rollout-timeline.png"
RESULT_NAME = "bench.json"
# Targets from issue 3, in one place.
TARGET_REQUESTS = 20_000
TARGET_ROLLOUTS = 5
TARGET_P99_FACTOR = 2.0
TARGET_FLOOR_FACTOR = 1.5
# Load shape: half the clients keep their connection, half open one per request (new visitors).
KEEPALIVE_CLIENTS = 4
FRESH_CLIENTS = 4
STEADY_SECONDS = 3.0
"""Traffic before each rollout: the steady-state latency the rollout is compared with."""
WARMUP_SECONDS = 0.3
"""Left out of the steady window: the first requests open connections and warm the pods."""
TAIL_SECONDS = 1.0
"""Traffic after the rollout finished, so the chart shows the new version settled."""
MAX_REPLICAS = 20
MAX_ROLLOUTS = 20


# Disruptions of the tiers around the app (issue 12), by their command-line names.
INGRESS_RELEASE = "ingress-release"
NODE_GROUP_UPDATE = "node-group-update"
DISRUPTIONS = (INGRESS_RELEASE, NODE_GROUP_UPDATE)
DISRUPTION_APP_REPLICAS = 3
DISRUPTION_APP_VERSION = "v1"
NEXT_INGRESS_VERSION = "c2"
"""The controller version the ingress-tier release rolls to (the tier starts at the environment's first)."""
INGRESS_REPLICA_RANGE = (2, 3)
DISRUPTION_TIMEOUT_S = 120.0
"""A node's drain (and so a node-group update's step) gives up after this; a stuck machine, not a design limit."""
# wrk beside the generator: one thread per core and enough connections to keep both cores busy (saturation).
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WRK_STOP_TIMEOUT_S = 10.0
"""wrk prints its statistics at once on SIGINT (wrk 4.1.0 src/wrk.c: the SIGINT handler sets `stop`)."""


class BenchUsageError(ValueError):
    """A command-line value the benchmark cannot use; the message says which and what to use instead."""


@dataclass(frozen=True, kw_only=True)
class RolloutSample:
    """One rollout under load: its traffic numbers and its timing."""

    replicas: int
    from_version: str
    to_version: str
    requests: int
    failed: int
    retried: int
    rate_per_s: float
    steady_latencies_ms: list[float] = field(repr=False)
    rollout_latencies_ms: list[float] = field(repr=False)
    rollout_seconds: float
    time_to_ready: float
    """Median seconds from a new pod's start to its first ready probe, in this rollout."""
    floor_seconds: float
    surge: int
    switch_seconds: float | None
    old_after_all_new: int
    """Successful old-version answers to requests sent after every endpoint was new (one-way check)."""
    errors: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class ReplicaResult:
    """All rollouts at one replica count, with pooled percentiles and the targets checked."""

    replicas: int
    samples: list[RolloutSample]
    chart: str | None

    @property
    def requests(self) -> int:
        """Requests over every rollout at this replica count."""
        return sum(s.requests for s in self.samples)

    @property
    def failed(self) -> int:
        """Failed requests (no answer, 4xx or 5xx) over every rollout."""
        return sum(s.failed for s in self.samples)

    @property
    def retried(self) -> int:
        """Requests the ingress retried on another pod, over every rollout."""
        return sum(s.retried for s in self.samples)

    def latency(self, window: str, fraction: float) -> float:
        """Pooled latency percentile over every rollout's `steady` or `rollout` window."""
        pooled: list[float] = []
        for s in self.samples:
            pooled.extend(s.steady_latencies_ms if window == "steady" else s.rollout_latencies_ms)
        return percentile(pooled, fraction)

    @property
    def worst(self) -> RolloutSample:
        """The rollout furthest above its theoretical minimum: the target must hold for each one."""
        return max(self.samples, key=lambda s: s.rollout_seconds / s.floor_seconds)

    @property
    def rollout_seconds(self) -> float:
        """The worst rollout's seconds from apply until its last old pod exited."""
        return self.worst.rollout_seconds

    @property
    def floor_seconds(self) -> float:
        """The worst rollout's theoretical minimum (its replicas and surge, its own measured time to ready)."""
        return self.worst.floor_seconds

    @property
    def floor_ratio(self) -> float:
        """Worst rollout time / its theoretical minimum."""
        return self.worst.rollout_seconds / self.worst.floor_seconds

    def targets(self, first: bool) -> list[tuple[str, bool, str]]:
        """(target, met, measured) for this replica count; the request-count target only for the first."""
        steady_p99 = self.latency("steady", 0.99)
        rollout_p99 = self.latency("rollout", 0.99)
        checks: list[tuple[str, bool, str]] = []
        if first:
            enough = self.requests >= TARGET_REQUESTS and len(self.samples) >= TARGET_ROLLOUTS
            checks.append(
                (
                    f"0 failed of ≥ {TARGET_REQUESTS:,} requests over {TARGET_ROLLOUTS} rollouts",
                    self.failed == 0 and enough,
                    f"{self.failed} failed of {self.requests:,} over {len(self.samples)}",
                )
            )
        else:
            checks.append(("0 failed", self.failed == 0, f"{self.failed} failed of {self.requests:,}"))
        checks.append(
            (
                f"p99 during rollout ≤ {TARGET_P99_FACTOR:g} × steady p99",
                rollout_p99 <= TARGET_P99_FACTOR * steady_p99,
                f"{rollout_p99:.1f} ms vs {steady_p99:.1f} ms ({rollout_p99 / steady_p99:.2f} ×)",
            )
        )
        checks.append(
            (
                f"rollout time ≤ {TARGET_FLOOR_FACTOR:g} × theoretical minimum",
                self.floor_ratio <= TARGET_FLOOR_FACTOR,
                f"{self.rollout_seconds:.1f} s vs {self.floor_seconds:.1f} s ({self.floor_ratio:.2f} ×)",
            )
        )
        return checks

    def to_dict(self, first: bool) -> dict[str, Any]:
        """JSON-ready numbers, targets and per-rollout samples (without the raw latency lists)."""

        def ms(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 2)

        samples = []
        for s in self.samples:
            data = asdict(s)
            data.pop("steady_latencies_ms")
            data.pop("rollout_latencies_ms")
            data["steady_p99_ms"] = ms(percentile(s.steady_latencies_ms, 0.99))
            data["rollout_p99_ms"] = ms(percentile(s.rollout_latencies_ms, 0.99))
            samples.append(data)
        return {
            "replicas": self.replicas,
            "rollouts": len(self.samples),
            "requests": self.requests,
            "failed": self.failed,
            "retried": self.retried,
            "steady_ms": {"p50": ms(self.latency("steady", 0.5)), "p99": ms(self.latency("steady", 0.99))},
            "rollout_ms": {"p50": ms(self.latency("rollout", 0.5)), "p99": ms(self.latency("rollout", 0.99))},
            "rollout_seconds": round(self.rollout_seconds, 2),
            "floor_seconds": round(self.floor_seconds, 2),
            "floor_ratio": round(self.floor_ratio, 3),
            "chart": self.chart,
            "targets": [{"target": t, "met": met, "measured": m} for t, met, m in self.targets(first)],
            "samples": samples,
        }


def table(results: Sequence[ReplicaResult]) -> str:
    """The benchmark's table and its targets, as plain text."""
    header = (
        "replicas",
        "rollouts",
        "requests",
        "req/s",
        "failed",
        "retried",
        "steady p50/p99 ms",
        "rollout p50/p99 ms",
        "rollout s*",
        "minimum s*",
        "ratio*",
    )
    rows = [header]
    for r in results:
        rate = statistics.fmean(s.rate_per_s for s in r.samples)
        rows.append(
            (
                str(r.replicas),
                str(len(r.samples)),
                f"{r.requests:,}",
                f"{rate:,.0f}",
                str(r.failed),
                str(r.retried),
                f"{r.latency('steady', 0.5):.1f} / {r.latency('steady', 0.99):.1f}",
                f"{r.latency('rollout', 0.5):.1f} / {r.latency('rollout', 0.99):.1f}",
                f"{r.rollout_seconds:.1f}",
                f"{r.floor_seconds:.1f}",
                f"{r.floor_ratio:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        "* the rollout furthest above its minimum: apply → last old pod exited, vs "
        "⌈replicas/surge⌉ × (measured time to ready + minReadySeconds) + drain"
    )
    lines.append("")
    for index, r in enumerate(results):
        for target, met, measured in r.targets(first=index == 0):
            lines.append(f"{'PASS' if met else 'MISS'}  {r.replicas:>2} replicas  {target}: {measured}")
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """What to run: replica counts with their rollout counts, and where results go."""

    plan: tuple[tuple[int, int], ...]
    """(replicas, rollouts) pairs, run in order; empty with --disruptions-only."""
    disruptions: tuple[str, ...] = DISRUPTIONS
    """Tier disruptions to run after the rollouts, in order."""
    ingress_replicas: int = DEFAULT_INGRESS_REPLICAS
    out: Path
    json: bool
    strict: bool
    prometheus_overhead: bool = False
    """Also run the first replica count with Prometheus and Alertmanager scraping, and print p99 side by side."""


def _positive(name: str, raw: str, limit: int) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise BenchUsageError(f"{name} {raw!r} must be a whole number from 1 to {limit}")
    return int(raw)


def parse_options(argv: Sequence[str]) -> BenchOptions:
    """Read the command line; a bad value raises BenchUsageError with one sentence naming it."""
    parser = argparse.ArgumentParser(
        prog="python -m localenv.bench",
        description="Roll the local environment out under live traffic and print the numbers against the targets.",
    )
    parser.add_argument(
        "--replicas",
        default="3,10",
        help="comma-separated replica counts, run in order (default 3,10); targets over 5 rollouts use the first",
    )
    parser.add_argument(
        "--rollouts",
        default="5,2",
        help="rollouts per replica count, comma-separated, or one number for all (default 5,2)",
    )
    parser.add_argument(
        "--disruptions",
        default=",".join(DISRUPTIONS),
        help=f"tier disruptions after the rollouts, comma-separated from {', '.join(DISRUPTIONS)}, or none",
    )
    parser.add_argument(
        "--ingress-replicas",
        default=str(DEFAULT_INGRESS_REPLICAS),
        help=f"ingress replicas for the disruptions, {INGRESS_REPLICA_RANGE[0]}–{INGRESS_REPLICA_RANGE[1]} "
        f"(default {DEFAULT_INGRESS_REPLICAS})",
    )
    parser.add_argument("--disruptions-only", action="store_true", help="skip the app rollouts")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"directory for the charts and {RESULT_NAME}")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of the table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--prometheus-overhead",
        action="store_true",
        help="run the first replica count again with Prometheus scraping and print both p99s side by side",
    )
    args = parser.parse_args(list(argv))
    replicas = [_positive("--replicas value", part.strip(), MAX_REPLICAS) for part in args.replicas.split(",")]
    rollouts = [_positive("--rollouts value", part.strip(), MAX_ROLLOUTS) for part in args.rollouts.split(",")]
    if len(rollouts) == 1:
        rollouts = rollouts * len(replicas)
    if len(rollouts) != len(replicas):
        raise BenchUsageError(
            f"--rollouts has {len(rollouts)} values for {len(replicas)} replica counts: give one value or one per count"
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BenchUsageError(f"--out {out} is a file; give a directory (it is created if missing)")
    names = [part.strip() for part in args.disruptions.split(",")]
    disruptions = () if names == ["none"] else tuple(names)
    unknown = [name for name in disruptions if name not in DISRUPTIONS]
    if unknown:
        raise BenchUsageError(f"--disruptions {unknown[0]!r} is not one of {', '.join(DISRUPTIONS)} or none")
    low, high = INGRESS_REPLICA_RANGE
    if not args.ingress_replicas.isdigit() or not low <= int(args.ingress_replicas) <= high:
        raise BenchUsageError(
            f"--ingress-replicas {args.ingress_replicas!r} must be a whole number from {low} to {high}"
        )
    plan = () if args.disruptions_only else tuple(zip(replicas, rollouts, strict=True))
    if not plan and not disruptions:
        raise BenchUsageError("--disruptions-only with --disruptions none leaves nothing to run; drop one of them")
    return BenchOptions(
        plan=plan,
        disruptions=disruptions,
        ingress_replicas=int(args.ingress_replicas),
        out=out,
        json=bool(args.json),
        strict=bool(args.strict),
        prometheus_overhead=bool(args.prometheus_overhead),
    )


def traffic_plan(url: str, replicas: int, progress_deadline: float) -> TrafficPlan:
    """The load for one rollout, bounded by the longest a rollout may take plus the steady and tail windows."""
    # A rollout that stops making progress is failed by the controller at its deadline; the traffic
    # must outlive that (plus every pod's possible drain) but never run unbounded.
    budget = STEADY_SECONDS + progress_deadline * max(1, replicas) + TAIL_SECONDS + 30.0
    return TrafficPlan(
        url=url,
        keepalive_clients=KEEPALIVE_CLIENTS,
        fresh_clients=FRESH_CLIENTS,
        max_requests=2_000_000,
        max_seconds=budget,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (and, with --strict, met every target), 1 on a miss, 2 on bad input."""
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv)
    except BenchUsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        results = run(options)
        disruptions = run_disruptions(options)
    except LocalEnvError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every process was stopped", file=sys.stderr)
        return 130
    document = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [r.to_dict(first=i == 0) for i, r in enumerate(results)],
        "disruptions": [d.to_dict() for d in disruptions],
    }
    options.out.mkdir(parents=True, exist_ok=True)
    result_path = options.out / RESULT_NAME
    result_path.write_text(json.dumps(document, indent=2) + "\n")
    if options.json:
        print(json.dumps(document, indent=2))
    else:
        if results:
            print()
            print(table(results))
        if disruptions:
            print()
            print(disruption_table(disruptions))
        print()
        for r in results:
            if r.chart:
                print(f"chart ({r.replicas} replicas): {r.chart}")
        print(f"result: {result_path}")
    if options.prometheus_overhead and results:
        replicas, rollouts = options.plan[0]
        with tempfile.TemporaryDirectory(prefix="example-app-bench-prom-") as state:
            monitored = _run_replicas(Path(state) / f"r{replicas}", replicas, rollouts, options, monitoring=True)
        print(overhead_table(results[0], monitored))
    missed = any(not met for i, r in enumerate(results) for _, met, _ in r.targets(first=i == 0))
    missed = missed or any(not met for d in disruptions for _, met, _ in d.targets())
    return 1 if options.strict and missed else 0


def overhead_table(without: ReplicaResult, monitored: ReplicaResult) -> str:
    """Steady and rollout p50/p99 without and with Prometheus scraping every pod and replica, side by side."""
    lines = [
        f"Prometheus overhead, {without.replicas} replicas, {len(without.samples)} rollouts each "
        f"(app pods scraped every {ANALYSIS_POLL_S:g} s, the rest every {LOCAL_SLO.scrape_interval:g} s):",
        f"{'':<22}{'without':>12}{'with':>12}",
    ]
    for window in ("steady", "rollout"):
        for fraction in (0.5, 0.99):
            label = f"{window} p{round(fraction * 100)} (ms)"
            before, after = without.latency(window, fraction), monitored.latency(window, fraction)
            lines.append(f"{label:<22}{before:>12.1f}{after:>12.1f}")
    lines.append(f"{'failed requests':<22}{without.failed:>12}{monitored.failed:>12}")
    return "\n".join(lines)


def run(options: BenchOptions) -> list[ReplicaResult]:
    """Every replica count in turn: up, rollouts under load, down; charts written to `options.out`."""
    results: list[ReplicaResult] = []
    with tempfile.TemporaryDirectory(prefix="example-app-bench-") as state:
        for replicas, rollouts in options.plan:
            results.append(_run_replicas(Path(state) / f"r{replicas}", replicas, rollouts, options))
    return results


def time_to_ready(events: Sequence[Event], version: str, since: float) -> float:
    """Median seconds from a `version` pod's creation to its first Ready, over pods created after `since`."""
    created: dict[str, float] = {}
    ready: dict[str, float] = {}
    for event in events:
        if not isinstance(event, PodEvent) or event.version != version or event.monotonic < since:
            continue
        if event.change is PodChange.CREATED:
            created.setdefault(event.pod, event.monotonic)
        elif event.change is PodChange.READY and event.pod in created:
            ready.setdefault(event.pod, event.monotonic)
    spans = [ready[name] - created[name] for name in ready]
    if not spans:
        raise LocalEnvError(f"no {version} pod became ready during the rollout; see the events for why")
    return statistics.median(spans)


def all_endpoints_new_at(events: Sequence[Event], version: str, since: float) -> float | None:
    """When the ingress first balanced over `version` pods only (monotonic), after `since`; None if never."""
    for event in events:
        if (
            isinstance(event, EndpointsEvent)
            and event.stage is EndpointsStage.APPLIED
            and event.monotonic >= since
            and event.versions == (version,)
        ):
            return event.monotonic
    return None


def measure(
    *,
    report: TrafficReport,
    events: Sequence[Event],
    replicas: int,
    surge: int,
    from_version: str,
    to_version: str,
    started: float,
    drained: float,
) -> RolloutSample:
    """Turn one rollout's traffic report and events into a sample; `started`/`drained` are monotonic."""
    start = report.to_traffic_time(started)
    end = report.to_traffic_time(drained)
    ready = time_to_ready(events, to_version, started)
    all_new = all_endpoints_new_at(events, to_version, started)
    late_old = [] if all_new is None else report.served_after(report.to_traffic_time(all_new), from_version)
    steady = [r.latency_ms for r in report.window(WARMUP_SECONDS, start) if r.status != 0]
    during = [r.latency_ms for r in report.window(start, end) if r.status != 0]
    return RolloutSample(
        replicas=replicas,
        from_version=from_version,
        to_version=to_version,
        requests=report.total,
        failed=report.failed,
        retried=report.retried,
        rate_per_s=report.rate,
        steady_latencies_ms=steady,
        rollout_latencies_ms=during,
        rollout_seconds=drained - started,
        time_to_ready=ready,
        floor_seconds=LOCAL_TIMING.rollout_floor(replicas, surge, ready),
        surge=surge,
        switch_seconds=report.switch_time,
        old_after_all_new=len(late_old),
        errors=dict(report.errors),
    )


def _say(message: str) -> None:
    # Progress goes to stderr so `--json` leaves stdout to the document.
    print(message, file=sys.stderr, flush=True)


def _run_replicas(
    state_dir: Path, replicas: int, rollouts: int, options: BenchOptions, *, monitoring: bool = False
) -> ReplicaResult:
    from localenv.environment import LocalEnvironment
    from localenv.profile import local_deployment
    from localenv.spec import DeploymentSpec

    spec = DeploymentSpec.from_manifest(local_deployment(f"bench-{replicas}r-0", replicas))
    surge, _ = spec.fenceposts()
    samples: list[RolloutSample] = []
    chart: str | None = None
    with LocalEnvironment(state_dir, port=0, monitoring=monitoring) as env:
        _say(f"{replicas} replicas{' with Prometheus' if monitoring else ''}: bringing the local environment up …")
        first = env.up(version=f"bench-{replicas}r-0", replicas=replicas)
        if not first.ok:
            raise LocalEnvError(f"the local environment did not come up: {first.message}")
        for number in range(1, rollouts + 1):
            old, new = f"bench-{replicas}r-{number - 1}", f"bench-{replicas}r-{number}"
            with Traffic(traffic_plan(env.url + VERSION_PATH, replicas, spec.progress_deadline)) as traffic:
                time.sleep(STEADY_SECONDS)
                result = env.deploy(new)
                if result.ok and result.drained_seconds is not None:
                    drained = result.started_monotonic + result.drained_seconds
                    traffic.mark("rollout-start", at=traffic.to_traffic_time(result.started_monotonic))
                    traffic.mark("rollout-end", at=traffic.to_traffic_time(drained))
                    time.sleep(TAIL_SECONDS)
            if not result.ok or result.drained_seconds is None:
                raise LocalEnvError(f"rollout {number} at {replicas} replicas did not finish: {result.message}")
            report = traffic.report
            sample = measure(
                report=report,
                events=result.events,
                replicas=replicas,
                surge=surge,
                from_version=old,
                to_version=new,
                started=result.started_monotonic,
                drained=drained,
            )
            samples.append(sample)
            _say(
                f"  rollout {number}/{rollouts} {old} → {new}: {sample.requests:,} requests "
                f"({sample.rate_per_s:,.0f}/s), {sample.failed} failed, {sample.retried} retried, "
                f"{sample.rollout_seconds:.1f} s (minimum {sample.floor_seconds:.1f} s, "
                f"time to ready {sample.time_to_ready:.2f} s), old answers after all-new endpoints: "
                f"{sample.old_after_all_new}"
            )
            if number == rollouts and not monitoring:
                endpoint_changes = [
                    (report.to_traffic_time(e.monotonic), "endpoints")
                    for e in result.events
                    if isinstance(e, EndpointsEvent) and e.stage is EndpointsStage.APPLIED
                ]
                name = (
                    CHART_NAME if not samples or replicas == options.plan[0][0] else f"rollout-timeline-{replicas}.png"
                )
                path = write_timeline(
                    report,
                    options.out / name,
                    f"Rolling update {old} → {new}, {replicas} replicas (surge {surge}), local nginx + gunicorn",
                    events=endpoint_changes,
                )
                chart = str(path)
    return ReplicaResult(replicas=replicas, samples=samples, chart=chart)


# -- the tiers around the app: an ingress-tier release and a node-group update (issue 12) ----------


def ingress_stop_floor(timing: IngressTiming = LOCAL_INGRESS_TIMING) -> float:
    """Fewest seconds from an ingress pod's Terminating to its exit: preStop, the controller's shutdown grace,
    `nginx -s quit` with nothing open (its drain takes 0 s at best), then the post-shutdown grace."""
    return timing.pre_stop + timing.shutdown_grace + timing.post_shutdown_grace


def ingress_release_floor(replicas: int, surge: int, timing: IngressTiming = LOCAL_INGRESS_TIMING) -> float:
    """Minimum seconds for an ingress-tier release: apply → the last old controller pod has exited.

    maxUnavailable 0: each wave of `surge` new pods must pass its readiness gate (the load balancer's
    registration, then `healthy_threshold` checks: `time_to_healthy`) before as many old pods leave; the old
    pods stop while the next wave starts, so only the last one's stop adds to the end. A pod's own start
    counts 0 s here: the minimum is what the timings allow, not what a process needs.
    """
    waves = math.ceil(replicas / max(surge, 1))
    return waves * timing.time_to_healthy + ingress_stop_floor(timing)


def node_group_update_floor(
    nodes: Sequence[tuple[bool, bool]],
    app: Timing = LOCAL_TIMING,
    ingress: IngressTiming = LOCAL_INGRESS_TIMING,
) -> float:
    """Minimum seconds for a node-group update over old nodes given as (holds an app pod, holds an ingress pod).

    New nodes come up first (0 s locally); then the old nodes are drained one at a time, and a drain ends
    when every pod on the node has exited: its slowest pod's stop — an ingress pod's `ingress_stop_floor`, an
    app pod's `Timing.drain_seconds` (preStop, then gunicorn's keep-alive linger), 0 for an empty
    node. Evicted pods' replacements start on the new nodes during the drain, so the budget waits no longer.
    """
    total = 0.0
    for holds_app, holds_ingress in nodes:
        stops = [0.0]
        if holds_app:
            stops.append(app.drain_seconds())
        if holds_ingress:
            stops.append(ingress_stop_floor(ingress))
        total += max(stops)
    return total


@dataclass(frozen=True, kw_only=True)
class WrkRun:
    """What one wrk run printed: requests, seconds, socket errors and non-2xx/3xx answers, latency percentiles."""

    requests: int
    seconds: float
    socket_errors: int
    non_2xx_3xx: int
    p50_ms: float
    p99_ms: float

    @property
    def failed(self) -> int:
        """Requests without an answer (socket errors) or with an error status."""
        return self.socket_errors + self.non_2xx_3xx

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


# wrk 4.1.0 src/wrk.c (main, print_stats_latency) and src/units.c: "  820 requests in 2.01s, …",
# "  Socket errors: connect 0, read 1, write 0, timeout 0" and "  Non-2xx or 3xx responses: 3" only when
# not zero, and with --latency "     99%   55.69ms" (units us, ms, s, m, h).
_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.MULTILINE)
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_STATUS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def parse_wrk(output: str) -> WrkRun:
    """wrk's printed summary as numbers; a clear error when the output is not wrk's (e.g. it failed to start)."""
    requests = _WRK_REQUESTS.search(output)
    percentiles = {m[1]: float(m[2]) * _WRK_UNITS_MS[m[3]] for m in _WRK_PERCENTILE.finditer(output)}
    if requests is None or set(percentiles) != {"50", "99"}:
        raise LocalEnvError(f"wrk printed no summary with --latency percentiles: {output.strip()[:200]!r}")
    socket = _WRK_SOCKET.search(output)
    status = _WRK_STATUS.search(output)
    return WrkRun(
        requests=int(requests[1]),
        seconds=float(requests[2]) * _WRK_UNITS_MS[requests[3]] / 1000,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        non_2xx_3xx=int(status[1]) if status else 0,
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
    )


def wrk_command(url: str, seconds: float) -> list[str]:
    """The wrk command line for `seconds` of saturation load on `url`, which must be on loopback."""
    problem = loopback_problem(url)
    if problem:
        raise LocalEnvError(problem)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LocalEnvError("wrk is not installed: install the Debian package wrk (`make system-packages`)")
    duration = max(1, math.ceil(seconds))
    return [wrk, f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{duration}s", "--latency", url]


class Wrk:
    """wrk running in the background for at most `seconds`; `stop()` ends it early (SIGINT) and parses its summary."""

    def __init__(self, url: str, seconds: float) -> None:
        self._command = wrk_command(url, seconds)
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Wrk:
        """Start the load."""
        self._process = subprocess.Popen(self._command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self

    def stop(self) -> WrkRun:
        """Stop now (or collect a run that already ended) and return its numbers."""
        process = self._process
        if process is None:
            raise LocalEnvError("wrk was never started")
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=WRK_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise LocalEnvError(f"wrk did not stop within {WRK_STOP_TIMEOUT_S:g} s of SIGINT") from None
        return parse_wrk(output)


@dataclass(frozen=True, kw_only=True)
class DisruptionSample:
    """One disruption of the tiers around the app, under the generator and wrk at once."""

    kind: str
    app_replicas: int
    ingress_replicas: int
    requests: int
    failed: int
    retried: int
    rate_per_s: float
    steady_latencies_ms: list[float] = field(repr=False)
    during_latencies_ms: list[float] = field(repr=False)
    seconds: float
    floor_seconds: float
    wrk_steady: WrkRun
    wrk_during: WrkRun
    errors: dict[str, int]

    @property
    def floor_ratio(self) -> float:
        """Duration / the minimum the timings allow."""
        return self.seconds / self.floor_seconds

    def targets(self) -> list[tuple[str, bool, str]]:
        """(target, met, measured): 0 failed for both loads, p99 during ≤ 2 × steady for both, duration."""
        steady = percentile(self.steady_latencies_ms, 0.99)
        during = percentile(self.during_latencies_ms, 0.99)
        wrk_failed = self.wrk_steady.failed + self.wrk_during.failed
        wrk_requests = self.wrk_steady.requests + self.wrk_during.requests
        return [
            ("0 failed (generator)", self.failed == 0, f"{self.failed} failed of {self.requests:,}"),
            ("0 failed (wrk, saturation)", wrk_failed == 0, f"{wrk_failed} failed of {wrk_requests:,}"),
            (
                f"p99 during ≤ {TARGET_P99_FACTOR:g} × steady (generator)",
                during <= TARGET_P99_FACTOR * steady,
                f"{during:.1f} ms vs {steady:.1f} ms ({during / steady:.2f} ×)",
            ),
            (
                f"p99 during ≤ {TARGET_P99_FACTOR:g} × steady (wrk)",
                self.wrk_during.p99_ms <= TARGET_P99_FACTOR * self.wrk_steady.p99_ms,
                f"{self.wrk_during.p99_ms:.1f} ms vs {self.wrk_steady.p99_ms:.1f} ms "
                f"({self.wrk_during.p99_ms / self.wrk_steady.p99_ms:.2f} ×)",
            ),
            (
                f"duration ≤ {TARGET_FLOOR_FACTOR:g} × minimum",
                self.floor_ratio <= TARGET_FLOOR_FACTOR,
                f"{self.seconds:.1f} s vs {self.floor_seconds:.1f} s ({self.floor_ratio:.2f} ×)",
            ),
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers and targets (without the raw latency lists)."""
        data = asdict(self)
        data.pop("steady_latencies_ms")
        data.pop("during_latencies_ms")
        data["steady_ms"] = {
            "p50": percentile(self.steady_latencies_ms, 0.5),
            "p99": percentile(self.steady_latencies_ms, 0.99),
        }
        data["during_ms"] = {
            "p50": percentile(self.during_latencies_ms, 0.5),
            "p99": percentile(self.during_latencies_ms, 0.99),
        }
        data["floor_ratio"] = round(self.floor_ratio, 3)
        data["targets"] = [{"target": t, "met": met, "measured": m} for t, met, m in self.targets()]
        return data


def disruption_table(samples: Sequence[DisruptionSample]) -> str:
    """One row per load and disruption (the generator's and wrk's), then every target as PASS or MISS."""
    header = (
        "disruption",
        "load",
        "app/ingress",
        "requests",
        "req/s",
        "failed",
        "retried",
        "steady p50/p99 ms",
        "during p50/p99 ms",
        "duration s",
        "minimum s",
        "ratio",
    )
    rows = [header]
    for d in samples:
        pods = f"{d.app_replicas}/{d.ingress_replicas}"
        timing = (f"{d.seconds:.1f}", f"{d.floor_seconds:.1f}", f"{d.floor_ratio:.2f}")
        rows.append(
            (
                d.kind,
                "generator",
                pods,
                f"{d.requests:,}",
                f"{d.rate_per_s:,.0f}",
                str(d.failed),
                str(d.retried),
                f"{percentile(d.steady_latencies_ms, 0.5):.1f} / {percentile(d.steady_latencies_ms, 0.99):.1f}",
                f"{percentile(d.during_latencies_ms, 0.5):.1f} / {percentile(d.during_latencies_ms, 0.99):.1f}",
                *timing,
            )
        )
        wrk_requests = d.wrk_steady.requests + d.wrk_during.requests
        rows.append(
            (
                d.kind,
                f"wrk -c{WRK_CONNECTIONS}",
                pods,
                f"{wrk_requests:,}",
                f"{d.wrk_during.rate:,.0f}",
                str(d.wrk_steady.failed + d.wrk_during.failed),
                "–",
                f"{d.wrk_steady.p50_ms:.1f} / {d.wrk_steady.p99_ms:.1f}",
                f"{d.wrk_during.p50_ms:.1f} / {d.wrk_during.p99_ms:.1f}",
                *timing,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        "minimum: ingress-release ⌈replicas/surge⌉ × time to healthy + an ingress pod's stop; node-group-update "
        "Σ over old nodes of their slowest pod's stop (infra/ingress_timing.py and app/timing.py, local profiles)"
    )
    lines.append("")
    for d in samples:
        for target, met, measured in d.targets():
            lines.append(f"{'PASS' if met else 'MISS'}  {d.kind}  {target}: {measured}")
    return "\n".join(lines)


def deployment_of(pod: str) -> str:
    """The Deployment a pod belongs to: pods are named <deployment>-<template hash>-<suffix>, as ReplicaSets do."""
    return pod.rsplit("-", 2)[0]


def run_disruptions(options: BenchOptions) -> list[DisruptionSample]:
    """Every disruption in `options.disruptions`, each in a fresh environment at 3 app replicas."""
    samples: list[DisruptionSample] = []
    with tempfile.TemporaryDirectory(prefix="example-app-bench-tiers-") as state:
        for kind in options.disruptions:
            samples.append(_run_disruption(Path(state) / kind, kind, options.ingress_replicas))
    return samples


def _run_disruption(state_dir: Path, kind: str, ingress_replicas: int) -> DisruptionSample:
    from localenv.environment import LocalEnvironment
    from localenv.ingress_pod import ingress_deployment
    from localenv.spec import DeploymentSpec

    replicas = DISRUPTION_APP_REPLICAS
    with LocalEnvironment(state_dir, port=0, ingress_replicas=ingress_replicas) as env:
        _say(f"{kind}: bringing the local environment up ({replicas} app, {ingress_replicas} ingress replicas) …")
        first = env.up(version=DISRUPTION_APP_VERSION, replicas=replicas)
        if not first.ok:
            raise LocalEnvError(f"the local environment did not come up: {first.message}")
        url = env.url + VERSION_PATH
        # Bounded: the disruption's own timeouts, plus the steady and tail windows.
        budget = STEADY_SECONDS + DISRUPTION_TIMEOUT_S * len(env.node_status()) + TAIL_SECONDS + 30.0
        plan = TrafficPlan(
            url=url,
            keepalive_clients=KEEPALIVE_CLIENTS,
            fresh_clients=FRESH_CLIENTS,
            max_requests=2_000_000,
            max_seconds=budget,
        )
        with Traffic(plan) as traffic:
            wrk_steady = _wrk_for(url, STEADY_SECONDS)
            wrk = Wrk(url, budget).start()
            try:
                if kind == INGRESS_RELEASE:
                    spec = DeploymentSpec.from_manifest(
                        ingress_deployment(NEXT_INGRESS_VERSION, ingress_replicas, state_dir)
                    )
                    surge, _ = spec.fenceposts()
                    result = env.release_ingress(NEXT_INGRESS_VERSION)
                    if not result.ok or result.drained_seconds is None:
                        raise LocalEnvError(f"the ingress-tier release did not finish: {result.message}")
                    started = result.started_monotonic
                    ended = started + result.drained_seconds
                    floor = ingress_release_floor(ingress_replicas, surge)
                else:
                    before = [
                        (
                            any(deployment_of(p) != INGRESS_DEPLOYMENT for p in n.pods),
                            any(deployment_of(p) == INGRESS_DEPLOYMENT for p in n.pods),
                        )
                        for n in env.node_status()
                    ]
                    started = time.monotonic()
                    steps = env.update_node_group(DISRUPTION_TIMEOUT_S)
                    ended = time.monotonic()
                    floor = node_group_update_floor(before)
                    _say(f"  {'; '.join(steps)}")
            finally:
                wrk_during = wrk.stop()
            traffic.mark("disruption-start", at=traffic.to_traffic_time(started))
            traffic.mark("disruption-end", at=traffic.to_traffic_time(ended))
            time.sleep(TAIL_SECONDS)
        report = traffic.report
    start, end = report.to_traffic_time(started), report.to_traffic_time(ended)
    sample = DisruptionSample(
        kind=kind,
        app_replicas=replicas,
        ingress_replicas=ingress_replicas,
        requests=report.total,
        failed=report.failed,
        retried=report.retried,
        rate_per_s=report.rate,
        steady_latencies_ms=[r.latency_ms for r in report.window(WARMUP_SECONDS, start) if r.status != 0],
        during_latencies_ms=[r.latency_ms for r in report.window(start, end) if r.status != 0],
        seconds=ended - started,
        floor_seconds=floor,
        wrk_steady=wrk_steady,
        wrk_during=wrk_during,
        errors=dict(report.errors),
    )
    _say(
        f"  {kind}: generator {sample.requests:,} requests, {sample.failed} failed, {sample.retried} retried; "
        f"wrk {wrk_steady.requests + wrk_during.requests:,} requests, "
        f"{wrk_steady.failed + wrk_during.failed} failed; {sample.seconds:.1f} s (minimum {floor:.1f} s)"
    )
    return sample


def _wrk_for(url: str, seconds: float) -> WrkRun:
    """wrk for `seconds` in the foreground (the steady window, with the generator running beside it)."""
    try:
        completed = subprocess.run(
            wrk_command(url, seconds),
            capture_output=True,
            text=True,
            timeout=seconds + WRK_STOP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LocalEnvError(f"wrk ran past its {seconds:g} s duration") from None
    return parse_wrk(completed.stdout)


if __name__ == "__main__":
    sys.exit(main())
