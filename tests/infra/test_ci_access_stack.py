"""The real program with CI access configured: roles per stack, pushing only where the registry lives."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from harness.crossguard import from_graph, run_pack, with_secrets_marked
from harness.project_files import stack_names
from infra.ci_policy import EKS_ADMIN_POLICY, EKS_VIEW_POLICY
from infra.policy import Resource, no_plain_secrets

REPOSITORY = "acme/example-app"
SHARED_REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app"
CI_ACCESS = "example-app:infra:CiAccess"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def _deploy_policy(graph: Any, stack: str) -> dict[str, Any]:
    policy = next(r for r in graph.of_type(ROLE_POLICY) if r.name == f"{stack}-ci-deploy")
    return dict(json.loads(policy.inputs["policy"]))


def test_without_a_repository_no_ci_roles_exist(run_program: Callable[..., Any]) -> None:
    run = run_program("int")
    assert run.stopped is None
    assert not run.graph.of_type(CI_ACCESS)
    assert "ciDeployRoleArn" not in run.graph.outputs


@pytest.mark.parametrize("stack", stack_names())
def test_each_stack_gets_roles_trusted_by_its_own_environment(run_program: Callable[..., Any], stack: str) -> None:
    overrides = {"githubRepository": REPOSITORY}
    if stack != "int":  # stg and prd run int's images and reuse int's GitHub OIDC provider (same account here)
        overrides |= {
            "imageRepository": SHARED_REGISTRY,
            "ciOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        }
    run = run_program(stack, overrides)
    assert run.stopped is None, run.stopped
    graph = run.graph
    graph.one(CI_ACCESS)
    deploy_role = next(r for r in graph.of_type("aws:iam/role:Role") if r.name == f"{stack}-ci-deploy")
    trust = json.loads(deploy_role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert trust["token.actions.githubusercontent.com:sub"] == f"repo:{REPOSITORY}:environment:{stack}"
    providers = [r.name for r in graph.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")]
    creates_provider = f"{stack}-ci-github" in providers
    assert creates_provider == (stack == "int")
    # Only int owns the shared registry, so only int's role (used by the build job) pushes images.
    assert ("ecr:PutImage" in _actions(_deploy_policy(graph, stack))) == (stack == "int")
    policies = {
        r.name: r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in graph.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    assert policies[f"{stack}-ci-deploy"] == EKS_ADMIN_POLICY
    assert policies[f"{stack}-ci-preview"] == EKS_VIEW_POLICY
    for output in ("ciDeployRoleArn", "ciPreviewRoleArn", "ciOidcProviderArn"):
        assert graph.outputs.get(output), output
    # The stack's policies (tags, no admin policies …) and no plain secrets hold for the CI roles too.
    ci = [r for r in from_graph(graph) if any(a.type == CI_ACCESS for a in graph.ancestors(graph.by_urn(r.urn)))]
    assert ci
    assert [str(v) for v in run_pack(from_graph(graph), stack=stack) if v.resource in {r.urn for r in ci}] == []
    for r in ci:
        marked = Resource(type=r.type, name=r.name, props=with_secrets_marked(r.props))
        assert list(no_plain_secrets(marked, "example-app", stack)) == [], r.name


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("githubRepository", "acme/*"),
        ("githubRepository", "https://github.com/acme/example-app"),
        ("ciOidcProviderArn", "arn:aws:iam::123456789012:oidc-provider/accounts.google.com"),
        ("ciStateBucket", "Not_A_Bucket"),
        ("ciSecretsKeyArn", "alias/pulumi"),
    ],
)
def test_a_bad_ci_setting_names_its_key_and_registers_nothing(
    run_program: Callable[..., Any], key: str, value: str
) -> None:
    run = run_program("stg", {"githubRepository": REPOSITORY, key: value})
    assert run.stopped is not None
    assert f"example-app:{key} {value!r} is not" in run.stopped
    assert not [r for r in run.graph.resources if not r.read]


def test_ci_roles_need_the_shared_registry_to_be_ecr(run_program: Callable[..., Any]) -> None:
    run = run_program("stg", {"githubRepository": REPOSITORY, "imageRepository": "ghcr.io/acme/example-app"})
    assert run.stopped is not None
    assert "example-app:imageRepository 'ghcr.io/acme/example-app' must be an ECR repository URL" in run.stopped
    assert not [r for r in run.graph.resources if not r.read]
