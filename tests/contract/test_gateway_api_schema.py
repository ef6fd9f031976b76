"""Every Gateway API object the program renders, against v1.5.1's standard-channel schema (gateway_api_schema.py)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.contract.canary import CanaryStep, canary_split
from app.contract.manifests import route_objects, stable_route
from app.contract.routers import gateway_api
from harness.gateway_api_schema import SCHEMAS, problems
from harness.project_files import stack_names
from harness.stack_settings import stack_settings
from infra.envoy_gateway import gateway_class

STACKS = stack_names()

WEIGHTS = (0, 1, 10, 50, 99, 100)


def rendered_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every standard-channel object a gateway-api stack renders: each real stack, stable and at each canary weight."""
    for stack in STACKS:
        settings = stack_settings(stack)
        app = dataclasses.replace(settings.app, router=gateway_api.ROUTER)
        policy = settings.release.policy
        yield f"{stack} gateway", gateway_api.gateway(stable_route(app))
        yield (
            f"{stack} plain gateway",
            gateway_api.gateway(dataclasses.replace(stable_route(app), tls_cluster_issuer="")),
        )
        yield (
            f"{stack} gateway class",
            gateway_class(name=app.router_class, envoy_proxy_name=app.router_class, envoy_proxy_namespace="ns"),
        )
        splits = [None, *(canary_split(app, CanaryStep(tag="v2", weight=w), policy) for w in WEIGHTS)]
        for split in splits:
            objects = route_objects(app, split)
            for manifest in [*objects.stable, *objects.canary]:
                if (manifest["apiVersion"], manifest["kind"]) in SCHEMAS:
                    weight = "stable" if split is None else f"{split.weight} %"
                    yield f"{stack} {manifest['kind']} {manifest['metadata']['name']} at {weight}", manifest


OBJECTS = list(rendered_objects())


@pytest.mark.parametrize(("label", "manifest"), OBJECTS, ids=[label for label, _ in OBJECTS])
def test_every_rendered_object_fits_the_standard_channel(label: str, manifest: dict[str, Any]) -> None:
    assert problems(manifest) == []


def test_every_kind_we_check_is_rendered() -> None:
    # A kind dropped from the rendering must not leave its rules unused and this test vacuous.
    assert {(m["apiVersion"], m["kind"]) for _, m in OBJECTS} == set(SCHEMAS)
    assert sum(m["kind"] == "HTTPRoute" for _, m in OBJECTS) >= len(STACKS) * len(WEIGHTS)


def _route() -> dict[str, Any]:
    return copy.deepcopy(next(m for label, m in OBJECTS if "HTTPRoute" in label and "50 %" in label))


def _gateway() -> dict[str, Any]:
    return copy.deepcopy(next(m for label, m in OBJECTS if label.endswith(" gateway") and "plain" not in label))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(manifest: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = manifest
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return apply


DELETE = object()

BROKEN = [
    ("route", _set("spec.rules.1.backendRefs.1.weight", 1_000_001), "> 1000000"),
    ("route", _set("spec.rules.0.matches.0.headers.0.type", "Prefix"), "is not one of"),
    ("route", _set("spec.rules.0.matches.0.headers.0.name", "X Canary"), "does not match"),
    ("route", _set("spec.rules.0.matches.0.headers.0.value", ""), "shorter than 1"),
    ("route", _set("spec.hostnames", [f"h{i}.example.org" for i in range(17)]), "more than 16 items"),
    ("route", _set("spec.hostnames.0", "Upper.Example.org"), "does not match"),
    ("route", _set("spec.rules", []), "fewer than 1 items"),
    ("route", _set("spec.rules.0.backendRefs.0.port", 0), "< 1"),
    ("route", _set("spec.parentRefs.0.sectionName", "HTTPS"), "does not match"),
    ("route", _set("spec.rules.0.timeouts", {"request": "10s"}), "not a field"),  # experimental in v1.0, not used
    ("route", _set("spec.rules.0.matches.0.headers.0.name", DELETE), "`name` is required"),
    ("gateway", _set("spec.listeners.0.protocol", "HTTP/"), "does not match"),
    ("gateway", _set("spec.listeners.1.tls.mode", "Terminated"), "is not one of"),
    ("gateway", _set("spec.listeners.0.allowedRoutes.namespaces.from", "Any"), "is not one of"),
    ("gateway", _set("spec.listeners.0.port", 70000), "> 65535"),
    ("gateway", _set("spec.gatewayClassName", DELETE), "`gatewayClassName` is required"),
    ("gateway", _set("spec.listeners", []), "fewer than 1 items"),
]


@pytest.mark.parametrize(("which", "breaks", "message"), BROKEN)
def test_a_value_the_crd_refuses_is_found(which: str, breaks: Callable[[dict[str, Any]], None], message: str) -> None:
    manifest = _route() if which == "route" else _gateway()
    assert problems(manifest) == []
    breaks(manifest)
    assert any(message in p for p in problems(manifest)), problems(manifest)


def test_a_redirect_with_a_status_the_standard_channel_lacks_is_found() -> None:
    redirect = copy.deepcopy(next(m for label, m in OBJECTS if "https-redirect" in label))
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"]["statusCode"] == 308  # as ingress-nginx
    redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"]["statusCode"] = 304
    assert any("304 is not one of [301, 302, 303, 307, 308]" in p for p in problems(redirect))


def test_a_kind_the_check_does_not_know_is_a_finding() -> None:
    policy = {"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "BackendLBPolicy", "spec": {}}
    assert problems(policy) == [
        "gateway.networking.k8s.io/v1alpha2 BackendLBPolicy: not a standard-channel kind this check knows"
    ]
