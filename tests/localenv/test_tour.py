"""The tour's counting and summary (the disruptions themselves are proven in test_ingress_tier_proof.py and
test_node_proof.py): each step counts the requests sent while it ran, and a failure anywhere says so."""

from __future__ import annotations

import subprocess
import sys

from localenv.tour import TourStep, count_step, summary_lines, to_json
from localenv.traffic import ResponseRecord, TrafficPlan, TrafficReport


def _record(t: float, status: int, upstream: str = "200") -> ResponseRecord:
    return ResponseRecord(
        t=t, status=status, latency_ms=2.0, version="v1" if status else None, upstream_status=upstream, keepalive=True
    )


REPORT = TrafficReport(
    plan=TrafficPlan(url="http://127.0.0.1:1/version"),
    responses=[
        _record(0.5, 200),
        _record(1.5, 200, "502, 200"),
        _record(1.6, 0, ""),
        _record(2.5, 503, "503"),
        _record(3.5, 200),
    ],
    marks={},
    started_monotonic=100.0,
    started_wall=0.0,
    duration=4.0,
    stopped_by="stopped",
)


def test_a_step_counts_only_the_requests_sent_while_it_ran() -> None:
    first = count_step(REPORT, name="ingress-release", detail="controller → c2", start=1.0, end=2.0)
    assert (first.requests, first.failed, first.retried, first.seconds) == (2, 1, 1, 1.0)
    second = count_step(REPORT, name="drain", detail="node-1", start=2.0, end=4.0)
    assert (second.requests, second.failed, second.retried) == (2, 1, 0)  # a 503 is a failure


def test_the_summary_says_whether_anything_failed() -> None:
    clean = TourStep(name="drain", detail="node-1: a, b evicted", seconds=4.0, requests=1_200, failed=0, retried=0)
    broken = TourStep(name="nodegroup-update", detail="…", seconds=12.0, requests=3_000, failed=2, retried=1)
    assert summary_lines([clean]) == [
        "drain: 1,200 requests, 0 failed, 0 retried, 4.0 s — node-1: a, b evicted",
        "no request failed in any step",
    ]
    assert summary_lines([clean, broken])[-1] == "2 request(s) failed: see the steps above"
    assert to_json([clean])["ok"] is True and to_json([clean, broken])["ok"] is False


def test_tour_is_a_command_and_the_main_command_is_still_there() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "localenv", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0
    assert "tour" in completed.stdout and "demo" in completed.stdout
