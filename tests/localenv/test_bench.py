"""The timeline chart and the benchmark's command line: what a reader of the chart and a user of `make bench` see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.timing import LOCAL_TIMING, Timing
from infra.ingress_timing import LOCAL_INGRESS_TIMING, IngressTiming
from localenv.bench import (
    DISRUPTIONS,
    BenchUsageError,
    DisruptionSample,
    ReplicaResult,
    RolloutSample,
    WrkRun,
    disruption_table,
    ingress_release_floor,
    ingress_stop_floor,
    node_group_update_floor,
    parse_options,
    parse_wrk,
    table,
    wrk_command,
)
from localenv.chart import FAILURE_COLOUR, write_timeline
from localenv.errors import LocalEnvError
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
        (["--disruptions", "ingress-release,reboot"], "--disruptions 'reboot' is not one of"),
        (["--ingress-replicas", "1"], "--ingress-replicas '1' must be a whole number from 2 to 3"),
        (["--disruptions-only", "--disruptions", "none"], "leaves nothing to run"),
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
    assert options.disruptions == DISRUPTIONS and options.ingress_replicas == 2
    only = parse_options(["--disruptions-only", "--disruptions", "node-group-update", "--ingress-replicas", "3"])
    assert only.plan == () and only.disruptions == ("node-group-update",) and only.ingress_replicas == 3
    assert parse_options(["--disruptions", "none"]).disruptions == ()


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


# -- the tiers around the app: minimums, wrk's summary, the disruption table --------------------------

# The local profiles: time to healthy 0.5 + 2 × 0.5 = 1.5 s; an ingress pod stops in 2.5 + 0.5 + 0.5 = 3.5 s;
# an app pod in its preStop 1 s + gunicorn's 2 s keep-alive linger = 3 s.
LOCAL_STOP = 3.5
LOCAL_HEALTHY = 1.5
LOCAL_APP_STOP = 3.0


def test_the_local_profiles_give_the_numbers_the_tables_use() -> None:
    assert ingress_stop_floor() == LOCAL_STOP
    assert LOCAL_INGRESS_TIMING.time_to_healthy == LOCAL_HEALTHY
    assert LOCAL_TIMING.drain_seconds() == LOCAL_APP_STOP


@pytest.mark.parametrize(
    ("replicas", "surge", "expected"),
    [
        (2, 1, 2 * LOCAL_HEALTHY + LOCAL_STOP),  # 6.5 s: two gated waves, then the last old pod's stop
        (3, 1, 3 * LOCAL_HEALTHY + LOCAL_STOP),
        (3, 2, 2 * LOCAL_HEALTHY + LOCAL_STOP),  # ⌈3/2⌉ waves
        (2, 0, 2 * LOCAL_HEALTHY + LOCAL_STOP),  # a surge of 0 still makes progress one pod at a time
    ],
)
def test_the_ingress_release_minimum(replicas: int, surge: int, expected: float) -> None:
    assert ingress_release_floor(replicas, surge) == pytest.approx(expected)


def test_the_ingress_release_minimum_follows_the_timing_module() -> None:
    slower = IngressTiming(**{**vars(LOCAL_INGRESS_TIMING), "health_check_interval": 1.0, "pre_stop": 4.0})
    # healthy 0.5 + 2 × 1 = 2.5 s per wave; stop 4 + 0.5 + 0.5 = 5 s.
    assert ingress_release_floor(2, 1, slower) == pytest.approx(2 * 2.5 + 5.0)


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ([(True, True), (True, True), (True, False)], 2 * LOCAL_STOP + LOCAL_APP_STOP),  # 3 app, 2 ingress pods
        ([(True, False), (True, False), (True, False)], 3 * LOCAL_APP_STOP),
        ([(False, True), (False, False)], LOCAL_STOP),  # an empty node drains at once
        ([], 0.0),
    ],
)
def test_the_node_group_update_minimum(nodes: list[tuple[bool, bool]], expected: float) -> None:
    assert node_group_update_floor(nodes) == pytest.approx(expected)


def test_the_node_group_update_minimum_follows_the_app_timing() -> None:
    longer = Timing(**{**vars(LOCAL_TIMING), "pre_stop": 2})
    assert node_group_update_floor([(True, False)], app=longer) == 4.0  # preStop 2 s + linger 2 s
    # Now the app pod beside an ingress pod is the slower one (4 s against 3.5 s).
    assert node_group_update_floor([(True, True)], app=longer) == 4.0
    assert node_group_update_floor([(False, True)], app=longer) == LOCAL_STOP


WRK_CLEAN = """Running 10s test @ http://127.0.0.1:33187/version
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.51ms    8.39ms  76.57ms   91.79%
    Req/Sec   411.00    110.20   560.00     60.00%
  Latency Distribution
     50%  904.00us
     75%   13.51ms
     90%   17.02ms
     99%    1.20s
  820 requests in 2.01s, 4.90MB read
Requests/sec:    408.70
Transfer/sec:      2.44MB
"""
WRK_ERRORS = WRK_CLEAN.replace(
    "  820 requests in 2.01s, 4.90MB read\n",
    "  820 requests in 2.01s, 4.90MB read\n  Socket errors: connect 1, read 2, write 0, timeout 3\n"
    "  Non-2xx or 3xx responses: 4\n",
)


def test_wrk_output_is_read_with_its_units() -> None:
    clean = parse_wrk(WRK_CLEAN)
    assert clean == WrkRun(requests=820, seconds=2.01, socket_errors=0, non_2xx_3xx=0, p50_ms=0.904, p99_ms=1200.0)
    assert clean.failed == 0 and clean.rate == pytest.approx(820 / 2.01)
    broken = parse_wrk(WRK_ERRORS)
    assert (broken.socket_errors, broken.non_2xx_3xx, broken.failed) == (6, 4, 10)


def test_output_that_is_not_wrk_summary_is_one_clear_error() -> None:
    with pytest.raises(LocalEnvError, match="wrk printed no summary"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_only_loads_loopback() -> None:
    with pytest.raises(LocalEnvError, match="refusing to send load"):
        wrk_command("http://192.0.2.1/version", 3)
    command = wrk_command("http://127.0.0.1:8080/version", 2.2)
    assert command[-1] == "http://127.0.0.1:8080/version" and "-d3s" in command and "--latency" in command


def _disruption(*, failed: int, wrk_failed: int, during_p99: float, seconds: float) -> DisruptionSample:
    def wrk(p99: float, errors: int) -> WrkRun:
        return WrkRun(requests=3_000, seconds=3.0, socket_errors=errors, non_2xx_3xx=0, p50_ms=5.0, p99_ms=p99)

    return DisruptionSample(
        kind="ingress-release",
        app_replicas=3,
        ingress_replicas=2,
        requests=4_000,
        failed=failed,
        retried=1,
        rate_per_s=500.0,
        steady_latencies_ms=[10.0] * 100,
        during_latencies_ms=[during_p99] * 100,
        seconds=seconds,
        floor_seconds=6.5,
        wrk_steady=wrk(20.0, 0),
        wrk_during=wrk(during_p99 * 2, wrk_failed),
        errors={},
    )


def test_the_disruption_table_reports_each_target_met_or_missed() -> None:
    good = _disruption(failed=0, wrk_failed=0, during_p99=15.0, seconds=8.0)
    text = disruption_table([good])
    assert text.count("PASS") == 5 and "MISS" not in text
    rows = [line.split() for line in text.splitlines()[2:4]]
    assert rows[0][:3] == ["ingress-release", "generator", "3/2"] and rows[1][:3] == ["ingress-release", "wrk", "-c32"]
    assert "PASS  ingress-release  duration ≤ 1.5 × minimum: 8.0 s vs 6.5 s (1.23 ×)" in text
    bad = _disruption(failed=2, wrk_failed=3, during_p99=25.0, seconds=10.0)
    text = disruption_table([bad])
    assert "MISS  ingress-release  0 failed (generator): 2 failed of 4,000" in text
    assert "MISS  ingress-release  0 failed (wrk, saturation): 3 failed of 6,000" in text
    assert "MISS  ingress-release  p99 during ≤ 2 × steady (generator): 25.0 ms vs 10.0 ms (2.50 ×)" in text
    assert "MISS  ingress-release  p99 during ≤ 2 × steady (wrk): 50.0 ms vs 20.0 ms (2.50 ×)" in text
    assert "MISS  ingress-release  duration ≤ 1.5 × minimum: 10.0 s vs 6.5 s (1.54 ×)" in text
    document = bad.to_dict()
    assert [t["met"] for t in document["targets"]] == [False] * 5
    assert "steady_latencies_ms" not in document and document["during_ms"]["p99"] == 25.0
