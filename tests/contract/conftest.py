"""Fixtures for the deployment contract's tests: one valid set of settings to vary from."""

from __future__ import annotations

from typing import Any

import pytest

from app.contract import AppSettings
from harness.app_settings import REPOSITORY


@pytest.fixture
def valid() -> dict[str, Any]:
    """Keyword arguments of a deployable AppSettings; tests change one thing at a time."""
    return {"image_repository": REPOSITORY, "image_tag": "v1.2.3", "host": "app.example.test"}


@pytest.fixture
def settings(valid: dict[str, Any]) -> AppSettings:
    return AppSettings(**valid)
