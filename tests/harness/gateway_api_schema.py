"""The Gateway API v1.5.1 standard-channel schema, for the fields this program renders, as checks of our own.

Each rule was read from kubernetes-sigs/gateway-api v1.5.1 config/crd/standard/gateway.networking.k8s.io_
{httproutes,gateways,gatewayclasses}.yaml (version v1, `openAPIV3Schema`): required fields, enums, patterns,
lengths, bounds and maxItems. Only the fields we use are listed, so a field we render that is not listed is a
finding too (a typo, or a field the standard channel does not have). CI checks the same objects against the
downloaded CRDs themselves (.ci/gateway-api-crds); this runs offline, in milliseconds.

    problems(manifest)   # [] when every field we render is known and valid
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# The CRDs' shared patterns (gateway-api v1.5.1 apis/v1/shared_types.go: Hostname, PreciseHostname, SectionName,
# Group, Kind, Namespace; httproute_types.go HTTPHeaderName).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
GROUP = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$"
PROTOCOL = (
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
    r"|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
)
CONTROLLER_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"


@dataclass(frozen=True, kw_only=True)
class Field:
    """What the CRD says about one field (a path; `[]` stands for every item of a list)."""

    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] = ()
    pattern: str = ""
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    max_items: int | None = None


def _ref(prefix: str, *, required: tuple[str, ...] = ("name",)) -> dict[str, Field]:
    """A reference's fields (ParentReference, BackendObjectReference, SecretObjectReference, ParametersReference)."""
    return {
        f"{prefix}": Field(required=required),
        f"{prefix}.group": Field(pattern=GROUP, max_length=253),
        f"{prefix}.kind": Field(pattern=KIND, min_length=1, max_length=63),
        f"{prefix}.name": Field(min_length=1, max_length=253),
        f"{prefix}.namespace": Field(pattern=NAMESPACE, min_length=1, max_length=63),
    }


HTTP_ROUTE: dict[str, Field] = {
    "spec": Field(),
    "spec.parentRefs": Field(max_items=32),
    **_ref("spec.parentRefs[]"),
    "spec.parentRefs[].sectionName": Field(pattern=DNS_SUBDOMAIN, min_length=1, max_length=253),
    "spec.hostnames": Field(max_items=16),
    "spec.hostnames[]": Field(pattern=HOSTNAME, min_length=1, max_length=253),
    "spec.rules": Field(min_items=1, max_items=16),
    "spec.rules[]": Field(),
    "spec.rules[].matches": Field(max_items=64),
    "spec.rules[].matches[]": Field(),
    "spec.rules[].matches[].path": Field(),
    "spec.rules[].matches[].path.type": Field(enum=("Exact", "PathPrefix", "RegularExpression")),
    "spec.rules[].matches[].path.value": Field(max_length=1024),
    "spec.rules[].matches[].headers": Field(max_items=16),
    "spec.rules[].matches[].headers[]": Field(required=("name", "value")),
    "spec.rules[].matches[].headers[].type": Field(enum=("Exact", "RegularExpression")),
    "spec.rules[].matches[].headers[].name": Field(pattern=HEADER_NAME, min_length=1, max_length=256),
    "spec.rules[].matches[].headers[].value": Field(min_length=1, max_length=4096),
    "spec.rules[].backendRefs": Field(max_items=16),
    **_ref("spec.rules[].backendRefs[]"),
    "spec.rules[].backendRefs[].port": Field(minimum=1, maximum=65535),
    "spec.rules[].backendRefs[].weight": Field(minimum=0, maximum=1000000),
    "spec.rules[].filters": Field(max_items=16),
    "spec.rules[].filters[]": Field(required=("type",)),
    "spec.rules[].filters[].type": Field(
        enum=(
            "RequestHeaderModifier",
            "ResponseHeaderModifier",
            "RequestMirror",
            "RequestRedirect",
            "URLRewrite",
            "ExtensionRef",
            "CORS",
        )
    ),
    "spec.rules[].filters[].requestRedirect": Field(),
    "spec.rules[].filters[].requestRedirect.scheme": Field(enum=("http", "https")),
    "spec.rules[].filters[].requestRedirect.statusCode": Field(enum=(301, 302, 303, 307, 308)),
}

GATEWAY: dict[str, Field] = {
    "spec": Field(required=("gatewayClassName", "listeners")),
    "spec.gatewayClassName": Field(min_length=1, max_length=253),
    "spec.listeners": Field(min_items=1, max_items=64),
    "spec.listeners[]": Field(required=("name", "port", "protocol")),
    "spec.listeners[].name": Field(pattern=DNS_SUBDOMAIN, min_length=1, max_length=253),
    "spec.listeners[].hostname": Field(pattern=HOSTNAME, min_length=1, max_length=253),
    "spec.listeners[].port": Field(minimum=1, maximum=65535),
    "spec.listeners[].protocol": Field(pattern=PROTOCOL, min_length=1, max_length=255),
    "spec.listeners[].tls": Field(),
    "spec.listeners[].tls.mode": Field(enum=("Terminate", "Passthrough")),
    "spec.listeners[].tls.certificateRefs": Field(max_items=64),
    **_ref("spec.listeners[].tls.certificateRefs[]"),
    "spec.listeners[].allowedRoutes": Field(),
    "spec.listeners[].allowedRoutes.namespaces": Field(),
    "spec.listeners[].allowedRoutes.namespaces.from": Field(enum=("All", "Selector", "Same")),
    # A LabelSelector (the CRD repeats Kubernetes' own): matchExpressions items need key and operator.
    "spec.listeners[].allowedRoutes.namespaces.selector": Field(),
    "spec.listeners[].allowedRoutes.namespaces.selector.matchExpressions": Field(),
    "spec.listeners[].allowedRoutes.namespaces.selector.matchExpressions[]": Field(required=("key", "operator")),
    "spec.listeners[].allowedRoutes.namespaces.selector.matchExpressions[].key": Field(),
    "spec.listeners[].allowedRoutes.namespaces.selector.matchExpressions[].operator": Field(),
    "spec.listeners[].allowedRoutes.namespaces.selector.matchExpressions[].values": Field(),
    "spec.listeners[].allowedRoutes.namespaces.selector.matchExpressions[].values[]": Field(),
}

GATEWAY_CLASS: dict[str, Field] = {
    "spec": Field(required=("controllerName",)),
    "spec.controllerName": Field(pattern=CONTROLLER_NAME, min_length=1, max_length=253),
    **_ref("spec.parametersRef", required=("group", "kind", "name")),
}

SCHEMAS: dict[tuple[str, str], dict[str, Field]] = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTP_ROUTE,
    ("gateway.networking.k8s.io/v1", "Gateway"): GATEWAY,
    ("gateway.networking.k8s.io/v1", "GatewayClass"): GATEWAY_CLASS,
}
"""The standard-channel kinds we render, at the version we render them (v1)."""


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, f"{path}[]")


def _field_problems(path: str, value: Any, rule: Field) -> Iterator[str]:
    if isinstance(value, Mapping):
        for name in rule.required:
            if name not in value:
                yield f"{path}: `{name}` is required"
    if rule.enum and value not in rule.enum:
        yield f"{path}: {value!r} is not one of {list(rule.enum)}"
    if isinstance(value, str):
        if rule.pattern and not re.search(rule.pattern, value):
            yield f"{path}: {value!r} does not match {rule.pattern}"
        if rule.min_length is not None and len(value) < rule.min_length:
            yield f"{path}: shorter than {rule.min_length}"
        if rule.max_length is not None and len(value) > rule.max_length:
            yield f"{path}: longer than {rule.max_length}"
    if isinstance(value, int) and not isinstance(value, bool):
        if rule.minimum is not None and value < rule.minimum:
            yield f"{path}: {value} < {rule.minimum}"
        if rule.maximum is not None and value > rule.maximum:
            yield f"{path}: {value} > {rule.maximum}"
    if isinstance(value, list):
        if rule.min_items is not None and len(value) < rule.min_items:
            yield f"{path}: fewer than {rule.min_items} items"
        if rule.max_items is not None and len(value) > rule.max_items:
            yield f"{path}: more than {rule.max_items} items"


def problems(manifest: Mapping[str, Any]) -> list[str]:
    """Every way `manifest` breaks the v1.5.1 standard-channel schema for the fields we use; [] when none."""
    kind = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    schema = SCHEMAS.get(kind)
    if schema is None:
        return [f"{kind[0]} {kind[1]}: not a standard-channel kind this check knows"]
    found: list[str] = []
    if "spec" not in manifest:
        found.append("`spec` is required")
    for path, value in _walk(manifest.get("spec", {}), "spec"):
        rule = schema.get(path)
        if rule is None:
            found.append(f"{path}: not a field of {kind[1]} in the standard channel as this check knows it")
            continue
        found += _field_problems(path, value, rule)
    return [f"{kind[1]} {manifest.get('metadata', {}).get('name', '?')}: {p}" for p in found]
