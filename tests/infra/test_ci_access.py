"""CiAccess under Pulumi's mocks: who may assume the pipeline's roles, and what the roles may do."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor

from app.smoke import RELEASE_PATIENCE
from app.timing import Timing
from infra.ci_access import CiAccess, CiAccessArgs
from infra.ci_policy import (
    EKS_ADMIN_POLICY,
    EKS_VIEW_POLICY,
    GITHUB_OIDC_URL,
    MAX_SESSION_SECONDS,
    CiAccessError,
    StateBucket,
    deploy_permissions,
    preview_permissions,
    repository_arn,
    trust_policy,
)

ACCOUNT = "123456789012"
REPOSITORY = "acme/example-app"
IMAGE_REPOSITORY = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/example-app"
OTHER_REPOSITORY = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/other-app"
BUCKET_ARN = "arn:aws:s3:::acme-pulumi-state"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
AUD = "token.actions.githubusercontent.com:aud"
SUB = "token.actions.githubusercontent.com:sub"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"


class Recorder(pulumi.runtime.Mocks):
    """Answers resources and lookups like AWS would, and records every resource's inputs."""

    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        state = dict(args.inputs)
        if args.typ == ROLE:
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{args.inputs['name']}"
        if args.typ == OIDC:
            state["arn"] = PROVIDER
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getPartition:getPartition":  # noqa: S105 - a function token, not a secret
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        raise AssertionError(f"CiAccess made an unexpected lookup: {args.token}")


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor, also noting each resource's parent (the mocks never see it)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.parents: dict[tuple[str, str], str] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self.parents[(request.type, request.name)] = request.parent
        return super().RegisterResource(request)


@pytest.fixture
def mocks() -> Iterator[tuple[Recorder, RecordingMonitor]]:
    recorder = Recorder()
    monitor = RecordingMonitor(recorder)
    pulumi_settings.ROOT.set(None)  # a fresh root stack, so nothing leaks from another test's program
    pulumi.runtime.set_mocks(recorder, project="example-app", stack="stg", preview=False, monitor=monitor)
    yield recorder, monitor


def _args(**overrides: Any) -> CiAccessArgs:
    values: dict[str, Any] = {
        "repository": REPOSITORY,
        "environment": "stg",
        "project": "example-app",
        "cluster_name": "example-app-stg",
        "image_repository_arn": IMAGE_REPOSITORY,
        "state_bucket": "acme-pulumi-state",
        "tags": {"project": "example-app", "stack": "stg"},
    } | overrides
    return CiAccessArgs(**values)


def _build(args: CiAccessArgs) -> list[str]:
    """Build the component and wait until every resource is registered; return its three ARNs."""
    arns: list[str] = []

    @pulumi.runtime.test  # waits for every outstanding registration, not only the returned Output
    def run() -> pulumi.Output[None]:
        access = CiAccess("stg-ci", args)
        both = pulumi.Output.all(access.deploy_role_arn, access.preview_role_arn, access.oidc_provider_arn)
        return both.apply(arns.extend)

    run()
    return arns


# --- a tiny IAM evaluator: enough to ask "may this role do X to Y?" ---------------------------------


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """True when an Allow statement matches `action` on `resource` (IAM wildcards; no Deny is used here)."""
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        action_ok = any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)
        resource_ok = any(fnmatch.fnmatchcase(resource, r) for r in resources)
        if statement["Effect"] == "Allow" and action_ok and resource_ok:
            return True
    return False


def state_object(stack: str) -> str:
    return f"{BUCKET_ARN}/.pulumi/stacks/example-app/{stack}.json"


# --- the component under mocks ---------------------------------------------------------------------


def test_the_deploy_role_trusts_only_this_repositorys_environment(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, _ = mocks

    arns = _build(_args())
    deploy_arn, preview_arn, provider_arn = arns
    assert deploy_arn == f"arn:aws:iam::{ACCOUNT}:role/example-app-stg-deploy"
    assert preview_arn == f"arn:aws:iam::{ACCOUNT}:role/example-app-stg-preview"
    assert provider_arn == PROVIDER
    role = recorder.inputs[(ROLE, "stg-ci-deploy")]
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/example-app:environment:stg"}
    }
    assert role["maxSessionDuration"] == 3600


def test_the_preview_role_trusts_pull_requests_and_branches_of_this_repository_only(
    mocks: tuple[Recorder, RecordingMonitor],
) -> None:
    recorder, _ = mocks

    _build(_args())
    trust = json.loads(recorder.inputs[(ROLE, "stg-ci-preview")]["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {AUD: "sts.amazonaws.com"}
    assert condition["StringLike"] == {
        SUB: ["repo:acme/example-app:pull_request", "repo:acme/example-app:ref:refs/heads/*"]
    }


def test_github_oidc_provider_is_created_for_sts_unless_one_is_given(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, _ = mocks

    _build(_args())
    provider = recorder.inputs[(OIDC, "stg-ci-github")]
    assert provider["url"] == GITHUB_OIDC_URL
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]


def test_an_existing_provider_is_reused_and_not_created_twice(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, _ = mocks
    given = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com/given"

    arns = _build(_args(oidc_provider_arn=given))
    assert arns[2] == given
    assert not [key for key in recorder.inputs if key[0] == OIDC]
    trust = json.loads(recorder.inputs[(ROLE, "stg-ci-deploy")]["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Federated": given}


def test_the_roles_permissions_are_least_privilege(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, _ = mocks

    _build(_args())
    deploy = json.loads(recorder.inputs[(ROLE_POLICY, "stg-ci-deploy")]["policy"])
    preview = json.loads(recorder.inputs[(ROLE_POLICY, "stg-ci-preview")]["policy"])
    # Releases: find images, read and write this stack's state; never another stack's.
    assert allows(deploy, "ecr:DescribeImages", IMAGE_REPOSITORY)
    assert allows(deploy, "s3:PutObject", state_object("stg"))
    assert not allows(deploy, "s3:PutObject", state_object("prd"))
    assert not allows(deploy, "s3:GetObject", state_object("int"))
    # stg does not own the registry: no pushing, and nothing on other repositories.
    assert not allows(deploy, "ecr:PutImage", IMAGE_REPOSITORY)
    assert not allows(deploy, "ecr:DescribeImages", OTHER_REPOSITORY)
    # No infrastructure, no identity changes: a leaked token cannot escalate.
    for action, resource in (
        ("iam:CreateRole", "*"),
        ("iam:PassRole", "*"),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/example-app-stg-deploy"),
        ("ec2:CreateVpc", "*"),
        ("eks:CreateCluster", "*"),
        ("ecr:BatchDeleteImage", IMAGE_REPOSITORY),
        ("ecr:PutImageTagMutability", IMAGE_REPOSITORY),
        ("s3:DeleteBucket", BUCKET_ARN),
    ):
        assert not allows(deploy, action, resource), action
        assert not allows(preview, action, resource), action
    # Preview reads its stack's state and writes nothing but lock files.
    assert allows(preview, "s3:GetObject", state_object("stg"))
    assert not allows(preview, "s3:PutObject", state_object("stg"))
    assert allows(preview, "s3:PutObject", f"{BUCKET_ARN}/.pulumi/locks/example-app/stg/1.json")
    for policy in (deploy, preview):
        for statement in policy["Statement"]:
            assert all("*" not in action for action in statement["Action"]), statement
            if statement["Resource"] == ["*"]:
                assert all(
                    action.startswith(("ec2:Describe", "route53:Get", "route53:List", "ecr:GetAuthorization"))
                    for action in statement["Action"]
                ), statement


def test_only_the_registry_owners_deploy_role_pushes_images(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, _ = mocks

    _build(_args(publishes_images=True))
    deploy = json.loads(recorder.inputs[(ROLE_POLICY, "stg-ci-deploy")]["policy"])
    preview = json.loads(recorder.inputs[(ROLE_POLICY, "stg-ci-preview")]["policy"])
    assert allows(deploy, "ecr:PutImage", IMAGE_REPOSITORY)
    assert allows(deploy, "ecr:GetAuthorizationToken", "*")
    assert not allows(deploy, "ecr:PutImage", OTHER_REPOSITORY)
    assert not allows(preview, "ecr:PutImage", IMAGE_REPOSITORY)


def test_deploy_administers_the_cluster_and_preview_only_views_it(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, _ = mocks

    arns = _build(_args())
    for kind, arn, policy in (("deploy", arns[0], EKS_ADMIN_POLICY), ("preview", arns[1], EKS_VIEW_POLICY)):
        entry = recorder.inputs[(ENTRY, f"stg-ci-{kind}")]
        assert entry["clusterName"] == "example-app-stg"
        assert entry["principalArn"] == arn
        association = recorder.inputs[(ASSOCIATION, f"stg-ci-{kind}")]
        assert association["policyArn"] == f"arn:aws:eks::aws:cluster-access-policy/{policy}"
        assert association["accessScope"] == {"type": "cluster"}
        assert association["principalArn"] == arn


def test_every_child_hangs_off_the_component_and_is_named_after_it(mocks: tuple[Recorder, RecordingMonitor]) -> None:
    recorder, monitor = mocks

    _build(_args())
    (component,) = [key for key in monitor.parents if key[0] == "example-app:infra:CiAccess"]
    children = [key for key in recorder.inputs if key[0] != "example-app:infra:CiAccess"]
    assert len(children) == 9  # provider, 2 roles, 2 policies, 2 access entries, 2 associations
    for typ, name in children:
        assert name.startswith("stg-ci-"), name
        assert monitor.parents[(typ, name)].endswith("example-app:infra:CiAccess::stg-ci"), (typ, name)
    assert component[1] == "stg-ci"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("repository", "acme"),
        ("repository", "acme/*"),
        ("repository", "repo:acme/example-app"),
        ("repository", ""),
        ("environment", "stg:*"),
        ("environment", ""),
    ],
)
def test_a_repository_or_environment_that_would_widen_the_trust_is_refused_before_any_resource(
    mocks: tuple[Recorder, RecordingMonitor], field: str, value: str
) -> None:
    recorder, _ = mocks
    with pytest.raises(CiAccessError, match=field):
        CiAccess("stg-ci", _args(**{field: value}))
    assert recorder.inputs == {}


# --- pure policy builders ------------------------------------------------------------------------


def test_a_single_exact_subject_uses_string_equals_and_patterns_use_string_like() -> None:
    exact = trust_policy(PROVIDER, subjects=["repo:a/b:environment:prd"])["Statement"][0]["Condition"]
    assert "StringLike" not in exact
    pattern = trust_policy(PROVIDER, subjects=["repo:a/b:ref:refs/heads/*"])["Statement"][0]["Condition"]
    assert pattern["StringLike"] == {SUB: "repo:a/b:ref:refs/heads/*"}
    assert SUB not in pattern["StringEquals"]
    with pytest.raises(CiAccessError):
        trust_policy(PROVIDER, subjects=[])


def test_state_access_is_optional_and_the_secrets_key_is_only_added_when_given() -> None:
    cloud = deploy_permissions(image_repository_arn=IMAGE_REPOSITORY, publishes_images=False)
    assert not any(action.startswith("s3:") for s in cloud["Statement"] for action in s["Action"])
    key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234"
    with_key = preview_permissions(image_repository_arn=IMAGE_REPOSITORY, secrets_key_arn=key)
    assert allows(with_key, "kms:Decrypt", key)
    assert not allows(with_key, "kms:Encrypt", key)
    state = StateBucket(bucket_arn=BUCKET_ARN, project="example-app", stack="prd")
    prd = deploy_permissions(image_repository_arn=IMAGE_REPOSITORY, publishes_images=False, state=state)
    assert allows(prd, "s3:PutObject", state_object("prd"))
    assert allows(prd, "s3:PutObject", f"{BUCKET_ARN}/.pulumi/history/example-app/prd/prd-1.history.json")
    assert not allows(prd, "s3:PutObject", state_object("stg"))
    assert not allows(prd, "s3:PutObject", f"{BUCKET_ARN}/.pulumi/meta.yaml")


def test_repository_arn_is_derived_from_the_repository_url() -> None:
    url = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/example-app"
    assert repository_arn(url) == IMAGE_REPOSITORY
    with pytest.raises(CiAccessError, match="not an ECR repository URL"):
        repository_arn("example-app")


def test_a_deploy_session_outlasts_a_release_and_its_rollback() -> None:
    # Each attempt: the rollout may take progressDeadline + one pod's grace, then the smoke suite polls
    # for its timeout; a failed release is followed by the rollback's attempt. Credentials must not
    # expire in the middle of the second one.
    attempt = Timing().rollout_timeout + RELEASE_PATIENCE.timeout
    assert 2 * attempt <= MAX_SESSION_SECONDS, (MAX_SESSION_SECONDS, attempt)
