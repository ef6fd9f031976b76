"""What the GitHub workflows may do in one stack's AWS account: OIDC roles with no long-lived keys.

Example::

    ci = CiAccess("int-ci", CiAccessArgs(repository="acme/example-app", environment="int", project="example-app",
                                         cluster_name=cluster.name, publishes_images=True,
                                         image_repository_arn=registry.repository_url.apply(repository_arn)))
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.ci_policy import (
    EKS_ADMIN_POLICY,
    EKS_VIEW_POLICY,
    GITHUB_OIDC_URL,
    MAX_SESSION_SECONDS,
    STS_AUDIENCE,
    StateBucket,
    deploy_permissions,
    deploy_subject,
    preview_permissions,
    preview_subjects,
    trust_policy,
)
from infra.cluster import grant_cluster_access

CI_ROLE_KINDS = ("deploy", "preview")
"""The workflows' two roles per stack; both get an EKS access entry (admin and view)."""


def ci_role_name(project: str, environment: str, kind: str) -> str:
    """The IAM role name of one of a stack's workflow roles, e.g. example-app-int-deploy."""
    return f"{project}-{environment}-{kind}"


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

        def github_role(
            kind: str, description: str, subjects: list[str], permissions: Callable[[str], object], eks_policy: str
        ) -> aws.iam.Role:
            """A role the given GitHub subjects assume, its permissions on the image repository and its EKS access."""
            role = aws.iam.Role(
                f"{name}-{kind}",
                name=ci_role_name(args.project, args.environment, kind),
                description=f"GitHub Actions {description}",
                assume_role_policy=provider_arn.apply(lambda arn: json.dumps(trust_policy(arn, subjects=subjects))),
                max_session_duration=MAX_SESSION_SECONDS,
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-{kind}",
                role=role.id,
                policy=pulumi.Output.from_input(args.image_repository_arn).apply(
                    lambda repo: json.dumps(permissions(repo))
                ),
                opts=child,
            )
            grant_cluster_access(
                f"{name}-{kind}",
                cluster_name=args.cluster_name,
                principal_arn=role.arn,
                policy=eks_policy,
                partition=partition,
                tags=tags,
                opts=child,
            )
            return role

        deploy_role = github_role(
            "deploy",
            f"deploys to {args.environment} ({args.repository}, environment only)",
            [subject],
            lambda repo: deploy_permissions(
                image_repository_arn=repo,
                publishes_images=args.publishes_images,
                state=state,
                secrets_key_arn=args.secrets_key_arn,
            ),
            EKS_ADMIN_POLICY,
        )
        preview_role = github_role(
            "preview",
            f"previews of {args.environment} ({args.repository}, read-only)",
            subjects,
            lambda repo: preview_permissions(
                image_repository_arn=repo, state=state, secrets_key_arn=args.secrets_key_arn
            ),
            EKS_VIEW_POLICY,
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
