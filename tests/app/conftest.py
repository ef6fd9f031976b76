"""Fixtures for the app's tests: a fresh Flask app per test, and real gunicorn processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.version import BuildInfo
from app.web import Draining, create_app
from harness.gunicorn_processes import Gunicorn, gunicorn_environment, run_gunicorn, wait_until_serving


@pytest.fixture
def draining() -> Draining:
    """This test's own drain flag, so one test's drain never leaks into another."""
    return Draining()


@pytest.fixture
def build_info() -> BuildInfo:
    """The version and commit the test app serves."""
    return BuildInfo(version="v1.2.3", commit="0123abc")


@pytest.fixture
def app(draining: Draining, build_info: BuildInfo) -> Flask:
    """A freshly built app with a known version."""
    return create_app({"TESTING": True, "BUILD_INFO": build_info, "DRAINING": draining})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def start_gunicorn(tmp_path: Path) -> Iterator[Any]:
    """Start real gunicorn servers for one test; every process is killed afterwards, even on failure."""
    started: list[Gunicorn] = []

    def start(workers: int = 2, **env: str) -> Gunicorn:
        server = run_gunicorn(
            tmp_path / f"gunicorn-{len(started)}", gunicorn_environment(WEB_WORKERS=str(workers), **env)
        )
        started.append(server)
        wait_until_serving(server, workers)
        return server

    yield start
    for server in started:
        server.stop()
