"""Builders for the core's tables: a Deployment spec and its pod template, with only the numbers a case names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from localenv.spec import DeploymentSpec, PodTemplate, Probe

SpecFactory = Callable[..., DeploymentSpec]


def probe(path: str = "/readyz", **numbers: Any) -> Probe:
    """An httpGet probe with Kubernetes' defaults unless a case says otherwise."""
    fields: dict[str, Any] = {
        "initial_delay": 0.0,
        "period": 10.0,
        "timeout": 1.0,
        "success_threshold": 1,
        "failure_threshold": 3,
    }
    fields.update(numbers)
    return Probe(path=path, **fields)


def template(version: str = "v1", **fields: Any) -> PodTemplate:
    """A pod template serving `version`; no probes, no preStop, grace 30 s unless given."""
    values: dict[str, Any] = {
        "image": f"example-app:{version}",
        "env": (("APP_VERSION", version),),
        "startup_probe": None,
        "readiness_probe": None,
        "liveness_probe": None,
        "pre_stop_sleep": 0.0,
        "termination_grace": 30.0,
    }
    values.update(fields)
    return PodTemplate(**values)


@pytest.fixture
def make_spec() -> SpecFactory:
    """A factory of Deployment specs: `make_spec(replicas=10, max_surge=2, max_unavailable=0)`."""

    def build(**fields: Any) -> DeploymentSpec:
        values: dict[str, Any] = {
            "name": "app",
            "replicas": 10,
            "max_surge": 0,
            "max_unavailable": 0,
            "min_ready": 0.0,
            "progress_deadline": 600.0,
            "revision_history_limit": 10,
            "template": template(),
        }
        values.update(fields)
        return DeploymentSpec(**values)

    return build


@pytest.fixture
def make_template() -> Callable[..., PodTemplate]:
    """A factory of pod templates: `make_template("v2", pre_stop_sleep=1.0)`."""
    return template


@pytest.fixture
def make_probe() -> Callable[..., Probe]:
    """A factory of probes: `make_probe(failure_threshold=1)`."""
    return probe
