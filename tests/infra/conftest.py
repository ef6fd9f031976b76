"""Fixtures for the Pulumi program's tests: the real program under Pulumi's mocks (harness.mocked_stack)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.mocked_stack import RELEASE_TAG, Graph, Run, run_program, run_stack


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated EncryptionControl type whenever its ec2 module loads;
    # the program never uses that type, so the warning is noise in every infra test.
    config.addinivalue_line("filterwarnings", "ignore:aws.ec2/encryptioncontrol:DeprecationWarning")


@pytest.fixture(scope="session")
def stack_graph() -> Callable[[str], Graph]:
    """The graph of a real stack file under mocks, built once per test session per stack."""
    cache: dict[str, Graph] = {}

    def get(stack: str) -> Graph:
        if stack not in cache:
            cache[stack] = run_stack(stack, {"imageTag": RELEASE_TAG}, allow_placeholders=True)
        return cache[stack]

    return get


@pytest.fixture(name="run_program")
def run_program_fixture() -> Callable[..., Run]:
    """Run a stack with config overrides (None deletes a key), e.g. run_program("prd", {"replicas": 2}).

    Placeholders are allowed unless `allow_placeholders=False`; other keywords go to `run_stack` (harness.mocked_stack).
    """
    return run_program
