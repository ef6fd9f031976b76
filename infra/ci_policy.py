"""Who may assume the pipeline's AWS roles and what they may do, as plain IAM documents (no Pulumi).

infra/ci_access.py turns these into roles; tests ask them questions directly. Subjects follow
GitHub's default OIDC claim format (`repo:<owner>/<name>:environment:<env>`, `…:pull_request`,
`…:ref:refs/heads/<branch>`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
EKS_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
EKS_VIEW_POLICY = "AmazonEKSViewPolicy"
MAX_SESSION_SECONDS = 3600
"""One hour ≥ 2 × (rollout 335 s + smoke 120 s): a release and its rollback fit (tests/infra/test_ci_access.py)."""

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


def is_github_repository(text: str) -> bool:
    """True for a GitHub repository written `owner/name` (no wildcard, no `repo:` prefix)."""
    return _REPOSITORY.fullmatch(text) is not None


_OIDC_PROVIDER_ARN = re.compile(rf"arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_OIDC_HOST)}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+")


def is_github_oidc_provider_arn(text: str) -> bool:
    """True for the ARN of GitHub's OIDC provider in some AWS account."""
    return _OIDC_PROVIDER_ARN.fullmatch(text) is not None


def is_bucket_name(text: str) -> bool:
    """True for an S3 bucket name (3–63 lower-case letters, digits, dots and hyphens)."""
    return _BUCKET.fullmatch(text) is not None and ".." not in text


def is_kms_key_arn(text: str) -> bool:
    """True for a KMS key or alias ARN."""
    return _KMS_KEY_ARN.fullmatch(text) is not None


def _check(repository: str, environment: str) -> None:
    problems = []
    if not is_github_repository(repository):
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
    return web_identity_trust_policy(provider_arn, condition)


def web_identity_trust_policy(provider_arn: str, condition: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A role only tokens of one OIDC provider that meet `condition` may assume (GitHub's, or a cluster's for IRSA)."""
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


_ECR_URL = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)")


def is_ecr_repository_url(text: str) -> bool:
    """True for `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""
    return ecr_repository_parts(text) is not None


def ecr_repository_parts(repository_url: str) -> tuple[str, str, str] | None:
    """(account, region, name) of `<account>.dkr.ecr.<region>.amazonaws.com/<name>`; None for anything else."""
    match = _ECR_URL.fullmatch(repository_url)
    return None if match is None else (match[1], match[2], match[3])


def repository_arn(repository_url: str, partition: str = "aws") -> str:
    """The ECR repository ARN for `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""
    match = _ECR_URL.fullmatch(repository_url)
    if not match:
        raise CiAccessError(
            f"image repository {repository_url!r} is not an ECR repository URL "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<name>)"
        )
    account, region, name = match.groups()
    return f"arn:{partition}:ecr:{region}:{account}:repository/{name}"
