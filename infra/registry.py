"""The ECR repository the app's images live in: one shared repository, released tags never overwritten.

Shared, not per stack: the pipeline builds an image once per release tag and pushes it once; int, stg
and prd then run that same image (same digest), so what passed int and stg is byte for byte what
reaches prd. The stack whose `imageRepository` setting is empty creates the repository (int, the first
stage a release reaches); the others are given its URL (`pulumi config set imageRepository
$(pulumi stack output imageRepository -s int) -s stg`). Destroying the owning stack keeps the
repository (`retain_on_delete`): its images are the other stacks' rollback targets.

    registry = ImageRegistry("app-image", ImageRegistryArgs(name="example-app", tags=settings.tags))
    pulumi.export("imageRepository", registry.repository_url)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from infra.ci_policy import ecr_repository_parts

KEEP_RELEASES = 50
"""Release images kept: every one of them is a rollback target the pipeline may redeploy."""
UNTAGGED_DAYS = 7
"""Untagged images (a failed or interrupted push) are removed after this many days."""
RELEASE_TAG_PREFIX = "v"
"""Release tags are the git tags `v1.2.3`."""


def lifecycle_policy(keep_releases: int = KEEP_RELEASES, untagged_days: int = UNTAGGED_DAYS) -> dict[str, Any]:
    """ECR lifecycle rules: drop untagged leftovers after some days, keep the newest `keep_releases` releases."""
    if keep_releases < 1 or untagged_days < 1:
        raise ValueError("keep_releases and untagged_days must be ≥ 1: a lifecycle rule must never expire everything")
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Remove untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the newest {keep_releases} releases (rollback targets)",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [RELEASE_TAG_PREFIX],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_releases,
                },
                "action": {"type": "expire"},
            },
        ]
    }


@dataclass(frozen=True, kw_only=True)
class ImageRegistryArgs:
    """How the shared image repository is created."""

    name: str
    """Repository name; the pipeline pushes `<registry>/<name>:<release tag>`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """AWS tags (project, stack, …)."""
    keep_releases: int = KEEP_RELEASES
    """Release images kept for rollbacks."""
    untagged_days: int = UNTAGGED_DAYS
    """Days before an untagged image is removed."""


class ImageRegistry(pulumi.ComponentResource):
    """An ECR repository with immutable tags, scan on push, KMS encryption and a lifecycle policy.

    Immutable tags: a release tag always means the image that was tested; the pipeline refuses to
    deploy a tag whose digest differs from the one it built.
    """

    repository_url: pulumi.Output[str]
    """`<account>.dkr.ecr.<region>.amazonaws.com/<name>`: what pods pull and the pipeline pushes to."""

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:ImageRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS"}],
            # Never delete images on `pulumi destroy`: other stacks run them and roll back to them.
            force_delete=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(retain_on_delete=True)),
        )
        self.lifecycle = aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(lifecycle_policy(args.keep_releases, args.untagged_days)),
            opts=child,
        )
        self.repository_url = self.repository.repository_url
        self.register_outputs({"repository_url": self.repository_url})


def is_managed_here(repository: str) -> bool:
    """True for a bare repository name (no registry host, as Docker reads references): ours to create in ECR.

    `example-app` → this stack creates the ECR repository `example-app`; a full URL such as
    `123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app` is another stack's (or any registry's).
    """
    first, _, rest = repository.partition("/")
    has_host = "." in first or ":" in first or first == "localhost"
    return not has_host and not rest


@dataclass(frozen=True, kw_only=True)
class EcrRepository:
    """Where a stack's release images are: the repository this stack creates, or another stack's by URL."""

    name: str
    """Repository name, e.g. `example-app`."""
    registry_id: str = ""
    """The AWS account holding it; empty: the account the program runs in."""
    region: str = ""
    """Its region; empty: the stack's `aws:region`."""
    display: str = ""
    """How the stack's settings name it (for messages)."""

    @classmethod
    def locate(cls, image_repository: str) -> EcrRepository | None:
        """The repository a bare name (created by this stack) or an ECR URL names; None for any other registry."""
        if is_managed_here(image_repository):
            return cls(name=image_repository, display=image_repository)
        parts = ecr_repository_parts(image_repository)
        if parts is None:
            return None
        account, region, name = parts
        return cls(name=name, registry_id=account, region=region, display=image_repository)


@dataclass(frozen=True)
class ImageLookup:
    """What ECR answered for one tag: its digest, or why it could not be found."""

    digest: str = ""
    """`sha256:…` of the image; empty when ECR did not return it."""
    error: str = ""
    """The lookup's error as the provider reported it (a missing image, a missing repository, no permission)."""


class ReleaseImages(Protocol):
    """The registry's answers the program needs before it deploys the app (a fake in the tests)."""

    def find(self, repository: EcrRepository, tag: str) -> ImageLookup:
        """The image `tag` in `repository`."""
        ...

    def repository_exists(self, repository: EcrRepository) -> bool:
        """Whether `repository` exists (and this identity may read it)."""
        ...


class EcrImages:
    """ECR through pulumi_aws's lookups: DescribeImages (`aws.ecr.get_image`) and DescribeRepositories.

    Lookups run while the program runs, before any resource is registered, in preview and up alike.
    The provider reports a missing image and a missing repository alike as a failed invoke
    (terraform-provider-aws internal/service/ecr/image_data_source.go wraps ImageNotFoundException and
    RepositoryNotFoundException in one "couldn't find resource" error), so a failed image lookup is
    followed by a repository lookup to tell them apart. The CI roles may make both calls on the
    repository (infra/ci_policy.py IMAGE_READ_ACTIONS).
    """

    def find(self, repository: EcrRepository, tag: str) -> ImageLookup:
        try:
            # pulumi_aws 7.51.1 ecr/get_image.py: repository_name, image_tag, registry_id, region.
            image = aws.ecr.get_image(
                repository_name=repository.name,
                image_tag=tag,
                registry_id=repository.registry_id or None,
                region=repository.region or None,
            )
        except Exception as error:  # a failed invoke raises a plain Exception (pulumi 3.272.0 runtime/invoke.py)
            return ImageLookup(error=str(error))
        return ImageLookup(digest=image.image_digest)

    def repository_exists(self, repository: EcrRepository) -> bool:
        try:
            aws.ecr.get_repository(
                name=repository.name, registry_id=repository.registry_id or None, region=repository.region or None
            )
        except Exception:  # see find()
            return False
        return True
