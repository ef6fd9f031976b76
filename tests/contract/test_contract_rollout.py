"""maxSurge / maxUnavailable to pod counts, checked against Kubernetes' own TestResolveFenceposts table."""

from __future__ import annotations

import pytest

from app.contract.rollout import IntOrPercent, parse_int_or_percent, resolve_fenceposts, scaled_value


# kubernetes/pkg/controller/deployment/util/deployment_util_test.go, TestResolveFenceposts. Its "nil"
# (field left out) resolves to 0, so nil is written 0 here.
@pytest.mark.parametrize(
    ("max_surge", "max_unavailable", "desired", "expected"),
    [
        ("0%", "0%", 0, (0, 1)),
        ("39%", "39%", 10, (4, 3)),
        (0, "39%", 10, (0, 3)),
        ("39%", 0, 10, (4, 0)),
        (0, 0, 10, (0, 1)),
        # ours: the defaults, and rounding at the sizes the bench uses
        (1, 0, 3, (1, 0)),
        ("25%", "25%", 8, (2, 2)),
        ("25%", 0, 3, (1, 0)),  # surge rounds up: 0.75 → 1
        (0, "25%", 3, (0, 1)),  # unavailable rounds down: 0.75 → 0, then both 0 → unavailable 1
        ("100%", 0, 10, (10, 0)),
    ],
)
def test_fenceposts_resolve_like_the_deployment_controller(
    max_surge: IntOrPercent, max_unavailable: IntOrPercent, desired: int, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(max_surge, max_unavailable, desired) == expected


@pytest.mark.parametrize(("max_surge", "max_unavailable"), [("oops", "39%"), ("55%", "urg"), ("5", "1")])
def test_kubernetes_error_cases_are_refused(max_surge: str, max_unavailable: str) -> None:
    # A bare number in a string ("5") is not an int-or-percent either: Kubernetes refuses it too.
    with pytest.raises(ValueError, match="neither a non-negative integer nor a percentage"):
        resolve_fenceposts(max_surge, max_unavailable, 10)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (3, (3, False)),
        (0, (0, False)),
        (2.0, (2, False)),  # Pulumi config numbers arrive as floats
        ("25%", (25, True)),
        ("0%", (0, True)),
        ("100%", (100, True)),
        ("101%", None),
        ("-5%", None),
        ("3", None),
        (-1, None),
        (2.5, None),
        (True, None),
        (None, None),
    ],
)
def test_int_or_percent_parsing(value: object, parsed: tuple[int, bool] | None) -> None:
    assert parse_int_or_percent(value) == parsed


def test_absolute_values_do_not_scale() -> None:
    assert scaled_value(2, 100, round_up=True) == 2
    assert scaled_value("10%", 15, round_up=True) == 2
    assert scaled_value("10%", 15, round_up=False) == 1
