"""How a rolling update's maxSurge / maxUnavailable become pod counts, exactly as Kubernetes does it.

Mirrors `deploymentutil.ResolveFenceposts` (kubernetes/pkg/controller/deployment/util): surge rounds
up, unavailable rounds down, and when both come out 0 the controller uses unavailable 1 so a rollout
can still make progress.
"""

from __future__ import annotations

import re

IntOrPercent = int | str
_PERCENT = re.compile(r"(\d{1,3})%")


def parse_int_or_percent(value: object) -> tuple[int, bool] | None:
    """(number, is_percent) for 3, "3" is refused as Kubernetes does, "25%" → (25, True); None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value, False) if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:  # Pulumi config numbers arrive as floats
        return int(value), False
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value)
        if match and int(match.group(1)) <= 100:
            return int(match.group(1)), True
    return None


def scaled_value(value: IntOrPercent, total: int, round_up: bool) -> int:
    """An absolute value, or a percentage of `total` rounded as the Deployment controller rounds it."""
    parsed = parse_int_or_percent(value)
    if parsed is None:
        raise ValueError(f"{value!r} is neither a non-negative integer nor a percentage like '25%'")
    number, is_percent = parsed
    if not is_percent:
        return number
    scaled = number * total
    return -(-scaled // 100) if round_up else scaled // 100


def resolve_fenceposts(max_surge: IntOrPercent, max_unavailable: IntOrPercent, replicas: int) -> tuple[int, int]:
    """(surge, unavailable) pods for a rollout of `replicas`; e.g. 39 %/39 % of 10 → (4, 3)."""
    surge = scaled_value(max_surge, replicas, round_up=True)
    unavailable = scaled_value(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable
