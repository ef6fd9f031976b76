"""The CrossGuard policy pack: every rule of infra/policy.py as a mandatory Pulumi policy.

`pulumi preview|up --policy-pack infra/policy_pack` starts `__main__.py`, which serves `POLICIES`
to the engine; a mandatory violation fails the preview and stops the update before the resource is
created. tests/infra calls the same `POLICIES` with the arguments pulumi-policy builds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from infra.policy import RESOURCE_RULES, STACK_RULES, UNKNOWN, Resource, ResourceRule, StackRule, description

PACK_NAME = "example-app"


def plain(value: Any) -> Any:
    """Properties as plain dicts and lists, with UNKNOWN where a preview cannot know the value yet.

    pulumi-policy 1.21.0 hands a validation its properties behind proxies that raise UnknownValueError
    on reading an unknown value (pulumi_policy/proxy.py `unknown_checking_proxy`); left alone, one unknown
    anywhere would skip a whole rule in every preview. Reading each value once here keeps the rest.
    """
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def deployment() -> tuple[str, str]:
    """The project and stack being deployed, as the engine tells the policy pack's process.

    pulumi/pulumi v3.259.0 sdk/python/cmd/pulumi-language-python/main.go `RunPlugin` sets PULUMI_PROJECT
    and PULUMI_STACK for a policy pack from the engine's stack configuration (the same stack name the
    program's `pulumi.get_stack()` returns, pkg/engine/update.go `Stack: target.Name`).
    """
    try:
        return os.environ["PULUMI_PROJECT"], os.environ["PULUMI_STACK"]
    except KeyError as missing:
        raise RuntimeError(
            f"{missing} is not set: run the pack through `pulumi preview --policy-pack infra/policy_pack`"
        ) from None


def _resource_policy(name: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        project, stack = deployment()
        resource = Resource(type=args.resource_type, name=args.name, urn=args.urn, props=plain(args.props))
        for message in rule(resource, project, stack):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description(rule), validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def _stack_policy(name: str, rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            Resource(type=r.resource_type, name=r.name, urn=r.urn, props=plain(r.props)) for r in args.resources
        ]
        for resource, message in rule(resources):
            report_violation(message, resource.urn if resource else None)

    return StackValidationPolicy(
        name=name, description=description(rule), validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


POLICIES: list[Policy] = [
    *(_resource_policy(name, rule) for name, rule in RESOURCE_RULES.items()),
    *(_stack_policy(name, rule) for name, rule in STACK_RULES.items()),
]
"""Every rule, mandatory: a violation fails `pulumi preview` and blocks `pulumi up`."""
