"""Each real stack's settings, loaded as `pulumi up` would: Pulumi.yaml defaults, then Pulumi.<stack>.yaml.

Config is assembled by `harness.project_files.stack_config`: one reader of the stack files for every test area.
The values a deploy supplies (the release tag and its digest, set by the pipeline with `-c`) are given here as
the pipeline gives them, so the rendered objects are the ones a cluster receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.mocked_stack import RELEASE_TAG
from harness.project_files import as_config_strings, stack_config
from stacks.settings import CONFIG_KEYS, PROJECT, StackSettings, parse_settings

RELEASE = {
    "imageTag": RELEASE_TAG,
    "imageDigest": "sha256:" + "ab" * 32,
    "imageRepository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app",
}
"""What the deploy pipeline sets on every `pulumi up` (tag, digest) and the shared ECR repository's URL."""


def raw_config(stack: str) -> tuple[dict[str, str | None], str | None]:
    """The `example-app:` config strings and the AWS region of one stack, as the CLI assembles them."""
    values = as_config_strings(stack_config(stack, RELEASE))
    prefix = f"{PROJECT}:"
    raw: dict[str, str | None] = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
    return raw, values.get("aws:region")


def stack_settings(stack: str) -> StackSettings:
    """One stack's validated settings, exactly as the program loads them."""
    raw, region = raw_config(stack)
    return parse_settings(raw, stack=stack, region=region, allow_placeholders=True)  # Pulumi.yaml's example.com


def program_config(stack: str, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str | None], str | None]:
    """Every key the program reads (None: unset) and the region, for `stack` at RELEASE_TAG with `overrides`."""
    values = as_config_strings(stack_config(stack, {"imageTag": RELEASE_TAG, **(overrides or {})}))
    raw: dict[str, str | None] = {key: values.get(f"{PROJECT}:{key}") for key in CONFIG_KEYS}
    return raw, values.get("aws:region")


def settings_with(stack: str, overrides: Mapping[str, object]) -> StackSettings:
    """One stack's validated settings with `overrides` (config key → value) over its files; placeholders allowed."""
    values = as_config_strings(stack_config(stack, overrides))
    prefix = f"{PROJECT}:"
    raw = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
    return parse_settings(raw, stack=stack, region=values["aws:region"], allow_placeholders=True)
