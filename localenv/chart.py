"""A timeline chart of one traffic run: who answered each 100 ms, where requests failed, and how slow.

The top panel stacks successful responses per 100 ms by the version that served them, so a rolling
update reads as one colour handing over to the next; failed requests stack on top in red and get a
red tick under the axis (one failure among a thousand answers is invisible as a bar); requests the
ingress retried get an orange tick. The bottom panel shows p50 and p99 latency per bin. Marks set
with `Traffic.mark` (e.g. rollout-start/end) and optional events (e.g. endpoint changes) are
vertical lines across both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from localenv.traffic import TrafficReport, percentile

BIN_SECONDS = 0.1
FAILURE_COLOUR = "#d62728"
RETRY_COLOUR = "#ff7f0e"
# Old version blue, new version green, anything further from a colour-blind-safe cycle.
VERSION_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def write_timeline(
    report: TrafficReport,
    path: str | Path,
    title: str,
    events: Sequence[tuple[float, str]] | None = None,
) -> Path:
    """Draw `report` as a PNG at `path` (parent directories are created) and return the path.

    `events` are (seconds since the traffic started, label) pairs, e.g. endpoint changes placed on
    the traffic's axis with `TrafficReport.to_traffic_time`.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    last_t = max([report.duration, *(r.t for r in report.responses)], default=0.0)
    bins = max(1, math.ceil(last_t / BIN_SECONDS))
    starts = [i * BIN_SECONDS for i in range(bins)]
    versions = report.versions_in_order
    per_version = {v: [0] * bins for v in versions}
    failures = [0] * bins
    retried = [0] * bins
    latencies: list[list[float]] = [[] for _ in range(bins)]
    for r in report.responses:
        index = min(bins - 1, int(r.t / BIN_SECONDS))
        if r.ok and r.version in per_version:
            per_version[r.version][index] += 1
        elif not r.ok:
            failures[index] += 1
        if r.retried:
            retried[index] += 1
        if r.status != 0:
            latencies[index].append(r.latency_ms)

    figure, (counts, latency) = plt.subplots(
        2, 1, figsize=(11, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}, layout="constrained"
    )
    bottom = [0] * bins
    for index, version in enumerate(versions):
        heights = per_version[version]
        counts.bar(
            starts,
            heights,
            width=BIN_SECONDS,
            bottom=bottom,
            align="edge",
            color=VERSION_COLOURS[index % len(VERSION_COLOURS)],
            label=f"{version} ({sum(heights):,})",
            linewidth=0,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    counts.bar(
        starts,
        failures,
        width=BIN_SECONDS,
        bottom=bottom,
        align="edge",
        color=FAILURE_COLOUR,
        label=f"failed ({report.failed:,})",
        linewidth=0,
    )
    # A shaded column per failing bin, and an orange tick per bin with a retry: one failure among a
    # hundred answers is invisible as a bar, but not as a column across the whole panel.
    for start, failed_here in zip(starts, failures, strict=True):
        if failed_here:
            counts.axvspan(start, start + BIN_SECONDS, color=FAILURE_COLOUR, alpha=0.25, linewidth=0)
    retried_at = [s + BIN_SECONDS / 2 for s, n in zip(starts, retried, strict=True) if n]
    counts.plot(
        retried_at,
        [0.985] * len(retried_at),
        "|",
        color=RETRY_COLOUR,
        markersize=8,
        mew=2,
        transform=counts.get_xaxis_transform(),
        label=f"retried by ingress ({report.retried:,})",
    )
    counts.set_ylabel(f"responses per {int(BIN_SECONDS * 1000)} ms")
    # Head room above the tallest bin keeps the legend off the data.
    counts.set_ylim(0, max([b + f for b, f in zip(bottom, failures, strict=True)], default=0) * 1.45 + 1)
    counts.grid(axis="y", alpha=0.3)

    centres = [s + BIN_SECONDS / 2 for s in starts]
    latency.plot(centres, [percentile(v, 0.5) for v in latencies], color="#555555", linewidth=1, label="p50")
    latency.plot(centres, [percentile(v, 0.99) for v in latencies], color="#000000", linewidth=1.2, label="p99")
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("seconds since traffic started")
    latency.set_ylim(bottom=0)
    latency.grid(alpha=0.3)
    latency.legend(loc="upper left", fontsize=8, frameon=False)

    for name, moment in sorted(report.marks.items(), key=lambda item: item[1]):
        for axis in (counts, latency):
            axis.axvline(moment, color="#333333", linestyle="--", linewidth=1)
        # Labelled at the foot of the panel: the legend owns the top.
        counts.annotate(
            name,
            (moment, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 4),
            textcoords="offset points",
            fontsize=8,
            rotation=90,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )
    for index, (moment, _label) in enumerate(events or ()):
        for axis in (counts, latency):
            axis.axvline(
                moment,
                color="#999999",
                linestyle=":",
                linewidth=0.8,
                label="endpoint change" if index == 0 and axis is counts else None,
            )

    counts.set_xlim(0, max(last_t, BIN_SECONDS))
    counts.legend(loc="upper left", fontsize=8, ncols=4, framealpha=0.9)
    p99 = report.latency_percentiles()["p99"]
    counts.set_title(
        f"{title}\n{report.total:,} requests · {report.failed:,} failed · {report.retried:,} retried · "
        f"p99 {p99:.1f} ms",
        fontsize=10,
    )
    figure.savefig(target, dpi=90)
    plt.close(figure)
    return target
