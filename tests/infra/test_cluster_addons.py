"""The cluster's managed add-ons and who may reach its Kubernetes API, as each real stack registers them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from harness.mocked_stack import ACCOUNT_ID, OPERATOR_ROLE, Graph, Registered, Run, caller_arn
from harness.project_files import stack_names
from infra.addons import ADDON_VERSIONS, ADDONS, COREDNS, KUBE_PROXY, VPC_CNI, coredns_configuration
from infra.ci_policy import EKS_ADMIN_POLICY
from infra.cluster import CNI_POLICY
from infra.cluster_access import api_access_problem

GraphOf = Callable[[str], Graph]
RunProgram = Callable[..., Run]
ADDON = "aws:eks/addon:Addon"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
REPOSITORY = "acme/example-app"


def _addons(graph: Graph) -> dict[str, Registered]:
    return {r.inputs["addonName"]: r for r in graph.of_type(ADDON)}


def _attached(graph: Graph, role: Registered) -> set[str]:
    return {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["role"] == role.name
    }


@pytest.mark.parametrize("stack", stack_names())
def test_each_stack_manages_the_pinned_addons_of_its_kubernetes_version(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    version = graph.one("aws:eks/cluster:Cluster").inputs["version"]
    addons = _addons(graph)
    assert set(addons) == set(ADDONS)
    for name, addon in addons.items():
        assert addon.inputs["addonVersion"] == ADDON_VERSIONS[version][name]
        assert addon.inputs["clusterName"] == f"example-app-{stack}"
        # Hand edits are reset to the program's configuration; deleting the resource leaves pods networked.
        assert addon.inputs["resolveConflictsOnCreate"] == addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
        assert addon.inputs["preserve"] is True
        assert addon.inputs["tags"]["stack"] == stack


def test_an_older_supported_kubernetes_version_gets_its_own_pins(run_program: RunProgram) -> None:
    run = run_program("int", {"kubernetesVersion": "1.33"})
    assert run.stopped is None, run.stopped
    assert {n: a.inputs["addonVersion"] for n, a in _addons(run.graph).items()} == ADDON_VERSIONS["1.33"]
    assert run.graph.one("aws:eks/nodeGroup:NodeGroup").inputs["version"] == "1.33"


@pytest.mark.parametrize("stack", stack_names())
def test_network_policy_is_enforced_and_coredns_survives_a_drain(stack: str, stack_graph: GraphOf) -> None:
    addons = _addons(stack_graph(stack))
    assert json.loads(addons[VPC_CNI].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert json.loads(addons[COREDNS].inputs["configurationValues"]) == coredns_configuration()
    assert "configurationValues" not in addons[KUBE_PROXY].inputs


@pytest.mark.parametrize("stack", stack_names())
def test_the_cluster_starts_with_no_addon_or_access_entry_it_does_not_own(stack: str, stack_graph: GraphOf) -> None:
    cluster = stack_graph(stack).one("aws:eks/cluster:Cluster").inputs
    assert cluster["bootstrapSelfManagedAddons"] is False
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}


@pytest.mark.parametrize("stack", stack_names())
def test_nodes_wait_for_their_network_and_dns_waits_for_nodes(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    addons = _addons(graph)
    nodes = graph.one("aws:eks/nodeGroup:NodeGroup")
    for needed in (VPC_CNI, KUBE_PROXY):  # a node without them never turns Ready
        assert graph.waits_for(nodes, addons[needed]), f"the node group does not wait for {needed}"
        assert not graph.waits_for(addons[needed], nodes), f"{needed} would wait for nodes that wait for it"
    assert graph.waits_for(addons[COREDNS], nodes), "CoreDNS would stay DEGRADED with no node to run on"
    provider = graph.one("pulumi:providers:kubernetes")
    assert graph.waits_for(provider, addons[COREDNS]), "charts would install before the cluster has DNS"
    on_cluster = [r for r in graph.resources if r.type.startswith("kubernetes:") and not r.read]
    assert on_cluster and all(r.provider.startswith(f"{provider.urn}::") for r in on_cluster)


@pytest.mark.parametrize("stack", stack_names())
def test_the_vpc_cni_alone_holds_its_aws_permissions_through_irsa(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    roles = {r.name: r for r in graph.of_type("aws:iam/role:Role")}
    cni_role, node_role = roles[f"{stack}-vpc-cni"], roles[f"{stack}-nodes"]
    assert _attached(graph, cni_role) == {CNI_POLICY}
    assert CNI_POLICY not in _attached(graph, node_role), "every process on a node could manage ENIs"
    vpc_cni = _addons(graph)[VPC_CNI]
    assert vpc_cni.inputs["serviceAccountRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{stack}-vpc-cni"
    assert graph.waits_for(vpc_cni, graph.named(f"{stack}-vpc-cni")), "aws-node could start without its policy"
    (statement,) = json.loads(cni_role.inputs["assumeRolePolicy"])["Statement"]
    issuer = f"oidc.eks.eu-west-1.amazonaws.com/id/{stack}-eks"  # the mocked cluster's issuer, without https://
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f":{stack}-oidc")  # the cluster's OIDC provider
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:aud": "sts.amazonaws.com",
        f"{issuer}:sub": "system:serviceaccount:kube-system:aws-node",
    }


# ---------------------------------------------------------------- who reaches the Kubernetes API


def _role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"


def _entries_eks_would_hold(graph: Graph, creator_role: str) -> list[str]:
    """Access entries after `pulumi up`: the program's, plus EKS's own for the creator when bootstrapped."""
    entries = [e.inputs["principalArn"] for e in graph.of_type(ENTRY)]
    access = graph.one("aws:eks/cluster:Cluster").inputs["accessConfig"]
    if access.get("bootstrapClusterCreatorAdminPermissions", True):  # EKS's default is true
        entries.append(_role_arn(creator_role))
    return entries


SSO_ROLE = "aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Ops_0123"


@pytest.mark.parametrize(
    ("caller", "overrides"),
    [
        (OPERATOR_ROLE, {"clusterAdminRoles": [OPERATOR_ROLE, SSO_ROLE]}),  # the creator listed as an admin too
        (SSO_ROLE, {"clusterAdminRoles": [SSO_ROLE]}),  # a role with a path: STS shows only its name
        ("example-app-stg-deploy", {"clusterAdminRoles": [], "githubRepository": REPOSITORY}),  # CI's deploy role
    ],
    ids=["creator-also-admin", "sso-role-with-path", "ci-deploy-role"],
)
def test_every_principal_gets_one_access_entry_and_the_deployer_is_one_of_them(
    caller: str, overrides: dict[str, Any], run_program: RunProgram
) -> None:
    overrides = {"imageRepository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app", **overrides}
    run = run_program("stg", overrides, caller=caller_arn(caller))
    assert run.stopped is None, run.stopped
    entries = _entries_eks_would_hold(run.graph, caller)
    # EKS: "An IAM principal can't be included in more than one access entry" (creating-access-entries).
    assert len(entries) == len(set(entries)), f"CreateAccessEntry would fail: {sorted(entries)}"
    assert _role_arn(caller) in entries, "the identity running `pulumi up` could not install the charts"
    grants = {g.inputs["principalArn"]: g.inputs["policyArn"] for g in run.graph.of_type(ASSOCIATION)}
    assert grants[_role_arn(caller)].endswith(f"/{EKS_ADMIN_POLICY}")
    provider = run.graph.one("pulumi:providers:kubernetes")
    for role in overrides["clusterAdminRoles"]:  # the charts go in only once the admins' grants exist
        grant = next(g for g in run.graph.of_type(ASSOCIATION) if g.inputs["principalArn"] == _role_arn(role))
        assert run.graph.waits_for(provider, grant)


@pytest.mark.parametrize(
    ("caller", "message"),
    [
        (
            caller_arn("Ops"),
            "runs as role Ops, which would have no access to the cluster's Kubernetes API (EKS access entries, "
            "granted to: Admin), so installing the charts would fail after the cluster exists. Add the role with "
            "its path (`aws iam get-role --role-name Ops --query Role.Arn`): "
            "`pulumi config set --path 'clusterAdminRoles[1]' <path/>Ops`",
        ),
        (f"arn:aws:iam::{ACCOUNT_ID}:user/alice", f"runs as arn:aws:iam::{ACCOUNT_ID}:user/alice, not as an IAM role"),
    ],
    ids=["unlisted-role", "iam-user"],
)
def test_an_identity_the_cluster_would_not_admit_is_refused_before_any_resource(
    caller: str, message: str, run_program: RunProgram
) -> None:
    run = run_program("int", caller=caller)
    assert run.stopped is not None, "the program would build a cluster its own deployer cannot use"
    assert run.stopped.startswith("stack 'int': this program ")
    assert message in run.stopped
    assert run.graph.resources == []


@pytest.mark.parametrize(
    ("caller_arn_", "admins", "ci_roles", "allowed"),
    [
        ("arn:aws:sts::111122223333:assumed-role/Admin/alice", ["Admin"], [], True),
        ("arn:aws:sts::111122223333:assumed-role/admin/alice", ["Admin"], [], True),  # IAM names ignore case
        ("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Ops_0123/bob@example.org", [SSO_ROLE], [], True),
        ("arn:aws:sts::111122223333:assumed-role/example-app-int-preview/gha", [], ["example-app-int-preview"], True),
        ("arn:aws-us-gov:sts::111122223333:assumed-role/Admin/alice", ["Admin"], [], True),
        ("arn:aws:sts::111122223333:assumed-role/Administrator/alice", ["Admin"], [], False),
        ("arn:aws:sts::111122223333:assumed-role/Admin/alice", ["Ops/Admin-x"], [], False),
        ("arn:aws:iam::111122223333:root", ["Admin"], [], False),
        ("arn:aws:sts::111122223333:federated-user/alice", ["Admin"], [], False),
    ],
)
def test_which_callers_the_access_entries_admit(
    caller_arn_: str, admins: list[str], ci_roles: list[str], allowed: bool
) -> None:
    problem = api_access_problem(caller_arn_, admin_roles=admins, other_roles=ci_roles)
    assert (problem is None) is allowed, problem
