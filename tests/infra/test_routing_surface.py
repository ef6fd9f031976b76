"""The default router renders exactly what the program rendered before routing became a seam, for every stack.

tests/infra/routing/*.json were written by tests/harness/routing_surface.py from the program at commit 83192b7
(ingress-nginx built into the contract): the stable Ingress, the NetworkPolicies, the ClusterIssuers, the
ingress-nginx chart's routing values, and for each stack a canary step at 50 % with its canary Ingress.
"""

from __future__ import annotations

import json

import pytest

from harness.routing_surface import CASES, SURFACE_DIR, render_case, surface_text


@pytest.mark.parametrize("case", list(CASES))
def test_the_default_router_renders_todays_objects_byte_for_byte(case: str) -> None:
    expected = (SURFACE_DIR / f"{case}.json").read_text(encoding="utf-8")
    assert surface_text(render_case(case)) == expected


def test_the_recorded_surface_holds_the_objects_a_router_change_could_alter() -> None:
    # A surface without route objects would compare nothing: each file holds the stable Ingress, the
    # ClusterIssuers and the chart values, and each canary file its canary Ingress too.
    for case in CASES:
        surface = json.loads((SURFACE_DIR / f"{case}.json").read_text(encoding="utf-8"))
        kinds = sorted(obj.get("kind", "values") for obj in surface.values())
        ingresses = 2 if case.endswith("-canary") else 1
        assert kinds.count("Ingress") == ingresses, case
        assert kinds.count("ClusterIssuer") == 2, case
        assert kinds.count("values") == 1, case
