"""Fixtures for the rendered manifests' tests: each real stack's settings (harness.stack_settings)."""

from __future__ import annotations

import pytest

from harness.project_files import stack_names
from harness.stack_settings import stack_settings
from stacks.settings import StackSettings


@pytest.fixture(scope="session", params=stack_names())
def stack(request: pytest.FixtureRequest) -> StackSettings:
    """Each real stack in turn."""
    return stack_settings(request.param)
