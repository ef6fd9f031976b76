"""The canary driver's analysis identity: it can read Prometheus through the service proxy and do nothing else.

The RBAC decision is checked the way the API server makes it: the driver's request path is parsed as
kubernetes/apiserver v0.35.7 pkg/endpoints/request/requestinfo.go `NewRequestInfo` parses it, and judged by the
matching of kubernetes/kubernetes rbac.go `RuleAllows` (exact verb, `resource/subresource`, resourceNames).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kubernetes_validate
import pytest

from harness.mocked_stack import ACCOUNT_ID, OPERATOR_ROLE, RELEASE_TAG, Graph, Registered, Run
from harness.project_files import PROJECT, as_config_strings, stack_config, stack_names
from infra.canary_analysis_policy import (
    ANALYSIS_GROUP,
    PROMETHEUS_PROXY_NAME,
    PROMETHEUS_PROXY_PATH,
    AnalysisAccessError,
    analysis_rules,
    analysis_trust_policy,
)
from infra.canary_driver import ANALYSIS_KUBECONFIG_OUTPUT

GraphOf = Callable[[str], Graph]
COMPONENT = "example-app:infra:CanaryAnalysisAccess"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
REPOSITORY = "acme/example-app"
QUERY = f"{PROMETHEUS_PROXY_PATH}/api/v1/query"
"""What the driver requests through `kubectl proxy` (infra/canary_driver.py Prometheus.vector)."""


# ---------------------------------------------------------------- how the API server judges a request


def request_info(method: str, path: str) -> tuple[str, str, str, str, str]:
    """(verb, namespace, resource, subresource, name) of a core-API request, as requestinfo.go derives them."""
    parts = path.strip("/").split("/")
    assert parts[:2] == ["api", "v1"], path
    parts = parts[2:]
    verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[
        method
    ]
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 2:
        namespace, parts = parts[1], parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    return verb, namespace, resource, subresource, name


def rules_allow(rules: Sequence[Mapping[str, Any]], method: str, path: str) -> bool:
    """Whether one of `rules` allows the request (rbac.go RuleAllows over evaluation_helpers.go's matchers)."""
    verb, _, resource, subresource, name = request_info(method, path)
    combined = f"{resource}/{subresource}" if subresource else resource
    return any(
        (verb in rule["verbs"] or "*" in rule["verbs"])
        and ("" in rule["apiGroups"] or "*" in rule["apiGroups"])
        and (combined in rule["resources"] or "*" in rule["resources"])
        and (not rule.get("resourceNames") or name in rule["resourceNames"])
        for rule in rules
    )


def test_the_drivers_query_is_seen_as_get_on_the_granted_proxy_name() -> None:
    verb, namespace, resource, subresource, name = request_info("GET", QUERY)
    assert (verb, namespace, f"{resource}/{subresource}") == ("get", "monitoring", "services/proxy")
    assert name == PROMETHEUS_PROXY_NAME == "kube-prometheus-stack-prometheus:http-web"
    assert rules_allow(analysis_rules(), "GET", QUERY)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        # the same Service with a scheme prefix: the API server would proxy it, RBAC sees another name
        ("GET", f"/api/v1/namespaces/monitoring/services/http:{PROMETHEUS_PROXY_NAME}/proxy/api/v1/query"),
        ("GET", "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-alertmanager:http-web/proxy/"),
        ("POST", f"{PROMETHEUS_PROXY_PATH}/api/v1/admin/tsdb/delete_series"),  # Prometheus' write API
        ("GET", f"/api/v1/namespaces/monitoring/services/{PROMETHEUS_PROXY_NAME}"),  # the Service object itself
        ("POST", "/api/v1/namespaces/example-app/pods/example-app-abc/exec"),
        ("GET", "/api/v1/namespaces/example-app/pods/example-app-abc/proxy/metrics"),
        ("GET", "/api/v1/namespaces/monitoring/secrets/alertmanager-config"),
    ],
)
def test_nothing_but_that_request_is_allowed(method: str, path: str) -> None:
    assert not rules_allow(analysis_rules(), method, path)


def test_only_named_roles_are_trusted_and_at_least_one() -> None:
    admin = f"arn:aws:iam::{ACCOUNT_ID}:role/ops/Admin"
    policy = analysis_trust_policy([admin, admin])
    (statement,) = policy["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"AWS": [admin]}, "Action": "sts:AssumeRole"}
    with pytest.raises(AnalysisAccessError, match="at least one role to trust"):
        analysis_trust_policy([])


# ---------------------------------------------------------------- what each stack creates


def _of_component(graph: Graph, type_: str) -> list[Registered]:
    return [r for r in graph.of_type(type_) if any(a.type == COMPONENT for a in graph.ancestors(r))]


def _analysis_role(graph: Graph) -> Registered:
    (role,) = _of_component(graph, "aws:iam/role:Role")
    return role


def _role_arn(role: Registered) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{role.inputs.get('name', role.name)}"  # as the mocks name it


def _trusted(role: Registered) -> list[str]:
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    return list(statement["Principal"]["AWS"])


@pytest.mark.parametrize("stack", stack_names())
def test_the_analysis_role_has_no_aws_permissions_and_no_eks_access_policy(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    graph.one(COMPONENT)
    role = _analysis_role(graph)
    assert not {"inlinePolicies", "managedPolicyArns"} & role.inputs.keys()
    names = {role.name, f"{role.name}-id", _role_arn(role)}
    for kind in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        assert not [r.name for r in graph.of_type(kind) if r.inputs.get("role") in names], kind
    assert not [
        r.name for r in graph.of_type("aws:iam/policy:Policy") if any(a.type == COMPONENT for a in graph.ancestors(r))
    ]
    (entry,) = [
        r for r in graph.of_type("aws:eks/accessEntry:AccessEntry") if r.inputs["principalArn"] == _role_arn(role)
    ]
    assert entry.inputs["type"] == "STANDARD"
    assert entry.inputs["kubernetesGroups"] == [ANALYSIS_GROUP]
    associations = graph.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert associations  # the admin roles' associations exist, so the check below could see one
    assert not [a.name for a in associations if a.inputs["principalArn"] == _role_arn(role)]
    # Without CI only the operators (clusterAdminRoles) may assume it.
    assert _trusted(role) == [f"arn:aws:iam::{ACCOUNT_ID}:role/{OPERATOR_ROLE}"]


@pytest.mark.parametrize("stack", stack_names())
def test_kubernetes_lets_the_group_get_the_prometheus_proxy_and_nothing_else(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    (role,) = _of_component(graph, ROLE)
    (binding,) = _of_component(graph, ROLE_BINDING)
    assert role.inputs["rules"] == [
        {"apiGroups": [""], "resources": ["services/proxy"], "resourceNames": [PROMETHEUS_PROXY_NAME], "verbs": ["get"]}
    ]
    # The Role lives where the driver's path points: a Role grants only in its own namespace.
    _, namespace, *_ = request_info("GET", QUERY)
    assert role.inputs["metadata"]["namespace"] == binding.inputs["metadata"]["namespace"] == namespace
    assert binding.inputs["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role.inputs["metadata"]["name"],
    }
    assert binding.inputs["subjects"] == [
        {"kind": "Group", "name": ANALYSIS_GROUP, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    # Nothing else in the program binds that group.
    bindings = [r for r in graph.resources if r.type.endswith("RoleBinding")]
    assert [r.name for r in bindings if ANALYSIS_GROUP in json.dumps(r.inputs.get("subjects"))] == [binding.name]
    # Both wait for the metrics stack, whose release creates the namespace.
    (monitoring,) = [r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("-monitoring")]
    assert graph.waits_for(role, monitoring) and graph.waits_for(binding, monitoring)


@pytest.mark.parametrize("stack", stack_names())
def test_the_rbac_objects_validate_for_the_clusters_version(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    version = as_config_strings(stack_config(stack, {"imageTag": RELEASE_TAG}))[f"{PROJECT}:kubernetesVersion"]
    for resource in (*_of_component(graph, ROLE), *_of_component(graph, ROLE_BINDING)):
        assert kubernetes_validate.validate(dict(resource.inputs), f"{version}.0", strict=True) == version


@pytest.mark.parametrize("stack", stack_names())
def test_the_analysis_kubeconfig_assumes_the_analysis_role_on_the_same_cluster(
    stack: str, stack_graph: GraphOf
) -> None:
    graph = stack_graph(stack)
    assert ANALYSIS_KUBECONFIG_OUTPUT in graph.secret_outputs
    admin = json.loads(graph.outputs["kubeconfig"])
    analysis = json.loads(graph.outputs[ANALYSIS_KUBECONFIG_OUTPUT])
    args = analysis["users"][0]["user"]["exec"]["args"]
    at = args.index("--role-arn")
    assert args[at + 1] == _role_arn(_analysis_role(graph))
    assert args[:at] + args[at + 2 :] == admin["users"][0]["user"]["exec"]["args"]  # same cluster, same region
    assert "--role-arn" not in admin["users"][0]["user"]["exec"]["args"]  # `pulumi up` keeps the deploy identity
    assert analysis["clusters"] == admin["clusters"]


def test_with_ci_the_deploy_role_may_assume_it_and_the_preview_role_may_not(run_program: Callable[..., Run]) -> None:
    run = run_program("int", {"githubRepository": REPOSITORY})
    assert run.stopped is None, run.stopped
    trusted = _trusted(_analysis_role(run.graph))
    assert trusted == sorted(
        [f"arn:aws:iam::{ACCOUNT_ID}:role/{OPERATOR_ROLE}", f"arn:aws:iam::{ACCOUNT_ID}:role/example-app-int-deploy"]
    )
    assert run.graph.outputs["ciDeployRoleArn"] in trusted
    assert run.graph.outputs["ciPreviewRoleArn"] not in trusted


def test_operators_with_paths_are_trusted_by_their_full_arn(run_program: Callable[..., Run]) -> None:
    roles = [OPERATOR_ROLE, "aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Platform_0123"]
    run = run_program("int", {"clusterAdminRoles": roles})
    assert run.stopped is None, run.stopped
    assert _trusted(_analysis_role(run.graph)) == sorted(f"arn:aws:iam::{ACCOUNT_ID}:role/{role}" for role in roles)
