"""Run the real policy pack (infra/policy_pack POLICIES) the way pulumi-policy's analyzer runs it.

pulumi-policy 1.21.0 (sdk/python/lib/pulumi_policy/policy.py, `_PolicyAnalyzerServicer.Analyze` and
`AnalyzeStack`) turns the engine's protobuf properties into a dict with `deserialize_properties` (secrets
unwrapped), wraps it in `unknown_checking_proxy`, builds ResourceValidationArgs / StackValidationArgs and
calls each policy's `validate` with a `report_violation` callback. `run_pack` does the same, starting
from the properties as the engine sends them (`wire`), so the pack sees what it sees on a real preview.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from infra.policy import Resource, Secret
from infra.policy_pack import POLICIES

# The engine's placeholders for values a preview cannot know (pulumi_policy/proxy.py; the same strings
# the engine marshals with KeepUnknowns, pkg/resource/plugin/analyzer_plugin.go Analyze).
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2"
UNKNOWN_OBJECT = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One violation a policy reported, as the engine would print it."""

    policy: str
    resource: str
    """The resource's URN (or name when it has none); empty for the stack as a whole."""
    message: str
    enforcement: EnforcementLevel

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


def wire(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties as the engine sends them to an analyzer: a protobuf Struct (numbers become floats)."""
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return json_format.MessageToDict(struct)


def pack_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a validation receives as `args.props` for these wire properties."""
    return unknown_checking_proxy(deserialize_properties(wire(props)))  # type: ignore[no-any-return]


_NO_OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)


def _urn(resource: Resource) -> str:
    return resource.urn or f"urn:pulumi:test::example-app::{resource.type}::{resource.name}"


@contextmanager
def _deployment(project: str, stack: str) -> Iterator[None]:
    # What the Python language host sets for a policy pack (see infra.policy_pack.deployment).
    with mock.patch.dict(os.environ, {"PULUMI_PROJECT": project, "PULUMI_STACK": stack}):
        yield


def _collect(into: list[tuple[str, str | None]]) -> ReportViolation:
    def report_violation(message: str, urn: str | None = None) -> None:
        into.append((message, urn))

    return report_violation


def run_pack(resources: Iterable[Resource], *, project: str = "example-app", stack: str = "int") -> list[Violation]:
    """Every violation the pack reports over `resources` (props in wire form), resource policies then stack."""
    resources = list(resources)
    found: list[Violation] = []
    with _deployment(project, stack):
        for policy in POLICIES:
            level = policy.enforcement_level or EnforcementLevel.ADVISORY
            reports: list[tuple[str, str | None]] = []
            if isinstance(policy, ResourceValidationPolicy):
                for r in resources:
                    reports.clear()
                    args = ResourceValidationArgs(r.type, pack_props(r.props), _urn(r), r.name, _NO_OPTIONS, None)
                    policy.validate(args, _collect(reports))
                    # The engine files a resource policy's violation under the resource analyzed.
                    found += [
                        Violation(policy=policy.name, resource=_urn(r), message=m, enforcement=level)
                        for m, _ in reports
                    ]
            elif isinstance(policy, StackValidationPolicy):
                stack_resources = [
                    PolicyResource(r.type, pack_props(r.props), _urn(r), r.name, _NO_OPTIONS, None, None, [], {})
                    for r in resources
                ]
                policy.validate(StackValidationArgs(stack_resources), _collect(reports))
                found += [
                    Violation(policy=policy.name, resource=urn or "", message=m, enforcement=level)
                    for m, urn in reports
                ]
    return found


def from_graph(graph: Any) -> list[Resource]:
    """The resources a real program registered under mocks (not those it only read), props as sent."""
    return [Resource(type=r.type, name=r.name, urn=r.urn, props=r.raw_inputs) for r in graph.resources if not r.read]


def with_secrets_marked(value: Any) -> Any:
    """Props with Pulumi's secret wrappers turned into infra.policy.Secret, for the mock-only no_plain_secrets."""
    if rpc.is_rpc_secret(value):
        return Secret(_unwrapped(value))
    if isinstance(value, dict):
        return {k: with_secrets_marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_secrets_marked(v) for v in value]
    return value


def _unwrapped(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrapped(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrapped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrapped(v) for v in value]
    return value
