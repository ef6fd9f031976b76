"""Run the real promtool (Debian's `prometheus` package) on generated rule files and unit tests.

Input series for `promtool test rules` are generated here from traffic phases, so each test says in
numbers what users went through ("an hour at 1000 req/s with 2 % failing") rather than in counters.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import slo
from app.slo import Scope


def promtool() -> str:
    """The promtool binary, or skip with what to install."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed: run `make system-packages` (Debian package prometheus)")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """promtool with `args`; its output is in the result for the assertion message."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, check=False)


def write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False, width=200), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Phase:
    """`seconds` of traffic at `rate` requests per second, a `bad` share of them failing the objective."""

    seconds: float
    rate: float
    bad: float = 0.0


def counters(phases: Sequence[Phase], interval: float) -> tuple[list[float], list[float]]:
    """(all, bad) counter values sampled every `interval` seconds through the phases, from 0."""
    everything, bad = [0.0], [0.0]
    for phase in phases:
        for _ in range(round(phase.seconds / interval)):
            everything.append(everything[-1] + phase.rate * interval)
            bad.append(bad[-1] + phase.rate * phase.bad * interval)
    return everything, bad


def series(name: str, labels: Mapping[str, str], values: Iterable[float | None]) -> dict[str, str]:
    """One `input_series` entry; None is a missing sample (promtool's `_`)."""
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": " ".join("_" if v is None else f"{v:.6g}" for v in values)}


def edge_traffic(scope: Scope, phases: Sequence[Phase], interval: float) -> list[dict[str, str]]:
    """The ingress's request counters for the app's Ingress: 200s and 502s (bad) to the stable backend."""
    everything, bad = counters(phases, interval)
    base = {
        "namespace": scope.namespace,
        "ingress": scope.ingress,
        "service": scope.ingress,
        "canary": "",
        "method": "GET",
        "path": "/",
    }
    assert {*base, "status"} == set(slo.INGRESS_REQUEST_LABELS)  # ingress-nginx's per-request labels
    return [
        series(slo.INGRESS_REQUESTS, {**base, "status": "200"}, [a - b for a, b in zip(everything, bad, strict=True)]),
        series(slo.INGRESS_REQUESTS, {**base, "status": "502"}, bad),
    ]


POD = {"job": "example-app", "instance": "10.0.0.7:8080", "pod": "web-abc12"}
# Good page requests take 0.02 s, bad ones 0.3 s: either side of the latency bound, inside the buckets.
FAST_S, SLOW_S = 0.02, 0.3
assert FAST_S < slo.LATENCY_THRESHOLD < SLOW_S < slo.LATENCY_BUCKETS[-1]


def page_traffic(
    scope: Scope, phases: Sequence[Phase], interval: float, version: str = "v1", pod: Mapping[str, str] = POD
) -> list[dict[str, str]]:
    """One pod's page histogram (bad = slower than the latency bound) and its `target_info`."""
    everything, slow = counters(phases, interval)
    labels = {
        "namespace": scope.namespace,
        **pod,
        slo.ROUTE_LABEL: slo.PAGE_PATH,
        slo.METHOD_LABEL: "GET",
        slo.STATUS_LABEL: "200",
        slo.SCHEME_LABEL: "http",
    }
    fast = [a - s for a, s in zip(everything, slow, strict=True)]
    found = [series(slo.REQUEST_COUNT, labels, everything)]
    for bound in slo.LATENCY_BUCKETS:
        within = [
            (f if bound >= FAST_S else 0) + (s if bound >= SLOW_S else 0) for f, s in zip(fast, slow, strict=True)
        ]
        found.append(series(slo.REQUEST_BUCKET, {**labels, "le": slo.le_label(bound)}, within))
    found.append(series(slo.REQUEST_BUCKET, {**labels, "le": "+Inf"}, everything))
    info = {"namespace": scope.namespace, **pod, slo.SERVICE_NAME_LABEL: slo.SERVICE_NAME, slo.VERSION_LABEL: version}
    found.append(series(slo.BUILD_INFO, info, [1] * len(everything)))
    return found


def constant(name: str, labels: Mapping[str, str], value: float, samples: int) -> dict[str, str]:
    """A gauge that holds `value` for `samples` samples."""
    return series(name, labels, [value] * samples)
