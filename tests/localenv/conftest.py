"""Fixtures for the local environment's tests: an environment per test that leaves no process behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.contract.routers import DEFAULT_ROUTER
from harness.local_environment import processes_under, wait_all_gone
from localenv import LocalEnvError, LocalEnvironment


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalEnvironment]:
    """A started local environment on a free port; every process it started is gone after the test.

    Its router is ingress-nginx unless a test asks:
    `@pytest.mark.parametrize("env", ROUTERS, indirect=True)`.
    """
    environment = LocalEnvironment(tmp_path / "env", port=0, router=getattr(request, "param", DEFAULT_ROUTER))
    environment.start()
    pids: list[int] = []
    try:
        yield environment
    finally:
        with contextlib.suppress(LocalEnvError):
            pids = environment.pids()
        environment.down()
    assert wait_all_gone(pids) == [], "processes left behind after down()"
    assert processes_under(tmp_path / "env") == []
