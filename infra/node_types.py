"""EC2 instance types the cluster's nodes may use: x86_64 types the AL2023 EKS AMI supports.

An allow-list rather than a pattern: a typo like `t3.larg` or an ARM type on x86 images fails in the
settings check, before anything is created, instead of deep inside an EKS node group update.
"""

from __future__ import annotations

NODE_AMI_TYPE = "AL2023_x86_64_STANDARD"
"""Amazon Linux 2023 EKS-optimised image for x86_64; every type below runs it."""

NODE_INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    # name: (vCPU, GiB memory)
    "t3.medium": (2, 4),
    "t3.large": (2, 8),
    "t3.xlarge": (4, 16),
    "t3a.medium": (2, 4),
    "t3a.large": (2, 8),
    "t3a.xlarge": (4, 16),
    "m5.large": (2, 8),
    "m5.xlarge": (4, 16),
    "m6i.large": (2, 8),
    "m6i.xlarge": (4, 16),
    "m6a.large": (2, 8),
    "m6a.xlarge": (4, 16),
    "m7i.large": (2, 8),
    "m7i.xlarge": (4, 16),
    "c6i.large": (2, 4),
    "c6i.xlarge": (4, 8),
    "c7i.large": (2, 4),
    "c7i.xlarge": (4, 8),
    "r6i.large": (2, 16),
}
"""Supported node types with their size; extend deliberately (and check the AMI type) when needed."""
