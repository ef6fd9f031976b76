"""The app as each real stack deploys it (the real program under Pulumi's mocks): what makes a rollout safe.

Expected values come from the stack's own settings and app/timing.py, never from copies of numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from app.contract import AppSettings
from harness.mocked_stack import ACCOUNT_ID, RELEASE_TAG, Graph, Registered, Run
from harness.project_files import PROJECT, as_config_strings, stack_config, stack_names
from infra.registry import is_managed_here
from stacks.settings import parse_settings

GraphOf = Callable[[str], Graph]
ISSUER = {"int": "letsencrypt-staging", "stg": "letsencrypt-production", "prd": "letsencrypt-production"}

per_stack = pytest.mark.parametrize("stack", stack_names())


def app_settings(stack: str) -> AppSettings:
    """The stack's app settings as the program loads them for the release the harness deploys."""
    values = as_config_strings(stack_config(stack, {"imageTag": RELEASE_TAG}))
    raw = {k.removeprefix(f"{PROJECT}:"): v for k, v in values.items() if k.startswith(f"{PROJECT}:")}
    return parse_settings(raw, stack=stack, region=values.get("aws:region"), allow_placeholders=True).app


def one(graph: Graph, kind: str) -> Registered:
    found = [r for r in graph.of_type(f"kubernetes:{kind}") if r.name.startswith(f"{graph.stack}-app-")]
    assert len(found) == 1, f"expected one {kind} of the app, found {[r.name for r in found]}"
    return found[0]


def container(graph: Graph) -> dict[str, Any]:
    (web,) = one(graph, "apps/v1:Deployment").inputs["spec"]["template"]["spec"]["containers"]
    return dict(web)


@per_stack
def test_deployment_rolls_out_by_surge_and_never_below_capacity(stack: str, stack_graph: GraphOf) -> None:
    graph, app = stack_graph(stack), app_settings(stack)
    spec = one(graph, "apps/v1:Deployment").inputs["spec"]
    assert "replicas" not in spec, "the autoscaler owns the pod count (infra/workload.py)"
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": app.max_surge, "maxUnavailable": 0},
    }
    surge, unavailable = app.fenceposts()
    assert surge >= 1 and unavailable == 0
    assert spec["minReadySeconds"] == app.timing.min_ready
    assert spec["progressDeadlineSeconds"] == app.timing.progress_deadline


@per_stack
def test_probes_prestop_and_the_grace_budget(stack: str, stack_graph: GraphOf) -> None:
    graph, timing = stack_graph(stack), app_settings(stack).timing
    web = container(graph)
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["lifecycle"] == {"preStop": {"sleep": {"seconds": timing.pre_stop}}}
    assert timing.pre_stop > timing.endpoint_propagation
    pod = one(graph, "apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    # preStop counts against the grace period; gunicorn then drains within its graceful_timeout.
    assert pod["terminationGracePeriodSeconds"] == timing.pre_stop + timing.graceful_timeout + timing.shutdown_margin
    env = {item["name"]: item["value"] for item in web["env"]}
    assert int(env["GRACEFUL_TIMEOUT"]) == timing.graceful_timeout
    assert env["APP_VERSION"] == RELEASE_TAG


@per_stack
def test_resources_and_a_restricted_security_context(stack: str, stack_graph: GraphOf) -> None:
    graph, app = stack_graph(stack), app_settings(stack)
    web = container(graph)
    assert web["resources"] == {
        "requests": {"cpu": app.cpu_request, "memory": app.memory_request},
        "limits": {"cpu": app.cpu_limit, "memory": app.memory_limit},
    }
    security = web["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = one(graph, "apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    namespace = one(graph, "core/v1:Namespace").inputs["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


@per_stack
def test_pods_spread_over_zones_and_nodes(stack: str, stack_graph: GraphOf) -> None:
    pod = one(stack_graph(stack), "apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert all(c["maxSkew"] == 1 for c in pod["topologySpreadConstraints"])


@per_stack
def test_disruption_budget_and_autoscaler_floor(stack: str, stack_graph: GraphOf) -> None:
    graph, app = stack_graph(stack), app_settings(stack)
    selector = one(graph, "apps/v1:Deployment").inputs["spec"]["selector"]
    pdb = one(graph, "policy/v1:PodDisruptionBudget").inputs["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["selector"] == selector
    hpa = one(graph, "autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert hpa["minReplicas"] == app.replicas
    assert hpa["maxReplicas"] == app.max_replicas
    assert hpa["scaleTargetRef"]["name"] == one(graph, "apps/v1:Deployment").inputs["metadata"]["name"]


@per_stack
def test_ingress_serves_the_stacks_host_with_its_certificate(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    host = graph.outputs["url"].removeprefix("https://")
    ingress = one(graph, "networking.k8s.io/v1:Ingress").inputs
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == host
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "example-app-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == ISSUER[stack]
    policy = one(graph, "networking.k8s.io/v1:NetworkPolicy").inputs["spec"]
    assert policy["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        {  # the stack's Prometheus, scraping /metrics
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]


@per_stack
def test_pods_run_the_release_from_the_shared_ecr_repository(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    (repository,) = graph.of_type("aws:ecr/repository:Repository")
    url = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/{repository.inputs['name']}"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert container(graph)["image"] == f"{url}:{RELEASE_TAG}"
    assert graph.outputs["imageRepository"] == url


@per_stack
def test_smoke_test_runs_after_the_deployment_and_the_ingress(stack: str, stack_graph: GraphOf) -> None:
    graph, app = stack_graph(stack), app_settings(stack)
    (smoke,) = graph.of_type("pulumi-python:dynamic:Resource")
    assert graph.waits_for(smoke, one(graph, "apps/v1:Deployment"))
    assert graph.waits_for(smoke, one(graph, "networking.k8s.io/v1:Ingress"))
    assert smoke.inputs["base_url"] == graph.outputs["url"]
    assert smoke.inputs["expected_version"] == RELEASE_TAG
    assert smoke.inputs["consecutive"] >= 2 * app.replicas  # every pod answers the new version twice in a row
    assert smoke.inputs["timeout"] >= app.timing.rollout_timeout


def test_a_stack_given_another_stacks_repository_creates_none(run_program: Callable[..., Run]) -> None:
    """stg and prd are pointed at int's repository (README): they must not create a second one."""
    shared = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/example-app"
    assert not is_managed_here(shared) and is_managed_here("example-app")
    run = run_program("stg", {"imageTag": RELEASE_TAG, "imageRepository": shared})
    assert run.stopped is None, run.stopped
    graph = run.graph
    assert graph.of_type("aws:ecr/repository:Repository") == []
    assert container(graph)["image"] == f"{shared}:{RELEASE_TAG}"
    assert graph.outputs["imageRepository"] == shared


@per_stack
def test_what_pulumi_sends_is_valid_for_the_clusters_version(stack: str, stack_graph: GraphOf) -> None:
    """The registered inputs — what the cluster receives, not just what the contract renders — validate strictly."""
    graph = stack_graph(stack)
    values = as_config_strings(stack_config(stack, {"imageTag": RELEASE_TAG}))
    version = values[f"{PROJECT}:kubernetesVersion"]
    sent = [r for r in graph.resources if r.type.startswith("kubernetes:") and r.name.startswith(f"{stack}-app-")]
    assert len(sent) == 7
    for resource in sent:
        manifest = {"apiVersion": resource.inputs["apiVersion"], "kind": resource.inputs["kind"], **resource.inputs}
        assert kubernetes_validate.validate(manifest, f"{version}.0", strict=True) == version, resource.name
