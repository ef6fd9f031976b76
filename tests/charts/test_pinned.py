"""The pinned-chart runner, offline: it takes releases from the program itself and pulls each chart once.

The render of the real charts needs their sources (CI's "charts" job pulls them); what can be proven here
is that the runner checks what the program really installs, with the program's values and versions.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from harness.chart_check import Expected, Release, check_release
from harness.chart_expectations import EXPECTED
from harness.pinned_charts import (
    RUNS,
    StackReleases,
    as_helm_number,
    chart_dir,
    charts_to_pull,
    check_stack,
    main,
    pull,
    stack_releases,
)
from harness.project_files import stack_names
from harness.stack_settings import stack_settings
from harness.tiny_chart import write_tiny_chart
from infra.helm_values import (
    CERT_MANAGER_CHART,
    INGRESS_NGINX_CHART,
    KUBE_PROMETHEUS_STACK_CHART,
    LOAD_BALANCER_CONTROLLER_CHART,
    METRICS_SERVER_CHART,
)

# pulumi_aws warns about its own deprecated type whenever the program loads it (as in tests/infra/conftest.py).
pytestmark = pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning")


@pytest.fixture(scope="module")
def releases() -> dict[str, StackReleases]:
    return {stack: stack_releases(stack) for stack in stack_names()}


@pytest.mark.parametrize("stack", stack_names())
def test_each_stacks_releases_are_the_programs(releases: dict[str, StackReleases], stack: str) -> None:
    found = releases[stack]
    settings = stack_settings(stack)
    assert {(r.chart, r.version, r.repository) for r in found.releases} == {
        (chart.name, chart.version, chart.repository)
        for chart in (
            INGRESS_NGINX_CHART,
            CERT_MANAGER_CHART,
            METRICS_SERVER_CHART,
            LOAD_BALANCER_CONTROLLER_CHART,
            KUBE_PROMETHEUS_STACK_CHART,
        )
    }
    assert found.kube_version == settings.cluster.version
    by_chart = {r.chart_name: r for r in found.releases}
    ingress = by_chart["ingress-nginx"]
    assert ingress.namespace == settings.app.router_namespace
    replicas = ingress.values["controller"]["replicaCount"]
    assert replicas == settings.platform.ingress_replicas and isinstance(replicas, int)
    assert by_chart["metrics-server"].values["replicas"] == settings.platform.metrics_server_replicas


@pytest.mark.parametrize("stack", stack_names())
def test_every_release_has_what_we_rely_on(releases: dict[str, StackReleases], stack: str) -> None:
    settings = stack_settings(stack)
    for release in releases[stack].releases:
        expected = EXPECTED[release.chart_name](release)
        assert expected, release.chart_name
    ingress = next(r for r in releases[stack].releases if r.chart_name == "ingress-nginx")
    replicas = [
        e for e in EXPECTED["ingress-nginx"](ingress) if isinstance(e, Expected) and e.field == ("spec", "replicas")
    ]
    assert [(e.kind, e.name, e.value) for e in replicas] == [
        ("Deployment", "ingress-nginx-controller", settings.platform.ingress_replicas)
    ]


def test_each_chart_is_pulled_once_at_its_pinned_version(releases: dict[str, StackReleases], tmp_path: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fetch(ref: str, **options: Any) -> dict[str, Any]:
        calls.append((ref, options))
        return {"output": ""}

    directories = pull(tmp_path, charts_to_pull(releases.values()), fetch=fetch)
    pulled = {ref: (options["version"], options["repo_url"]) for ref, options in calls}
    assert len(calls) == 5
    assert pulled == {
        LOAD_BALANCER_CONTROLLER_CHART.name: (
            LOAD_BALANCER_CONTROLLER_CHART.version,
            LOAD_BALANCER_CONTROLLER_CHART.repository,
        ),
        INGRESS_NGINX_CHART.name: (INGRESS_NGINX_CHART.version, INGRESS_NGINX_CHART.repository),
        CERT_MANAGER_CHART.name: (CERT_MANAGER_CHART.version, None),  # oci://: the reference names the registry
        METRICS_SERVER_CHART.name: (METRICS_SERVER_CHART.version, METRICS_SERVER_CHART.repository),
        KUBE_PROMETHEUS_STACK_CHART.name: (KUBE_PROMETHEUS_STACK_CHART.version, KUBE_PROMETHEUS_STACK_CHART.repository),
    }
    for (_, options), directory in zip(calls, directories, strict=True):
        assert options["untar"] is True and options["untar_dir"] == directory.parent
    assert tmp_path / "cert-manager-v1.21.1" / "cert-manager" in directories


def test_without_the_charts_the_check_says_what_to_run(releases: dict[str, StackReleases], tmp_path: Path) -> None:
    lines = [line for line in check_stack(tmp_path, releases["int"]) if " program " not in line]
    assert len(lines) == len(releases["int"].releases) == 5
    assert all("no chart at" in line and f"run `pull {tmp_path}` first" in line for line in lines)


def test_the_command_fails_when_a_stack_has_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path), "--stack", "int"]) == 1
    out = capsys.readouterr().out
    assert "int: ingress-nginx 4.15.1 as `ingress-nginx` in ingress-nginx, Kubernetes 1.35" in out
    assert "charts: findings above" in out


def test_a_chart_lands_where_the_check_looks(releases: dict[str, StackReleases], tmp_path: Path) -> None:
    ingress = next(r for r in releases["prd"].releases if r.chart_name == "ingress-nginx")
    assert chart_dir(tmp_path, ingress) == tmp_path / "ingress-nginx-4.15.1" / "ingress-nginx"


def test_whole_pulumi_numbers_reach_helm_as_integers() -> None:
    assert as_helm_number({"a": 2.0, "b": [1.5, 3.0], "c": "2.0"}) == {"a": 2, "b": [1.5, 3], "c": "2.0"}
    assert isinstance(as_helm_number(2.0), int)


@pytest.fixture
def chart_repository(tmp_path: Path) -> Iterator[str]:
    """A Helm chart repository on loopback (port picked by the kernel) holding the tiny chart, 0.1.0."""
    served = tmp_path / "repository"
    served.mkdir()
    helm.package(write_tiny_chart(tmp_path / "source"), destination=served)
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_port}"
    helm.repo_index_generate(served, base_url=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_chart_is_pulled_from_its_repository_where_the_check_finds_it(chart_repository: str, tmp_path: Path) -> None:
    # The real pull (Helm through helm-python-sdk), from a repository on loopback, in a process of its own
    # whose Helm cache and configuration live in tmp_path rather than the user's home.
    root, home = tmp_path / "charts", tmp_path / "home"
    release = {"chart": "tiny", "version": "0.1.0", "repository": chart_repository, "name": "demo", "namespace": "d"}
    script = (
        "import json, sys; from pathlib import Path; from harness.pinned_charts import Release, pull; "
        "print(pull(Path(sys.argv[1]), [Release(**json.loads(sys.argv[2]))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root), json.dumps(release)],
        cwd=Path(__file__).resolve().parents[2],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pulled = chart_dir(root, Release(**release))
    assert (pulled / "Chart.yaml").is_file()
    assert check_release(pulled, Release(**release), kube_version="1.35") == []


def test_the_gateway_api_variant_installs_envoy_gateway_in_place_of_ingress_nginx() -> None:
    from infra.envoy_gateway import ENVOY_GATEWAY_CHART

    found = stack_releases("prd-gateway-api")
    charts = {(r.chart, r.version) for r in found.releases}
    assert (ENVOY_GATEWAY_CHART.name, ENVOY_GATEWAY_CHART.version) in charts
    assert (INGRESS_NGINX_CHART.name, INGRESS_NGINX_CHART.version) not in charts
    by_chart = {r.chart_name: r for r in found.releases}
    assert by_chart["gateway-helm"].namespace == "envoy-gateway-system"
    assert by_chart["cert-manager"].values["config"]["gatewayAPI"] == {"enabled": True}
    assert EXPECTED["gateway-helm"](by_chart["gateway-helm"])
    assert "prd-gateway-api" in RUNS


def test_the_programs_own_custom_resources_are_carried_to_the_check(releases: dict[str, StackReleases]) -> None:
    kinds = sorted(obj["kind"] for obj in releases["int"].custom_resources)
    assert kinds == ["PodMonitor", "PrometheusRule"]


def test_a_custom_resource_without_its_crd_is_a_finding(releases: dict[str, StackReleases], tmp_path: Path) -> None:
    lines = check_stack(tmp_path, releases["int"])  # no charts pulled: no CRDs either
    assert "int program PodMonitor: invalid-object: no chart installs its CRD" in lines
