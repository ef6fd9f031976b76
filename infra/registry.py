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
from typing import Any

import pulumi
import pulumi_aws as aws

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
