"""What the GitHub workflows may do in one stack's AWS account: OIDC roles with no long-lived keys.

Example::

    ci = CiAccess("int", CiAccessArgs(repository="acme/example-app", environment="int", project="example-app",
                                      cluster_name=cluster.name, image_repository_arn=registry.repository_arn,
                                      publishes_images=True))
    pulumi.export("ciDeployRoleArn", ci.deploy_role_arn)    # → GitHub environment variable AWS_DEPLOY_ROLE_ARN

Two roles per stack, both assumed through GitHub's OIDC provider (token.actions.githubusercontent.com,
audience sts.amazonaws.com):

- **deploy** — only jobs running in this stack's GitHub environment (`sub` is exactly
  `repo:<owner>/<name>:environment:<stack>`; stg and prd environments have required reviewers). It
  may read the lookups the program makes on every run, find (and, in the stack that owns the
  registry, push) release images, read and write this stack's own Pulumi state, and — through an EKS
  access entry — administer this stack's cluster, because the program owns cluster-wide objects
  (ingress-nginx, cert-manager and their CRDs). It can create no VPC, IAM or EKS resource: changing
  infrastructure is an operator's `pulumi up` (README "Releases"), so a leaked workflow cannot
  escalate to the account.
- **preview** — pull requests and branch pushes of the repository (`pull_request`,
  `ref:refs/heads/*`). Read-only: the same lookups, image lookups, this stack's state read plus its
  lock files, and EKS's view policy. Pull-request code runs with it, so it must not write anything.

The GitHub OIDC provider exists once per AWS account: the first stack in an account creates it,
the others pass its ARN (`oidc_provider_arn`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
EKS_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
EKS_VIEW_POLICY = "AmazonEKSViewPolicy"
MAX_SESSION_SECONDS = 3600
"""One hour: an app release (rollout ≤ progress deadline + grace, smoke suite, maybe a rollback) fits."""

# GitHub's rules for owner and repository names; a wildcard here would trust other repositories.
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._-]{1,255}")

LOOKUP_ACTIONS = (
    "ec2:DescribeAvailabilityZones",  # infra/network.py: aws.get_availability_zones
    "route53:GetHostedZone",  # infra/dns.py: aws.route53.get_zone
    "route53:ListHostedZones",
    "route53:ListHostedZonesByName",
    "route53:ListTagsForResource",
)
"""Read-only calls the program's lookups make on every run (no resource-level scoping exists for them)."""
IMAGE_READ_ACTIONS = ("ecr:DescribeImages", "ecr:DescribeRepositories")
"""Find a release tag's digest and the repository URL (the workflows' 'Find the image in ECR' step)."""
IMAGE_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
"""What `docker buildx --push` needs on the one repository (no delete, no policy or tag-mutability change)."""


class CiAccessError(ValueError):
    """Arguments that would trust the wrong repository or environment."""


def _check(repository: str, environment: str) -> None:
    problems = []
    if not _REPOSITORY.fullmatch(repository):
        problems.append(f"repository {repository!r} must be the GitHub repository as owner/name, e.g. acme/example-app")
    if not _ENVIRONMENT.fullmatch(environment):
        problems.append(f"environment {environment!r} must be a GitHub environment name (letters, digits, . _ -)")
    if problems:
        raise CiAccessError("; ".join(problems))


def deploy_subject(repository: str, environment: str) -> str:
    """The OIDC `sub` of a job running in `environment` of `repository` (GitHub's default claim format)."""
    _check(repository, environment)
    return f"repo:{repository}:environment:{environment}"


def preview_subjects(repository: str) -> list[str]:
    """The OIDC `sub` values of pull-request runs and branch pushes of `repository`."""
    _check(repository, "preview")
    return [f"repo:{repository}:pull_request", f"repo:{repository}:ref:refs/heads/*"]


def trust_policy(provider_arn: str, *, subjects: Sequence[str]) -> dict[str, Any]:
    """Who may assume a role: GitHub's OIDC tokens for our audience and exactly these subjects.

    A single subject without wildcards is matched with StringEquals; patterns need StringLike.
    """
    if not subjects:
        raise CiAccessError("a CI role needs at least one OIDC subject to trust")
    exact = all("*" not in s and "?" not in s for s in subjects)
    sub_value: str | list[str] = subjects[0] if len(subjects) == 1 else list(subjects)
    condition: dict[str, dict[str, Any]] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE}}
    if exact:
        condition["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"] = sub_value
    else:
        condition["StringLike"] = {f"{GITHUB_OIDC_HOST}:sub": sub_value}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }


@dataclass(frozen=True, kw_only=True)
class StateBucket:
    """Where a self-managed Pulumi backend (`pulumi login s3://<bucket>`) keeps this stack's state."""

    bucket_arn: str
    """arn:aws:s3:::<bucket>."""
    project: str
    """Pulumi project name; the backend stores stacks under .pulumi/<kind>/<project>/<stack>."""
    stack: str
    """Stack name."""

    def stack_objects(self) -> list[str]:
        """ARNs of this stack's state, history and backup objects (never another stack's)."""
        base = f"{self.bucket_arn}/.pulumi"
        return [
            f"{base}/stacks/{self.project}/{self.stack}.json",
            f"{base}/stacks/{self.project}/{self.stack}.json.*",
            f"{base}/history/{self.project}/{self.stack}/*",
            f"{base}/backups/{self.project}/{self.stack}/*",
        ]

    def lock_objects(self) -> list[str]:
        """ARNs of this stack's lock files."""
        return [f"{self.bucket_arn}/.pulumi/locks/{self.project}/{self.stack}/*"]

    def prefixes(self) -> list[str]:
        """Key prefixes the CLI lists for this stack."""
        return [
            ".pulumi/meta.yaml",
            f".pulumi/stacks/{self.project}/{self.stack}.json*",
            f".pulumi/history/{self.project}/{self.stack}/*",
            f".pulumi/backups/{self.project}/{self.stack}/*",
            f".pulumi/locks/{self.project}/{self.stack}/*",
        ]


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources), **extra}


def _state_statements(state: StateBucket | None, *, write: bool) -> list[dict[str, Any]]:
    if state is None:
        return []
    read = [f"{state.bucket_arn}/.pulumi/meta.yaml", *state.stack_objects()]
    statements = [
        _statement(
            "ListThisStacksState",
            ["s3:ListBucket"],
            [state.bucket_arn],
            Condition={"StringLike": {"s3:prefix": state.prefixes()}},
        ),
        _statement("ReadThisStacksState", ["s3:GetObject"], read + state.lock_objects()),
        # The CLI may take the stack's lock even for a preview; lock files are all a read-only role writes.
        _statement("LockThisStack", ["s3:PutObject", "s3:DeleteObject"], state.lock_objects()),
    ]
    if write:
        statements.append(
            _statement("WriteThisStacksState", ["s3:PutObject", "s3:DeleteObject"], state.stack_objects())
        )
    return statements


def deploy_permissions(
    *,
    image_repository_arn: str,
    publishes_images: bool,
    state: StateBucket | None = None,
    secrets_key_arn: str = "",
) -> dict[str, Any]:
    """The deploy role's permissions: lookups, release images, this stack's state, its secrets key."""
    statements = [
        _statement("ProgramLookups", LOOKUP_ACTIONS, ["*"]),
        _statement("FindReleaseImages", IMAGE_READ_ACTIONS, [image_repository_arn]),
    ]
    if publishes_images:
        statements += [
            # GetAuthorizationToken has no resource-level scoping in IAM: "*" is the only form.
            _statement("LogInToEcr", ["ecr:GetAuthorizationToken"], ["*"]),
            _statement("PushReleaseImages", IMAGE_PUSH_ACTIONS, [image_repository_arn]),
        ]
    statements += _state_statements(state, write=True)
    if secrets_key_arn:
        statements.append(
            _statement("StackSecrets", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [secrets_key_arn])
        )
    return {"Version": "2012-10-17", "Statement": statements}


def preview_permissions(
    *, image_repository_arn: str, state: StateBucket | None = None, secrets_key_arn: str = ""
) -> dict[str, Any]:
    """The preview role's permissions: read-only lookups, images, this stack's state; decrypt secrets."""
    statements = [
        _statement("ProgramLookups", LOOKUP_ACTIONS, ["*"]),
        _statement("FindReleaseImages", IMAGE_READ_ACTIONS, [image_repository_arn]),
        *_state_statements(state, write=False),
    ]
    if secrets_key_arn:
        statements.append(_statement("StackSecrets", ["kms:Decrypt"], [secrets_key_arn]))
    return {"Version": "2012-10-17", "Statement": statements}


def repository_arn(repository_url: str, partition: str = "aws") -> str:
    """The ECR repository ARN for `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""
    match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)", repository_url)
    if not match:
        raise CiAccessError(
            f"image repository {repository_url!r} is not an ECR repository URL "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<name>)"
        )
    account, region, name = match.groups()
    return f"arn:{partition}:ecr:{region}:{account}:repository/{name}"


@dataclass(frozen=True, kw_only=True)
class CiAccessArgs:
    """Which repository and environment the pipeline's roles trust, and what they may touch."""

    repository: str
    """GitHub repository as `owner/name`; only its workflows can assume the roles."""
    environment: str
    """GitHub environment of this stack's deploy jobs (the stack name: int, stg, prd)."""
    project: str
    """Pulumi project name (role names and state paths)."""
    cluster_name: pulumi.Input[str]
    """This stack's EKS cluster: the deploy role administers it, the preview role views it."""
    image_repository_arn: pulumi.Input[str]
    """The shared ECR repository of release images."""
    publishes_images: bool = False
    """True in the stack that owns the registry: its deploy role (the `int` environment) pushes images."""
    oidc_provider_arn: str = ""
    """An existing GitHub OIDC provider in this account; empty creates it (once per account)."""
    state_bucket: str = ""
    """S3 bucket of a self-managed Pulumi backend; empty when the state lives in Pulumi Cloud."""
    secrets_key_arn: str = ""
    """KMS key of an `awskms://` secrets provider; empty for Pulumi Cloud or passphrase secrets."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """AWS tags for every taggable resource."""


class CiAccess(pulumi.ComponentResource):
    """GitHub's OIDC provider (unless given) and this stack's deploy and preview roles."""

    deploy_role_arn: pulumi.Output[str]
    """Set it as the GitHub environment variable AWS_DEPLOY_ROLE_ARN of this stack's environment."""
    preview_role_arn: pulumi.Output[str]
    """Set it as the repository variable AWS_PREVIEW_ROLE_ARN_<STACK> (CI's `pulumi preview`)."""
    oidc_provider_arn: pulumi.Output[str]
    """GitHub's OIDC provider in this account (pass it to the account's other stacks)."""

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:CiAccess", name, None, opts)
        subject = deploy_subject(args.repository, args.environment)  # refuses a bad repository first
        subjects = preview_subjects(args.repository)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        state = (
            StateBucket(
                bucket_arn=f"arn:{partition}:s3:::{args.state_bucket}", project=args.project, stack=args.environment
            )
            if args.state_bucket
            else None
        )

        if args.oidc_provider_arn:
            provider_arn: pulumi.Output[str] = pulumi.Output.from_input(args.oidc_provider_arn)
        else:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=GITHUB_OIDC_URL,
                client_id_lists=[STS_AUDIENCE],
                tags=tags,
                opts=child,
            )
            provider_arn = provider.arn

        role_prefix = f"{args.project}-{args.environment}"
        deploy_role = aws.iam.Role(
            f"{name}-deploy",
            name=f"{role_prefix}-deploy",
            description=f"GitHub Actions deploys to {args.environment} ({args.repository}, environment only)",
            assume_role_policy=provider_arn.apply(lambda arn: json.dumps(trust_policy(arn, subjects=[subject]))),
            max_session_duration=MAX_SESSION_SECONDS,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-deploy",
            role=deploy_role.id,
            policy=pulumi.Output.from_input(args.image_repository_arn).apply(
                lambda repo: json.dumps(
                    deploy_permissions(
                        image_repository_arn=repo,
                        publishes_images=args.publishes_images,
                        state=state,
                        secrets_key_arn=args.secrets_key_arn,
                    )
                )
            ),
            opts=child,
        )
        preview_role = aws.iam.Role(
            f"{name}-preview",
            name=f"{role_prefix}-preview",
            description=f"GitHub Actions previews of {args.environment} ({args.repository}, read-only)",
            assume_role_policy=provider_arn.apply(lambda arn: json.dumps(trust_policy(arn, subjects=subjects))),
            max_session_duration=MAX_SESSION_SECONDS,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-preview",
            role=preview_role.id,
            policy=pulumi.Output.from_input(args.image_repository_arn).apply(
                lambda repo: json.dumps(
                    preview_permissions(image_repository_arn=repo, state=state, secrets_key_arn=args.secrets_key_arn)
                )
            ),
            opts=child,
        )

        for role, policy in ((deploy_role, EKS_ADMIN_POLICY), (preview_role, EKS_VIEW_POLICY)):
            kind = "deploy" if role is deploy_role else "preview"
            entry = aws.eks.AccessEntry(
                f"{name}-{kind}", cluster_name=args.cluster_name, principal_arn=role.arn, tags=tags, opts=child
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-{kind}",
                cluster_name=args.cluster_name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{policy}",
                access_scope={"type": "cluster"},
                opts=child,
            )

        self.deploy_role_arn = deploy_role.arn
        self.preview_role_arn = preview_role.arn
        self.oidc_provider_arn = provider_arn
        self.register_outputs(
            {
                "deployRoleArn": self.deploy_role_arn,
                "previewRoleArn": self.preview_role_arn,
                "oidcProviderArn": self.oidc_provider_arn,
            }
        )
