"""The post-deploy smoke suite: each check of app/smoke.py as its own test against one release.

`pytest tests/smoke --base-url URL --expected-version TAG` runs these against a deployed stack (the
deploy pipeline does, after each `pulumi up`); `make test` runs them against a local release.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app import smoke
from harness.smoke_release import Release


def _require(result: smoke.CheckResult) -> None:
    """Fail with the check's own words and its last requests: the reader is a deploy job's log."""
    if not result.ok:
        seen = "\n".join(f"    {o.describe()}" for o in result.observations[-10:])
        pytest.fail("\n".join(result.problems) + f"\n  last requests:\n{seen}", pytrace=False)


def test_version_reports_the_release_on_consecutive_requests(release: Release) -> None:
    result = smoke.wait_for_version(
        release.base_url,
        release.expected_version,
        patience=release.patience,
        verify=release.verify,
    )
    _require(result)
    last = result.observations[-release.patience.consecutive :]
    assert {o.seen for o in last} == {release.expected_version}


def test_healthz_answers_200(release: Release) -> None:
    result = smoke.check_health(release.base_url, verify=release.verify)
    _require(result)


def test_page_shows_the_release(release: Release) -> None:
    result = smoke.check_page(release.base_url, release.expected_version, verify=release.verify)
    _require(result)


def test_tls_verifies_for_https(release: Release) -> None:
    if urlsplit(release.base_url).scheme != "https":
        pytest.skip(f"{release.base_url} is plain http: no certificate to verify")
    result = smoke.check_tls(release.base_url, verify=release.verify)
    _require(result)
