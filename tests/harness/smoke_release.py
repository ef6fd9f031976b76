"""What the smoke suite checks (a Release) and the release it makes here when no environment is named."""

from __future__ import annotations

from dataclasses import dataclass

from app.smoke import RELEASE_PATIENCE, CheckResult, Patience
from localenv import RolloutResult

LOCAL_FIRST_VERSION = "v0.0.1-smoke"
LOCAL_RELEASED_VERSION = "v0.0.2-smoke"
LOCAL_REPLICAS = 2


@dataclass(frozen=True, kw_only=True)
class Release:
    """What the smoke tests check: where the release answers, which version it must report, and how hard to look."""

    base_url: str
    expected_version: str
    verify: bool | str = True
    patience: Patience = RELEASE_PATIENCE


@dataclass(frozen=True, kw_only=True)
class LocalRollout:
    """A release made here: the local environment moved from one version to the next, polled throughout."""

    release: Release
    rollout: RolloutResult
    polled_during_rollout: CheckResult
    """`wait_for_version` started before the deploy began: it saw the old version, then the new one."""
