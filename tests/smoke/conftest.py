"""The smoke suite's options and the release it checks: a deployed environment, or a fresh local one.

    pytest tests/smoke --base-url https://example-app.int.example.com --expected-version v1.2.3

checks that environment (only the tests that take the `release` fixture run then). Without
--base-url — the normal `make test` run — the same tests run against a release made here: the local
environment (localenv: real nginx, real gunicorn pods) up at one version and rolled out to the next.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.smoke import RELEASE_PATIENCE, CheckResult, Patience, validate_base_url, wait_for_version
from app.version import is_valid_tag
from harness.smoke_release import LOCAL_FIRST_VERSION, LOCAL_RELEASED_VERSION, LOCAL_REPLICAS, LocalRollout, Release
from localenv import LocalEnvironment


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of `pytest tests/smoke`; the deploy pipeline passes the stack's URL and the tag it deployed."""
    group = parser.getgroup("smoke", "post-deploy smoke test (tests/smoke)")
    group.addoption("--base-url", default=None, help="environment to check, e.g. https://example-app.example.com")
    group.addoption("--expected-version", default=None, help="the image tag that must be answering, e.g. v1.2.3")
    group.addoption("--ca-bundle", default=None, help="PEM file of CAs to trust (e.g. Let's Encrypt staging roots)")
    group.addoption(
        "--smoke-consecutive", type=int, default=RELEASE_PATIENCE.consecutive, help="matching /version answers in a row"
    )
    group.addoption(
        "--smoke-timeout", type=float, default=RELEASE_PATIENCE.timeout, help="seconds to wait for the version"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Refuse inconsistent options before anything runs, with one sentence each."""
    base_url = config.getoption("--base-url", default=None)
    version = config.getoption("--expected-version", default=None)
    if base_url is None:
        if version is not None:
            raise pytest.UsageError("--expected-version needs --base-url: name the environment to check")
        return
    problem = validate_base_url(base_url)
    if problem:
        raise pytest.UsageError(f"--base-url: {problem}")
    if not version:
        raise pytest.UsageError("--base-url needs --expected-version: the image tag that should answer, e.g. v1.2.3")
    if not is_valid_tag(version):
        raise pytest.UsageError(f"--expected-version {version!r} is not an image tag; use the release tag, e.g. v1.2.3")
    try:
        _patience(config)
    except ValueError as error:
        raise pytest.UsageError(f"--smoke-consecutive/--smoke-timeout: {error}") from None


def _patience(config: pytest.Config) -> Patience:
    """How hard the suite looks at a deployed environment: its options over the release patience."""
    return Patience(
        consecutive=config.getoption("--smoke-consecutive"),
        timeout=config.getoption("--smoke-timeout"),
        interval=RELEASE_PATIENCE.interval,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against a deployed environment run only the checks of that release, not the library's own tests."""
    if config.getoption("--base-url", default=None) is None:
        return
    smoke_dir = Path(__file__).parent
    own = [item for item in items if smoke_dir in Path(str(item.path)).parents]
    deselected = [item for item in own if "release" not in getattr(item, "fixturenames", ())]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(scope="session")
def local_rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRollout]:
    """The local environment (real nginx, real gunicorn pods) at one version, then rolled to the next."""
    with LocalEnvironment(tmp_path_factory.mktemp("smoke-env"), port=0) as env:
        env.up(version=LOCAL_FIRST_VERSION, replicas=LOCAL_REPLICAS)
        polled: list[CheckResult] = []
        poller = threading.Thread(
            target=lambda: polled.append(
                wait_for_version(
                    env.url, LOCAL_RELEASED_VERSION, patience=Patience(consecutive=4, timeout=60, interval=0.05)
                )
            )
        )
        poller.start()
        try:
            rollout = env.deploy(LOCAL_RELEASED_VERSION)
        finally:
            poller.join(timeout=90)
        assert rollout.ok, rollout.message
        release = Release(
            base_url=env.url,
            expected_version=LOCAL_RELEASED_VERSION,
            patience=Patience(consecutive=2 * LOCAL_REPLICAS, timeout=30, interval=RELEASE_PATIENCE.interval),
        )
        yield LocalRollout(release=release, rollout=rollout, polled_during_rollout=polled[0])


@pytest.fixture(scope="session")
def release(request: pytest.FixtureRequest) -> Release:
    """The environment named by --base-url, or else the local release."""
    config = request.config
    base_url = config.getoption("--base-url", default=None)
    if base_url is None:
        local: LocalRollout = request.getfixturevalue("local_rollout")
        return local.release
    return Release(
        base_url=base_url,
        expected_version=config.getoption("--expected-version"),
        verify=config.getoption("--ca-bundle") or True,
        patience=_patience(config),
    )
