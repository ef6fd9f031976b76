"""`python -m localenv tour`: the disruptions of the tiers around the app, one after another under live traffic.

A fresh environment (3 app replicas, 2 ingress replicas) in the state directory, the proofs' load on it
(keep-alive and one-request-per-connection clients, no client retries, every response counted), then in
turn: an ingress-tier release, a drain of a node that holds an app pod and an ingress pod (uncordoned
after), and a node-group update. Each step's requests are counted apart (by when they were sent), then
everything is stopped. The tour exits 0 when every step completed and no request failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.serving import VERSION_PATH
from localenv.bench import deployment_of
from localenv.errors import LocalEnvError
from localenv.ingress_pod import DEFAULT_INGRESS_REPLICAS, INGRESS_DEPLOYMENT
from localenv.traffic import Traffic, TrafficPlan, TrafficReport

TOUR_APP_VERSION = "v1"
TOUR_APP_REPLICAS = 3
TOUR_INGRESS_VERSION = "c2"
TOUR_DRAIN_TIMEOUT_S = 60.0
"""Each drain's timeout (a node-group update drains every old node with it)."""
# The load is stopped by the tour; these only bound a stuck run.
TOUR_MAX_SECONDS = 600.0
TOUR_MAX_REQUESTS = 2_000_000
TOUR_CLIENTS = 2
"""Keep-alive clients, and as many opening a connection per request."""


@dataclass(frozen=True, kw_only=True)
class TourStep:
    """One disruption of the tour and the requests sent while it ran."""

    name: str
    detail: str
    seconds: float
    requests: int
    failed: int
    retried: int


def count_step(report: TrafficReport, *, name: str, detail: str, start: float, end: float) -> TourStep:
    """The step `name` that ran from `start` to `end` (traffic seconds): the requests sent in that window."""
    window = report.window(start, end)
    return TourStep(
        name=name,
        detail=detail,
        seconds=round(end - start, 3),
        requests=len(window),
        failed=sum(not r.ok for r in window),
        retried=sum(r.retried for r in window),
    )


def summary_lines(steps: Sequence[TourStep]) -> list[str]:
    """One line per step, then the verdict."""
    lines = [
        f"{s.name}: {s.requests:,} requests, {s.failed} failed, {s.retried} retried, {s.seconds:.1f} s — {s.detail}"
        for s in steps
    ]
    failed = sum(s.failed for s in steps)
    lines.append("no request failed in any step" if failed == 0 else f"{failed} request(s) failed: see the steps above")
    return lines


def to_json(steps: Sequence[TourStep]) -> dict[str, Any]:
    """The tour as one JSON document."""
    return {"ok": all(s.failed == 0 for s in steps), "steps": [asdict(s) for s in steps]}


def _both_tiers(pods: Sequence[str]) -> bool:
    deployments = {deployment_of(pod) for pod in pods}
    return INGRESS_DEPLOYMENT in deployments and len(deployments) > 1


def run_tour(state_dir: Path, port: int, say: Callable[[str], None]) -> list[TourStep]:
    """Up, the three disruptions under one traffic run, down; the steps with their counts."""
    from localenv.environment import LocalEnvironment

    steps: list[TourStep] = []
    # Without Prometheus, unlike `up` and `demo`: the tour counts every request itself and shows no indicator,
    # and a scraper would only add load to the disruptions it measures.
    with LocalEnvironment(state_dir, port=port, ingress_replicas=DEFAULT_INGRESS_REPLICAS) as env:
        up = env.up(TOUR_APP_VERSION, TOUR_APP_REPLICAS)
        if not up.ok:
            raise LocalEnvError(f"the local environment did not come up: {up.message}")
        say(f"{TOUR_APP_REPLICAS} app and {DEFAULT_INGRESS_REPLICAS} ingress replicas at {env.url}; traffic on")
        plan = TrafficPlan(
            url=env.url + VERSION_PATH,
            keepalive_clients=TOUR_CLIENTS,
            fresh_clients=TOUR_CLIENTS,
            max_requests=TOUR_MAX_REQUESTS,
            max_seconds=TOUR_MAX_SECONDS,
        )
        windows: list[tuple[str, str, float, float]] = []
        with Traffic(plan) as traffic:
            say(f"ingress-release → {TOUR_INGRESS_VERSION} …")
            start = traffic.now()
            result = env.release_ingress(TOUR_INGRESS_VERSION)
            if not result.ok:
                raise LocalEnvError(f"the ingress-tier release failed: {result.message}")
            windows.append(("ingress-release", f"controller → {TOUR_INGRESS_VERSION}", start, traffic.now()))

            node = next((n for n in env.node_status() if _both_tiers(n.pods)), None)
            if node is None:
                raise LocalEnvError("no node holds an app pod and an ingress pod; see `python -m localenv nodes`")
            say(f"drain {node.name} ({', '.join(node.pods)}) …")
            start = traffic.now()
            env.drain(node.name, TOUR_DRAIN_TIMEOUT_S)
            windows.append(("drain", f"{node.name}: {', '.join(node.pods)} evicted", start, traffic.now()))
            env.uncordon(node.name)

            say("nodegroup-update …")
            start = traffic.now()
            done = env.update_node_group(TOUR_DRAIN_TIMEOUT_S)
            windows.append(("nodegroup-update", "; ".join(done), start, traffic.now()))
        report = traffic.report
    for name, detail, start, end in windows:
        steps.append(count_step(report, name=name, detail=detail, start=start, end=end))
    return steps
