"""The shared ECR repository: immutable tags, scan on push, kept on destroy, a lifecycle that keeps releases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.mocked_components import FAKE_ACCOUNT_REGISTRY, run_mocked
from infra.registry import (
    KEEP_RELEASES,
    UNTAGGED_DAYS,
    ImageRegistry,
    ImageRegistryArgs,
    is_managed_here,
    lifecycle_policy,
)


def test_repository_is_immutable_scanned_encrypted_and_tagged() -> None:
    urls: list[str] = []

    def program() -> Any:
        registry = ImageRegistry(
            "app-image", ImageRegistryArgs(name="example-app", tags={"project": "example-app", "stack": "int"})
        )
        return registry.repository_url.apply(urls.append)

    recording = run_mocked(program)
    (repository,) = recording.of_type("aws:ecr/repository:Repository")
    assert repository.inputs["name"] == "example-app"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
    assert repository.inputs["forceDelete"] is False
    assert repository.retain_on_delete, "destroying the owning stack must keep the other stacks' images"
    assert repository.inputs["tags"] == {"project": "example-app", "stack": "int"}
    assert recording.urn_name(repository.parent) == "app-image"
    (lifecycle,) = recording.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert json.loads(lifecycle.inputs["policy"]) == lifecycle_policy()
    assert urls == [f"{FAKE_ACCOUNT_REGISTRY}/example-app"]


def test_lifecycle_removes_untagged_leftovers_and_keeps_the_newest_releases() -> None:
    untagged, releases = lifecycle_policy()["rules"]
    assert untagged["rulePriority"] < releases["rulePriority"]
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": UNTAGGED_DAYS,
    }
    assert releases["selection"]["tagPrefixList"] == ["v"]
    assert releases["selection"]["countType"] == "imageCountMoreThan"
    assert releases["selection"]["countNumber"] == KEEP_RELEASES
    assert {rule["action"]["type"] for rule in (untagged, releases)} == {"expire"}


@pytest.mark.parametrize(("keep", "days"), [(0, 7), (10, 0)])
def test_a_lifecycle_that_would_expire_everything_is_refused(keep: int, days: int) -> None:
    with pytest.raises(ValueError, match="must never expire everything"):
        lifecycle_policy(keep, days)


@pytest.mark.parametrize(
    ("repository", "ours"),
    [
        ("example-app", True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app", False),
        ("localhost/example-app", False),
        ("registry:5000/example-app", False),
        ("team/example-app", False),
    ],
)
def test_only_a_bare_name_is_created_here(repository: str, ours: bool) -> None:
    assert is_managed_here(repository) is ours
