"""The release view from local data: the release dashboard's main panels, drawn from the local Prometheus.

`python -m localenv.release_view --out localenv/assets/release-view.png` brings a throw-away environment up
with monitoring on, sends steady traffic, rolls v1 → v2, and asks Prometheus (over its HTTP API) for the
dashboard's own queries (app/contract/dashboard.py) over that span: requests by version, error ratio,
page latency, pods by version and readiness — the panels a person watches during a release.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app import slo
from app.contract import dashboard, rules
from app.serving import PAGE_PATH
from localenv.environment import LocalEnvironment
from localenv.errors import LocalEnvError
from localenv.monitoring import PrometheusAPI
from localenv.traffic import Traffic, TrafficPlan

PANELS = ("Requests by version and backend", "Error ratio", "Page latency (/)", "Pods by version and readiness")
"""The dashboard panels of the release view, by title, top to bottom."""
STEADY_S = 10.0
AFTER_S = 10.0
RATE_INTERVAL = slo.duration(4 * slo.LOCAL.scrape_interval)  # Grafana's $__rate_interval floor
Series = tuple[str, list[tuple[float, float]]]
"""One line of a panel: its legend and (seconds since the traffic started, value) points."""


def _legend(template: str, metric: dict[str, str]) -> str:
    for key, value in metric.items():
        template = template.replace(f"{{{{{key}}}}}", value or "stable")
    return template.replace("{{canary}}", "stable")


def capture(requests_per_second: float = 200.0) -> tuple[dict[str, Any], dict[str, list[Series]], float]:
    """Run the release and return the dashboard, each panel's series [(legend, values)], and the rollout start."""
    scope = rules.scope_named("example-app", "example-app")
    board = dashboard.release_dashboard(scope, slo.LOCAL)
    with (
        tempfile.TemporaryDirectory(prefix="example-app-release-view-") as state,
        LocalEnvironment(state, port=0, monitoring=True) as env,
    ):
        env.up("v1")
        plan = TrafficPlan(
            url=env.url + PAGE_PATH,
            keepalive_clients=2,
            fresh_clients=2,
            max_requests=1_000_000,
            max_seconds=STEADY_S + AFTER_S + 60.0,
            requests_per_second=requests_per_second,
        )
        with Traffic(plan):
            start = time.time()
            time.sleep(STEADY_S)
            deployed = time.time()
            if not env.deploy("v2").ok:
                raise LocalEnvError("the rollout v1 → v2 did not complete")
            time.sleep(AFTER_S)
            end = time.time()
        found = panel_series(env.monitoring.api, board, start, end)
    return board, found, deployed - start


def panel_series(api: PrometheusAPI, board: dict[str, Any], start: float, end: float) -> dict[str, list[Series]]:
    """Each release-view panel's series from Prometheus over [start, end], as the dashboard queries them:
    [(legend, [(seconds since start, value)])]."""
    found: dict[str, list[Series]] = {}
    for panel in board["panels"]:
        if panel["title"] not in PANELS:
            continue
        found[panel["title"]] = [
            (
                _legend(target["legendFormat"], series["metric"]),
                [(float(t) - start, float(v)) for t, v in series["values"]],
            )
            for target in panel["targets"]
            for series in api.query_range(
                target["expr"].replace(dashboard.RATE_INTERVAL, RATE_INTERVAL),
                start,
                end,
                slo.LOCAL.scrape_interval,
            )
        ]
    return found


def draw(found: dict[str, list[Series]], deployed_at: float, path: Path) -> Path:
    """One row per panel, time since the traffic started on x, the deploy marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(PANELS), 1, figsize=(10, 2.4 * len(PANELS)), sharex=True)
    for axis, title in zip(axes, PANELS, strict=True):
        series = found.get(title, [])
        for legend, values in series:
            axis.plot([t for t, _ in values], [v for _, v in values], label=legend)
        axis.axvline(deployed_at, color="tab:blue", linestyle="--", linewidth=1)
        axis.set_title(title, fontsize=10, loc="left")
        axis.legend(fontsize=7, loc="upper left", ncol=3)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds (dashed: deploy v1 → v2)")
    figure.suptitle("Release view from the local Prometheus (the release dashboard's panels)", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    """Capture a release and draw it; 1 with one line on a local environment error."""
    parser = argparse.ArgumentParser(prog="python -m localenv.release_view", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/release-view.png", help="PNG to write")
    args = parser.parse_args(argv)
    try:
        _, found, deployed_at = capture()
    except LocalEnvError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"release view: {draw(found, deployed_at, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
