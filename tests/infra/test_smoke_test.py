"""The SmokeTest provider run directly against the real app on loopback, as `pulumi up` would run it."""

from __future__ import annotations

import base64
import pickletools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from app.contract import AppSettings
from app.timing import Timing
from harness.appserver import REPO_ROOT, RunningApp, serve_app
from harness.mocked_components import run_mocked
from harness.pulumi_engine import load_project, provider_environment, start_dynamic_provider_host
from infra.smoke_test import SmokeCheckError, SmokeTest, SmokeTestArgs, SmokeTestProvider, smoke_test_args
from infra.workload import Workload, WorkloadArgs
from localenv import LocalEnvironment

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def app_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with serve_app("v1.0.0", tmp_path_factory.mktemp("gunicorn")) as running:
        yield running


def props(url: str, version: str, **changes: Any) -> dict[str, Any]:
    # As the engine hands them over: numbers as floats.
    base = {
        "base_url": url,
        "expected_version": version,
        "consecutive": 2.0,
        "timeout": 2.0,
        "interval": 0.05,
        "ca_bundle": "",
        "report": None,
    }
    return {**base, **changes}


def test_create_passes_when_the_release_answers(app_v1: RunningApp) -> None:
    result = SmokeTestProvider().create(props(app_v1.url, "v1.0.0"))
    assert result.id == f"{app_v1.url}@v1.0.0"
    assert result.outs is not None
    assert result.outs["expected_version"] == "v1.0.0"
    assert "passed" in result.outs["report"] and "v1.0.0 ×2" in result.outs["report"]


def test_create_with_the_wrong_version_fails_with_what_it_saw(app_v1: RunningApp) -> None:
    with pytest.raises(SmokeCheckError) as failure:
        SmokeTestProvider().create(props(app_v1.url, "v2.0.0", timeout=0.5))
    message = str(failure.value)
    assert message.startswith(f"Smoke test of {app_v1.url} for version v2.0.0: FAILED")
    assert "/version did not report v2.0.0 on 2 consecutive requests within 0.5 s" in message
    assert "saw: v1.0.0 ×" in message
    assert "the page / shows 'v1.0.0', expected 'v2.0.0'" in message


def test_update_checks_the_new_version(app_v1: RunningApp) -> None:
    provider = SmokeTestProvider()
    old = props(app_v1.url, "v0.9.0")
    result = provider.update("id", old, props(app_v1.url, "v1.0.0"))
    assert result.outs is not None and "passed" in result.outs["report"]
    with pytest.raises(SmokeCheckError, match=r"did not report v3\.0\.0"):
        provider.update("id", old, props(app_v1.url, "v3.0.0", timeout=0.3))


def test_two_releases_through_the_local_environment(tmp_path: Path) -> None:
    """As `pulumi up` runs it twice: create after the first deploy, update after the next rollout."""
    provider = SmokeTestProvider()
    patient = {"consecutive": 4.0, "timeout": 30.0}
    with LocalEnvironment(tmp_path / "env", port=0) as env:
        env.up(version="v1.0.0", replicas=2)
        created = provider.create(props(env.url, "v1.0.0", **patient))
        assert created.outs is not None
        release = props(env.url, "v1.1.0", **patient)
        assert provider.diff(created.id, created.outs, release).changes
        rollout = env.deploy("v1.1.0")  # pulumi-kubernetes waits for this before the smoke resource runs
        assert rollout.ok, rollout.message
        updated = provider.update(created.id, created.outs, release)
        assert updated.outs is not None and "v1.1.0 ×4" in updated.outs["report"]
        with pytest.raises(SmokeCheckError, match=r"saw: v1\.1\.0 ×"):  # a tag that never rolled out
            provider.update(created.id, release, props(env.url, "v1.2.0", timeout=1.0))


def test_diff_runs_again_only_when_what_is_checked_changes() -> None:
    provider = SmokeTestProvider()
    old = {**props("https://a.example.com", "v1"), "report": "Smoke test … passed"}
    assert not provider.diff("id", old, props("https://a.example.com", "v1")).changes
    for key, value in [("expected_version", "v2"), ("base_url", "https://b.example.com"), ("consecutive", 6.0)]:
        diff = provider.diff("id", old, props("https://a.example.com", "v1", **{key: value}))
        assert diff.changes, key
        assert diff.replaces == [], key


URN = "urn:pulumi:int::example-app::pulumi-python:dynamic:Resource::int-smoke"


def test_the_engines_provider_host_runs_the_stored_provider_where_the_engine_starts_it(
    app_v1: RunningApp, tmp_path: Path
) -> None:
    """As preview, up and destroy drive it: the launcher's python, in the plugin directory, over gRPC.

    The provider travels pickled inside the resource's properties (`__provider`) as a reference to
    infra.smoke_test.SmokeTestProvider, which the host imports from the installed work tree.
    """
    project = load_project(REPO_ROOT)
    launch = project.provider_launch()
    assert launch.starts, launch.refusal
    where = subprocess.run(
        [launch.command[0], "-c", "import infra.smoke_test as m; print(m.__file__)"],
        cwd=project.location.pwd,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert where.returncode == 0, f"the provider's host cannot import infra: run `make setup`\n{where.stderr}"
    assert Path(where.stdout.strip()) == REPO_ROOT / "infra" / "smoke_test.py", "the host must run this work tree"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PULUMI_PROJECT": "example-app",
        **provider_environment(project.runtime_options),
    }
    stored = {"__provider": serialize_provider(SmokeTestProvider())}
    first = {**props(app_v1.url, "v1.0.0"), **stored}
    with start_dynamic_provider_host(launch, project.location.pwd, env) as host:
        host.configure()
        checked = host.check(URN, first)  # preview
        assert checked["expected_version"] == "v1.0.0"
        id_, outs = host.create(URN, checked)
        assert id_ == f"{app_v1.url}@v1.0.0"
        assert "passed" in outs["report"] and outs["__provider"] == stored["__provider"]
        wrong = {**props(app_v1.url, "v9.9.9", timeout=0.5), **stored}
        assert host.diff(URN, id_, outs, wrong)
        with pytest.raises(grpc.RpcError) as failure:  # what `pulumi up` prints for a release that did not answer
            host.update(URN, id_, outs, wrong)
        details = failure.value.details()
        assert f"SmokeCheckError: Smoke test of {app_v1.url} for version v9.9.9: FAILED" in details, details
        assert "saw: v1.0.0 ×" in details, details
        host.delete(URN, id_, outs)  # `pulumi destroy`: the provider comes from the state


def test_the_state_stores_the_provider_by_name_not_its_code() -> None:
    stored = base64.b64decode(serialize_provider(SmokeTestProvider()))
    strings = [arg for _, arg, _ in pickletools.genops(stored) if isinstance(arg, str)]
    assert strings[:2] == ["infra.smoke_test", "SmokeTestProvider"], strings[:8]
    assert "check_release" not in strings, "the provider's code travels by value again"


@pytest.mark.parametrize(
    ("replicas", "progress_deadline", "consecutive", "timeout"),
    [
        (2, 300, 5, 335.0),  # at least the release patience's 5 in a row; a rollout may take 300 + grace 35 s
        (3, 300, 6, 335.0),  # two answers from each pod in a row
        (5, 300, 10, 335.0),
        (3, 60, 6, 120.0),  # a quick rollout still waits the release patience's 120 s (DNS, first certificate)
    ],
)
def test_args_from_settings_are_sized_to_the_stack(
    replicas: int, progress_deadline: int, consecutive: int, timeout: float
) -> None:
    app = AppSettings(
        image_repository="example-app",
        image_tag="v1.2.3",
        host="example-app.example.com",
        replicas=replicas,
        max_replicas=max(replicas, 6),
        timing=Timing(progress_deadline=progress_deadline),
    )
    args = smoke_test_args(app, "https://example-app.example.com")
    assert (args.expected_version, args.consecutive, args.timeout) == ("v1.2.3", consecutive, timeout)


@pytest.mark.parametrize(
    ("patience", "refusal"),
    [
        ({"consecutive": 0}, "consecutive must be ≥ 1, got 0"),
        ({"interval": 0.0}, "interval must be > 0 s, got 0.0"),
        ({"consecutive": 10, "timeout": 5.0}, "timeout 5 s is shorter than 10 polls 1 s apart"),
    ],
)
def test_impossible_args_are_refused_with_the_values(patience: dict[str, float], refusal: str) -> None:
    args = SmokeTestArgs(base_url="https://x.example.com", expected_version="v1", **patience)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"smoke test smoke: {refusal}"):
        SmokeTest("smoke", args)


def test_smoke_resource_runs_after_the_deployment_and_the_ingress() -> None:
    app = AppSettings(image_repository="example-app", image_tag="v1.2.3", host="example-app.example.com")

    def program() -> Any:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        workload = Workload("app", WorkloadArgs(settings=app, provider=provider))
        smoke = SmokeTest(
            "app-smoke",
            smoke_test_args(app, workload.url),
            opts=pulumi.ResourceOptions(depends_on=[workload.deployment, *workload.route()]),
        )
        return smoke.id

    recording = run_mocked(program)
    smoke = recording.resources["app-smoke"]
    assert smoke.type == "pulumi-python:dynamic:Resource"
    assert {recording.urn_name(urn) for urn in smoke.dependencies} >= {"app-deployment", "app-ingress"}
    assert smoke.inputs["expected_version"] == "v1.2.3"
    assert smoke.inputs["base_url"] == "http://example-app.example.com"
