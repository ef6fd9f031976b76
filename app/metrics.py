"""Prometheus metrics that add up across gunicorn's worker processes.

gunicorn forks several workers; each keeps its own counters. prometheus_client's multiprocess mode
writes them to files under PROMETHEUS_MULTIPROC_DIR (set by app/gunicorn.conf.py before workers
start) and sums them when /metrics is read, so any worker answers for all of them.

Names and labels follow OpenTelemetry's HTTP server conventions as exported to Prometheus; app/slo.py
holds them, says why, and builds every query that reads them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app import slo

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SERVER_ERROR_FROM = 500

# One histogram: its `_count` is the request counter (the convention defines no separate one).
# prometheus_client appends the unit itself, so the name is given without it.
REQUEST_DURATION = Histogram(
    slo.REQUEST_DURATION.removesuffix("_seconds"),
    "Duration of HTTP server requests.",
    list(slo.REQUEST_LABELS),
    unit="seconds",
    buckets=slo.LATENCY_BUCKETS,
)
# Info metrics are not supported in multiprocess mode; the specification's fallback is this gauge at 1.
BUILD_INFO = Gauge(
    slo.BUILD_INFO,
    "Target metadata",
    [slo.SERVICE_NAME_LABEL, slo.VERSION_LABEL, slo.REVISION_LABEL],
    multiprocess_mode="max",
)


def publish_build_info(version: str, commit: str) -> None:
    """Expose `target_info{service_name=…, service_version=…, vcs_ref_head_revision=…} 1`."""
    BUILD_INFO.labels(slo.SERVICE_NAME, version, commit).set(1)


def observe(route: str, method: str, status: int, seconds: float, scheme: str = "http") -> None:
    """Record one answered request: its route template, method, status, the client's scheme and duration."""
    # error.type on a server error is the status code as a string; absent (empty) on success.
    error_type = str(status) if status >= SERVER_ERROR_FROM else ""
    known = method if method in slo.KNOWN_METHODS else slo.OTHER_METHOD
    REQUEST_DURATION.labels(known, route, str(status), scheme, error_type).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """Metrics text for every worker of this pod (or this process alone outside gunicorn)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
