"""Prometheus metrics that add up across gunicorn's worker processes.

gunicorn forks several workers; each keeps its own counters. prometheus_client's multiprocess mode
writes them to files under PROMETHEUS_MULTIPROC_DIR (set by app/gunicorn.conf.py before workers
start) and sums them when /metrics is read, so any worker answers for all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("app_requests", "HTTP requests answered, by route, method and status", ["route", "method", "status"])
LATENCY = Histogram(
    "app_request_duration_seconds",
    "Time to answer a request, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Info metrics are not supported in multiprocess mode; a gauge fixed at 1 carries the same labels.
INFO = Gauge("app_info", "The version and commit this process serves", ["version", "commit"], multiprocess_mode="max")


def publish_build_info(version: str, commit: str) -> None:
    """Expose `app_info{version=...,commit=...} 1`."""
    INFO.labels(version=version, commit=commit).set(1)


def observe(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    LATENCY.labels(route=route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """Metrics text for every worker of this pod (or this process alone outside gunicorn)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
