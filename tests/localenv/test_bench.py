"""The timeline chart and the benchmark's command line: what a reader of the chart and a user of `make bench` see."""

from __future__ import annotations

from pathlib import Path

import pytest

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
