"""The AWS Load Balancer Controller as the real program installs it, and its IAM policy's scope."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harness.mocked_stack import ACCOUNT_ID, Graph, Registered
from harness.project_files import stack_names
from infra.load_balancer_controller_policy import CLUSTER_TAG, load_balancer_controller_policy

GraphOf = Callable[[str], Graph]
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(params=stack_names())
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _release(graph: Graph, name: str) -> Registered:
    return next(r for r in graph.of_type(RELEASE) if r.inputs["name"] == name)


def test_the_controller_runs_twice_behind_a_budget_with_its_pod_webhook(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    values = _release(graph, "aws-load-balancer-controller").inputs["values"]
    assert values["replicaCount"] >= 2
    assert values["podDisruptionBudget"] == {"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    keys = {c["topologyKey"] for c in values["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}  # its webhook survives a node or zone
    assert values["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert values["podMutatorWebhookConfig"]["failurePolicy"] == "Fail"  # never a gate-less ingress pod
    assert values["enableServiceMutatorWebhook"] is False
    assert values["keepTLSSecret"] is True
    assert values["enableShield"] is values["enableWaf"] is values["enableWafv2"] is False
    assert values["clusterName"] == graph.one("aws:eks/cluster:Cluster").inputs["name"]


def test_ingress_nginx_waits_for_the_controller(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    controller, nginx = _release(graph, "aws-load-balancer-controller"), _release(graph, "ingress-nginx")
    assert controller.urn in nginx.dependencies  # its webhook must run before the gated pods are created


def test_only_the_controllers_service_account_can_assume_its_role(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    values = _release(graph, "aws-load-balancer-controller").inputs["values"]
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.name.endswith("-load-balancer-controller")]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    (sub,) = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    account = values["serviceAccount"]["name"]
    release = _release(graph, "aws-load-balancer-controller").inputs
    assert sub == f"system:serviceaccount:{release['namespace']}:{account}"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]


def test_the_policy_touches_only_this_clusters_load_balancers() -> None:
    policy = load_balancer_controller_policy(partition="aws", region="eu-west-1", account=ACCOUNT_ID, cluster_name="c1")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    for sid in ("ManageOwnLoadBalancers", "ManageOwnSecurityGroups"):
        assert statements[sid]["Condition"] == {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": "c1"}}
    assert statements["CreateOwnLoadBalancers"]["Condition"] == {
        "StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": "c1"}
    }
    actions = [a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    # Nothing for ALBs, WAF, Shield, certificates or Cognito: this cluster's controller makes NLBs only.
    assert not [a for a in actions if a.split(":")[0] in {"wafv2", "waf-regional", "shield", "acm", "cognito-idp"}]
    assert not [a for a in actions if "Rule" in a or "Certificate" in a or a.endswith("SetWebAcl")]
    resources = [
        r for s in policy["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    ]
    assert all(r == "*" or f":eu-west-1:{ACCOUNT_ID}:" in r for r in resources)
    assert not [r for r in resources if "/app/" in r]
