"""Fixtures for the local environment's tests: an environment per test that leaves no process behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.contract.routers import DEFAULT_ROUTER
from harness.local_environment import started_environment
from localenv import LocalEnvironment


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalEnvironment]:
    """A started local environment on a free port; every process it started is gone after the test.

    Its router is ingress-nginx unless a test asks:
    `@pytest.mark.parametrize("env", ROUTERS, indirect=True)`.
    """
    with started_environment(tmp_path / "env", router=getattr(request, "param", DEFAULT_ROUTER)) as environment:
        yield environment
