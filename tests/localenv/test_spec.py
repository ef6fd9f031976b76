"""The Deployment dict → what the controller obeys: fenceposts, probes, preStop, grace, defaults, refusals."""

from __future__ import annotations

import copy

import pytest

from app.contract.rollout import resolve_fenceposts
from app.timing import LOCAL_TIMING
from harness.local_environment import naive_deployment
from localenv import LocalEnvError, local_deployment, local_settings
from localenv.images import APP_IMAGE, CRASH_IMAGE, NEVER_READY_IMAGE, command_for
from localenv.spec import DeploymentSpec


def _with_strategy(replicas: int, surge: object, unavailable: object) -> DeploymentSpec:
    deployment = copy.deepcopy(local_deployment("v1", max(replicas, 2)))
    deployment["spec"]["replicas"] = replicas
    deployment["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return DeploymentSpec.from_manifest(deployment)


# Kubernetes' own TestResolveFenceposts cases (an unset value there is 0) plus the rounding rules.
FENCEPOSTS = [
    ("39%", "39%", 10, (4, 3)),
    (0, "39%", 10, (0, 3)),
    ("39%", 0, 10, (4, 0)),
    (0, 0, 10, (0, 1)),
    ("0%", "0%", 0, (0, 1)),
    ("25%", "25%", 3, (1, 0)),
    ("25%", "25%", 4, (1, 1)),
    (1, 0, 3, (1, 0)),
    ("100%", 0, 3, (3, 0)),
    ("1%", "99%", 10, (1, 9)),
]


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), FENCEPOSTS)
def test_fenceposts_resolve_like_kubernetes(
    surge: object, unavailable: object, replicas: int, expected: object
) -> None:
    assert _with_strategy(replicas, surge, unavailable).fenceposts() == expected
    assert resolve_fenceposts(surge, unavailable, replicas) == expected  # type: ignore[arg-type]


def test_absent_strategy_gets_kubernetes_defaults() -> None:
    deployment = copy.deepcopy(local_deployment("v1", 10))
    del deployment["spec"]["strategy"]
    del deployment["spec"]["progressDeadlineSeconds"]
    spec = DeploymentSpec.from_manifest(deployment)
    assert spec.fenceposts() == (3, 2)  # 25 % of 10: surge rounds up, unavailable rounds down
    assert spec.progress_deadline == 600


def test_contract_dict_is_read_field_by_field() -> None:
    spec = DeploymentSpec.from_manifest(local_deployment("v7", 3))
    template = spec.template
    assert (spec.replicas, spec.min_ready, spec.progress_deadline) == (3, LOCAL_TIMING.min_ready, 20)
    assert template.image == "example-app:v7" and template.version == "v7"
    assert template.pre_stop_sleep == LOCAL_TIMING.pre_stop
    assert template.termination_grace == LOCAL_TIMING.termination_grace
    assert template.readiness_probe is not None and template.readiness_probe.path == "/readyz"
    assert template.readiness_probe.period == LOCAL_TIMING.readiness_period
    assert template.liveness_probe is not None and template.liveness_probe.path == "/healthz"
    assert template.startup_probe is not None
    assert template.startup_probe.failure_threshold == LOCAL_TIMING.startup_failure_threshold
    assert dict(template.env)["GRACEFUL_TIMEOUT"] == str(LOCAL_TIMING.graceful_timeout)
    # The local controller bounds a rollout as a deploy tool on EKS does (infra/workload.py custom timeouts).
    assert spec.rollout_timeout == LOCAL_TIMING.rollout_timeout


def test_naive_dict_has_no_gates() -> None:
    template = DeploymentSpec.from_manifest(naive_deployment("v2")).template
    assert template.readiness_probe is None and template.startup_probe is None
    assert template.pre_stop_sleep == 0


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d["spec"].update(strategy={"type": "Recreate"}), "Recreate"),
        (lambda d: d["spec"]["strategy"].update(rollingUpdate={"maxSurge": "150%"}), "maxSurge"),
        (lambda d: d["spec"]["template"]["spec"]["containers"].append({}), "exactly one container"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinessProbe={"exec": {}}),
            "httpGet",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                lifecycle={"preStop": {"exec": {"command": ["sleep", "5"]}}}
            ),
            "preStop sleep",
        ),
    ],
)
def test_unsupported_fields_are_clear_errors(change: object, complaint: str) -> None:
    deployment = copy.deepcopy(local_deployment("v1"))
    change(deployment)  # type: ignore[operator]
    with pytest.raises(LocalEnvError, match=complaint):
        DeploymentSpec.from_manifest(deployment)


def test_profile_refuses_bad_tags_and_counts() -> None:
    with pytest.raises(LocalEnvError, match="not a valid image tag"):
        local_settings("bad tag")
    with pytest.raises(LocalEnvError, match="latest"):
        local_settings("latest")
    with pytest.raises(LocalEnvError, match="replicas"):
        local_settings("v1", replicas=1)


def test_images_map_to_commands_and_unknown_images_are_refused() -> None:
    assert "gunicorn" in command_for(APP_IMAGE)
    assert command_for(NEVER_READY_IMAGE)[-1] == "localenv.never_ready:application"
    assert command_for(CRASH_IMAGE)[-1] == "localenv.crash_on_start"
    with pytest.raises(LocalEnvError, match="not known locally"):
        command_for("nginx")
