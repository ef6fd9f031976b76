"""Fixtures for the chart checks' tests: the tiny chart (harness.tiny_chart) in each test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tiny_chart import write_tiny_chart


@pytest.fixture
def tiny_chart(tmp_path: Path) -> Path:
    """The tiny chart in this test's tmp_path."""
    return write_tiny_chart(tmp_path)
