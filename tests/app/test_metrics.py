"""Metrics that add up across processes: prometheus_client's multiprocess files, read back by any worker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import metrics
from harness.gunicorn_processes import REPO_ROOT, gunicorn_environment

# What one gunicorn worker does: count requests into its own files under PROMETHEUS_MULTIPROC_DIR.
WORKER = """
from app import metrics
metrics.publish_build_info("v5", "abc1234")
for _ in range({count}):
    metrics.observe("/version", "GET", 200, 0.003)
"""


def test_exposition_sums_the_files_of_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = gunicorn_environment(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    for count in (3, 4):  # two separate processes, like two workers
        subprocess.run(
            [sys.executable, "-c", WORKER.format(count=count)], cwd=REPO_ROOT, env=env, check=True, timeout=60
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = metrics.exposition()
    text = body.decode()
    assert content_type.startswith("text/plain; version=")
    count = r"^http_server_request_duration_seconds_count\{"
    assert re.search(count + r'(?=.*http_route="/version")(?=.*http_response_status_code="200").*\} 7\.0$', text, re.M)
    info = r'^target_info\{service_name="example-app",service_version="v5",vcs_ref_head_revision="abc1234"\} 1\.0$'
    assert re.search(info, text, re.MULTILINE)


def test_outside_gunicorn_the_process_reports_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics.observe("/healthz", "GET", 200, 0.001)
    body, _ = metrics.exposition()
    assert re.search(
        r'^http_server_request_duration_seconds_count\{(?=.*http_route="/healthz").*\} \d', body.decode(), re.MULTILINE
    )
