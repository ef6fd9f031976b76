"""A stack's own outputs as its last update left them, read while the program runs, before it registers anything.

The program uses them to tell whether the stack already runs the app (its `imageTag` output, stacks/release.py).
The engine serves them from the state backend: `pulumi:pulumi:readStackOutputs`, an invoke of the engine's
builtin provider, is the read a StackReference makes (pulumi/pulumi v3.259.0 pkg/resource/deploy/builtins.go:
Invoke and a StackReference's Read both call readStackReference → BackendClient.GetStackOutputs), with two
differences that matter here: an invoke registers nothing and stores nothing in the state (a StackReference is
a read resource that would keep a second copy of these outputs, the secret kubeconfig among them), and it
answers synchronously (the Python SDK's StackReference.get_output_details is a coroutine,
sdk/python/lib/pulumi/stack_reference.py). The engine does not care that the stack reads itself, and:

- the name must be fully qualified, `<org>/<project>/<stack>`: Pulumi Cloud refuses any other form
  (pkg/backend/httpstate/backend.go httpstateBackendClient.GetStackOutputs); the self-managed (diy) backend
  takes it when the org is `organization` (pkg/backend/diy/store.go ParseReference), which is what the
  engine tells a program on that backend (pkg/backend/diy/state.go getTarget → `pulumi.get_organization()`),
  in the project layout every new bucket gets (pkg/backend/diy/meta.go; a legacy-layout bucket refuses the
  name, and the program stops saying so, as infra/ci_policy.py's state paths assume that layout too);
- a stack that exists but was never updated has no outputs: `{}` (diy getSnapshotStackOutputs with no
  `Latest` checkpoint; both backends through pkg/resource/stack/deployment.go DeserializeStackOutputs,
  which returns nothing without a root Stack resource); a missing output is simply absent;
- during an update the root Stack resource keeps its previous outputs until the program registers new ones
  at its end (pkg/resource/deploy/step.go SameStep.Apply: "Retain the ID and outputs"), so this reads the
  last update's outputs, not this one's.

It reads the same state objects the CLI reads for this stack anyway, so the CI roles need nothing more
(infra/ci_policy.py StateBucket: this stack's checkpoint and its listing prefix). `.ci/engine-check.sh` runs
this read on the pinned CLI with a file backend on every push.

    outputs = OwnStackOutputs().last()      # LastOutputs(values={"imageTag": "v1.2.3", …}) or (error=…)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
"""The engine's builtin invoke behind StackReference (pulumi/pulumi v3.259.0 pkg/resource/deploy/builtins.go)."""


def stack_name(organization: str, project: str, stack: str) -> str:
    """The fully-qualified name both state backends resolve: `<org>/<project>/<stack>`."""
    return f"{organization}/{project}/{stack}"


@dataclass(frozen=True)
class LastOutputs:
    """A stack's outputs as its last update left them, or why the backend could not say."""

    values: Mapping[str, Any] = field(default_factory=dict)
    """Output name → value; empty for a stack that was never updated."""
    error: str = ""
    """The read's error as the engine reported it; empty when `values` is the answer."""


class StackOutputs(Protocol):
    """Where the program learns what the stack's last update left (a fake in the tests)."""

    def last(self) -> LastOutputs:
        """This stack's outputs as its last update left them."""
        ...


class OwnStackOutputs:
    """This stack's own outputs, through the engine's stack-reference read (see the module docstring)."""

    def last(self) -> LastOutputs:
        name = stack_name(pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack())
        try:
            result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
        except Exception as error:  # a failed invoke raises a plain Exception (pulumi 3.272.0 runtime/invoke.py)
            return LastOutputs(error=f"reading the outputs of {name}: {error}")
        outputs = (result.value or {}).get("outputs") or {}
        return LastOutputs(values=dict(outputs))
