"""The tags every taggable AWS resource carries, so cost and ownership are visible per stack."""

from __future__ import annotations

import re
from collections.abc import Mapping

PROJECT_TAG = "project"
STACK_TAG = "stack"
MANAGED_BY_TAG = "managed-by"
REQUIRED_TAG_KEYS = (PROJECT_TAG, STACK_TAG)
"""Tags the policy checks on every taggable resource (infra/policy.py)."""

# AWS tag grammar (keys ≤ 128, values ≤ 256): letters, digits, spaces and _ . : / = + - @
_TAG_TEXT = re.compile(r"[\w .:/=+\-@]*")


def resource_tags(project: str, stack: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tags for one stack's resources: project, stack and who manages them, plus `extra`."""
    return {PROJECT_TAG: project, STACK_TAG: stack, MANAGED_BY_TAG: "pulumi", **(extra or {})}


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Reasons AWS would refuse these tags; empty when every key and value is acceptable."""
    found = []
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or not _TAG_TEXT.fullmatch(key) or key.lower().startswith("aws:"):
            found.append(f"tag key {key!r} must be 1–128 letters, digits, spaces or _.:/=+-@ and not start with 'aws:'")
        if len(value) > 256 or not _TAG_TEXT.fullmatch(value):
            found.append(f"tag {key!r} value {value!r} must be ≤ 256 letters, digits, spaces or _.:/=+-@")
    return found
