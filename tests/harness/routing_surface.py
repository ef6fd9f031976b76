"""What a stack hands its router, read from a mocked program run: the objects a routing change could alter.

`routing_surface(graph)` collects, by Pulumi name, every route object (Ingress, Gateway API objects, the
router's policy objects), every NetworkPolicy (it admits the router's namespace), the ClusterIssuers (their
HTTP-01 solver goes through the router) and the routing part of the router's chart values. The files in
tests/infra/routing/ hold that surface as the program rendered it before routing became a seam (commit
83192b7): tests/infra/test_routing_surface.py asserts the default router still renders exactly it.

Regenerate a file only for an intended change of the ingress-nginx rendering, and say why in the commit:
    .venv/bin/python -m tests.infra.routing_surface
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.mocked_stack import NEXT_RELEASE_TAG, RELEASE_TAG, Graph, run_stack

SURFACE_DIR = Path(__file__).resolve().parents[1] / "infra" / "routing"
ROUTE_TYPES = (
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:cert-manager.io/v1:ClusterIssuer",
)
ROUTE_GROUPS = ("gateway.networking.k8s.io", "gateway.envoyproxy.io")
"""API groups whose every object is part of the surface (Gateway API and Envoy Gateway's policies)."""
ROUTING_VALUES = ("config", "ingressClass", "ingressClassResource")
"""The ingress-nginx chart's `controller` keys that decide routing (the rest is the NLB and pod lifecycle)."""

CASES: dict[str, Mapping[str, Any]] = {
    **{stack: {"imageTag": RELEASE_TAG} for stack in ("int", "stg", "prd")},
    **{
        f"{stack}-canary": {
            "imageTag": RELEASE_TAG,
            "releaseStrategy": "canary",
            "canaryTag": NEXT_RELEASE_TAG,
            "canaryWeight": 50,
        }
        for stack in ("int", "stg", "prd")
    },
}
"""Each file's run: the stack and its config overrides (a canary step at 50 % for each stack)."""


def routing_surface(graph: Graph) -> dict[str, Any]:
    """The routing objects of one run by Pulumi name, as the program registered them."""
    surface: dict[str, Any] = {}
    for resource in graph.resources:
        group = resource.type.split(":")[1].split("/")[0] if resource.type.startswith("kubernetes:") else ""
        if resource.type in ROUTE_TYPES or group in ROUTE_GROUPS:
            surface[resource.name] = resource.inputs
        elif resource.type == "kubernetes:helm.sh/v3:Release" and resource.inputs.get("name") == "ingress-nginx":
            controller = resource.inputs["values"]["controller"]
            surface[resource.name] = {key: controller[key] for key in ROUTING_VALUES if key in controller}
    return surface


def case_stack(case: str) -> str:
    """The stack a case runs: `prd-canary` runs prd."""
    return case.split("-", maxsplit=1)[0]


def render_case(case: str) -> dict[str, Any]:
    """Run the program for one case and return its routing surface."""
    graph = run_stack(case_stack(case), CASES[case], allow_placeholders=True)
    return routing_surface(graph)


def surface_text(surface: Mapping[str, Any]) -> str:
    """The file form: sorted, indented JSON, so a diff names the field that changed."""
    return json.dumps(surface, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    for name in CASES:
        (SURFACE_DIR / f"{name}.json").write_text(surface_text(render_case(name)), encoding="utf-8")
        print(f"wrote {SURFACE_DIR / name}.json")
