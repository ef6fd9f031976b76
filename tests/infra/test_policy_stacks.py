"""Every real stack passes every policy of the pack; placeholder settings never deploy.

The stacks run under Pulumi's mocks with an operator's settings: a zone and a contact this test makes
up under `.internal`, which ICANN reserves for private use (never delegated in the public DNS), so no
one's real domain appears here and the placeholder rule has a non-placeholder to pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.crossguard import Violation, from_graph, run_pack, with_secrets_marked
from harness.mocked_stack import NEXT_RELEASE_TAG, RELEASE_TAG, Run, run_stack
from harness.project_files import stack_names
from infra.policy import RESOURCE_RULES, STACK_RULES, Resource, no_plain_secrets

OPERATOR_SETTINGS = {
    "imageTag": RELEASE_TAG,
    "domain": "apps.acme-corp.internal",
    "acmeEmail": "platform@acme-corp.internal",
}

# Each stack file as released, and prd in the middle of a canary release (a second Deployment, Service,
# NetworkPolicy and Ingress).
SHAPES = {stack: (stack, OPERATOR_SETTINGS) for stack in stack_names()} | {
    "prd-canary": ("prd", {**OPERATOR_SETTINGS, "releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG}),
    # router gateway-api: Envoy Gateway's platform and the app's HTTPRoutes, stable and during a canary step.
    "prd-gateway-api": ("prd", {**OPERATOR_SETTINGS, "router": "gateway-api"}),
    "prd-gateway-api-canary": (
        "prd",
        {**OPERATOR_SETTINGS, "router": "gateway-api", "releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG},
    ),
}

ViolationsOf = Callable[[str], list[Violation]]


@pytest.fixture(scope="module")
def pack_violations() -> ViolationsOf:
    """Every violation the pack reports over a stack's graph, built once per stack."""
    cache: dict[str, list[Violation]] = {}

    def get(shape: str) -> list[Violation]:
        if shape not in cache:
            stack, settings = SHAPES[shape]
            cache[shape] = run_pack(from_graph(run_stack(stack, settings, allow_placeholders=False)), stack=stack)
        return cache[shape]

    return get


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("policy", sorted(RESOURCE_RULES.keys() | STACK_RULES.keys()))
def test_stack_passes_policy(shape: str, policy: str, pack_violations: ViolationsOf) -> None:
    found = [str(v) for v in pack_violations(shape) if v.policy == policy]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("stack", stack_names())
def test_no_input_is_a_plain_text_credential(stack: str) -> None:
    # Checked here, not in the pack: only the mock harness sees which inputs are secrets.
    for r in from_graph(run_stack(stack, OPERATOR_SETTINGS, allow_placeholders=False)):
        marked = Resource(type=r.type, name=r.name, props=with_secrets_marked(r.props))
        assert list(no_plain_secrets(marked, "example-app", stack)) == [], r.name


def test_placeholder_settings_never_deploy(run_program: Callable[..., Run]) -> None:
    run = run_program("int", {"domain": "example.com", "acmeEmail": "hostmaster@example.com"})
    if run.stopped is not None:  # the settings refuse placeholders before any resource exists
        assert not run.graph.resources, run.stopped
        return
    flagged = {
        v.resource.rsplit("::", 1)[-1]
        for v in run_pack(from_graph(run.graph), stack="int")
        if v.policy == "no-placeholder-domains"
    }
    assert flagged == {"int-app", "int-app-ingress", "int-letsencrypt-staging", "int-letsencrypt-production"}
