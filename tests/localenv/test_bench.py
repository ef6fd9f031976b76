"""The timeline chart and the benchmark's command line: what a reader of the chart and a user of `make bench` see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from localenv.bench import BenchUsageError, ReplicaResult, RolloutSample, parse_options, table
from localenv.chart import FAILURE_COLOUR, write_timeline
from localenv.traffic import ResponseRecord, TrafficPlan, TrafficReport


def _report(failures_at: tuple[float, ...] = ()) -> TrafficReport:
    """Three seconds at 400 req/s: v1, then a one-second overlap, then v2; optional failures."""
    responses = []
    for i in range(1200):
        t = i / 400
        version = "v1" if t < 1.0 or (t < 2.0 and i % 2) else "v2"
        responses.append(
            ResponseRecord(
                t=t, status=200, latency_ms=5.0 + i % 7, version=version, upstream_status="200", keepalive=True
            )
        )
    for t in failures_at:
        responses.append(
            ResponseRecord(
                t=t, status=0, latency_ms=1.0, version=None, upstream_status="", keepalive=False, error="reset"
            )
        )
    responses.sort(key=lambda r: r.t)
    return TrafficReport(
        plan=TrafficPlan(url="http://127.0.0.1:1/version"),
        responses=responses,
        marks={"rollout-start": 1.0, "rollout-end": 2.0},
        started_monotonic=100.0,
        started_wall=0.0,
        duration=3.0,
        stopped_by="stopped",
    )


def _reddish_pixels(path: Path) -> int:
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    red = tuple(int(FAILURE_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5))
    # The failure shading is the failure colour at 25 % over white.
    shade = [0.75 + 0.25 * c for c in red]
    close = (abs(pixels[..., 0] - shade[0]) < 0.03) & (abs(pixels[..., 1] - shade[1]) < 0.03)
    close &= abs(pixels[..., 2] - shade[2]) < 0.03
    return int(close.sum())


def test_the_timeline_is_a_png_that_shows_failures(tmp_path: Path) -> None:
    clean = write_timeline(_report(), tmp_path / "nested" / "clean.png", "clean switch")
    broken = write_timeline(
        _report(failures_at=(1.25, 1.26, 2.5)), tmp_path / "broken.png", "dropped requests", events=[(1.5, "endpoints")]
    )
    for path in (clean, broken):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert 10_000 < path.stat().st_size < 200_000
    assert _reddish_pixels(clean) == 0
    # Two failing 100 ms bins, each a shaded column across the panel: thousands of pixels, not a speck.
    assert _reddish_pixels(broken) > 2_000


def test_the_report_knows_its_switch_and_windows() -> None:
    report = _report(failures_at=(1.25,))
    assert report.versions_in_order == ["v1", "v2"]
    window = report.switch_window()
    assert window is not None and window[0] == pytest.approx(1.0) and window[1] < 2.0
    assert report.switch_time == pytest.approx(window[1] - window[0])
    assert report.last_old_after_all_new(2.0) is None
    late = report.last_old_after_all_new(1.5)
    assert late is not None and late.version == "v1"
    assert report.failed == 1 and report.total == 1201
    assert report.to_traffic_time(101.5) == 1.5
    steady = report.latency_percentiles(end="rollout-start")
    assert steady["count"] == 400 and steady["p50"] <= steady["p99"] <= 11.0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--replicas", "0"], "--replicas value '0'"),
        (["--replicas", "3,x"], "--replicas value 'x'"),
        (["--replicas", "500"], "from 1 to"),
        (["--rollouts", "-1"], "--rollouts value '-1'"),
        (["--replicas", "3,10", "--rollouts", "5,2,1"], "one value or one per count"),
    ],
)
def test_bad_bench_arguments_are_one_clear_sentence(args: list[str], named: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "localenv.bench", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert named in completed.stderr
    assert completed.stderr.startswith("error: ") and completed.stderr.count("\n") == 1
    assert "Traceback" not in completed.stderr


def test_bench_out_must_be_a_directory(tmp_path: Path) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("")
    with pytest.raises(BenchUsageError, match="is a file"):
        parse_options(["--out", str(a_file)])
    options = parse_options(["--replicas", "3,10", "--rollouts", "4"])
    assert options.plan == ((3, 4), (10, 4))


def _sample(rollout_s: float, floor_s: float, failed: int, steady: float, during: float) -> RolloutSample:
    return RolloutSample(
        replicas=3,
        from_version="a",
        to_version="b",
        requests=5_000,
        failed=failed,
        retried=2,
        rate_per_s=900.0,
        steady_latencies_ms=[steady] * 100,
        rollout_latencies_ms=[during] * 100,
        rollout_seconds=rollout_s,
        time_to_ready=1.0,
        floor_seconds=floor_s,
        surge=1,
        switch_seconds=1.0,
        old_after_all_new=0,
        errors={},
    )


def test_the_table_checks_every_target() -> None:
    good = ReplicaResult(replicas=3, samples=[_sample(8.0, 7.0, 0, 10.0, 15.0) for _ in range(5)], chart=None)
    bad = ReplicaResult(
        replicas=10, samples=[_sample(8.0, 7.0, 0, 10.0, 15.0), _sample(20.0, 10.0, 3, 10.0, 25.0)], chart=None
    )
    text = table([good, bad])
    assert "PASS   3 replicas  0 failed of ≥ 20,000 requests over 5 rollouts: 0 failed of 25,000 over 5" in text
    assert "MISS  10 replicas  0 failed: 3 failed of 10,000" in text
    assert "MISS  10 replicas  p99 during rollout ≤ 2 × steady p99: 25.0 ms vs 10.0 ms (2.50 ×)" in text
    assert "MISS  10 replicas  rollout time ≤ 1.5 × theoretical minimum: 20.0 s vs 10.0 s (2.00 ×)" in text
    assert text.count("PASS") == 3
    assert good.to_dict(first=True)["targets"][0]["met"] is True
