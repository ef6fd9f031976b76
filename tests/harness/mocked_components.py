"""Run one component's program under Pulumi's mocks and record what it registers, by Pulumi name.

The Workload, Canary, ImageRegistry and SmokeTest tests build their components through `run_mocked`;
`settings()` is the deployable AppSettings they vary from.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from app.contract import AppSettings

FAKE_ACCOUNT_REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@dataclass
class Registered:
    """One resource as the engine received it."""

    type: str
    name: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    custom_timeouts: dict[str, str]
    provider: str
    retain_on_delete: bool
    urn: str


@dataclass
class Recording:
    """Every resource a mocked program registered, by Pulumi name."""

    resources: dict[str, Registered] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources.values() if r.type == type_]

    def urn_name(self, urn: str) -> str:
        return urn.rsplit("::", 1)[-1]


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"{FAKE_ACCOUNT_REGISTRY}/{args.inputs['name']}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


class _RecordingMonitor(MockMonitor):
    def __init__(self, recording: Recording) -> None:
        super().__init__(_Mocks())
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            timeouts = request.customTimeouts
            self.recording.resources[request.name] = Registered(
                type=request.type,
                name=request.name,
                inputs=json.loads(json.dumps(pulumi.runtime.rpc.deserialize_properties(request.object))),
                parent=request.parent,
                dependencies=list(request.dependencies),
                custom_timeouts={"create": timeouts.create, "update": timeouts.update},
                provider=request.provider,
                retain_on_delete=bool(request.retainOnDelete),
                urn=response.urn,
            )
        return response


def run_mocked(program: Callable[[], Any]) -> Recording:
    """Run `program` under Pulumi's mocks (no CLI, no cluster) and return what it registered."""
    recording = Recording()
    pulumi.runtime.set_mocks(
        _Mocks(), project="example-app", stack="test", preview=False, monitor=_RecordingMonitor(recording)
    )

    @pulumi.runtime.test
    def run() -> Any:
        return pulumi.Output.all(*[o for o in [program()] if o is not None])

    run()
    return recording


def settings(**changes: Any) -> AppSettings:
    base = AppSettings(
        image_repository=f"{FAKE_ACCOUNT_REGISTRY}/example-app",
        image_tag="v1.0.0",
        host="example-app.int.example.com",
        tls_cluster_issuer="letsencrypt-staging",
    )
    return dataclasses.replace(base, **changes)
