"""The production entry point gunicorn loads (`app.wsgi:application`)."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_entry_point_serves_the_version_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_VERSION", "v8.0.1")
    monkeypatch.delitem(sys.modules, "app.wsgi", raising=False)
    wsgi = importlib.import_module("app.wsgi")
    assert wsgi.application.test_client().get("/version").get_json()["version"] == "v8.0.1"
    # Only the real routes: the test-only /slow and /worker live in tests/harness/wsgi_with_slow_route.py.
    assert set(wsgi.application.view_functions) == {"static", "page", "version", "healthz", "readyz", "metrics_page"}
