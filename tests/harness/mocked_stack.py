"""Run the real Pulumi program under Pulumi's mocks and collect every resource it registers.

The one place where AWS lookups and provider outputs are faked (`StackMocks`); config comes from the
real Pulumi.yaml defaults merged with the real Pulumi.<stack>.yaml, as the CLI does. No cloud, no CLI.
tests/infra/conftest.py makes fixtures of it:

    stack_graph(stack)            -> Graph of a real stack (cached per session)
    run_program(stack, overrides) -> Run(graph, stopped): stopped is the program's message, or None

Both opt in to Pulumi.yaml's placeholder domain and contact (`allow_placeholders=True`, which only code can
pass: the real program refuses them), run outside GitHub Actions unless given `github_repository`, and
find the release images `images` in a fake ECR (the real program looks each one up before it deploys).
The stack's last update left the outputs `deployed` (default: none, a new stack); the program reads them
back before a run without imageTag (infra/stack_outputs.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
import runpy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.sync_await import _ensure_event_loop

from harness.project_files import PROJECT, REPO_ROOT, as_config_strings, stack_config
from stacks import settings as stack_settings

PROGRAM = REPO_ROOT / "stacks" / "__main__.py"
ACCOUNT_ID = "123456789012"
NLB_ZONE_ID = "Z2IFOLAFXWLO4F"
RELEASE_TAG = "v1.2.3"
"""The tag the deploy workflow would set (`pulumi up -c imageTag=…`); stack files never hold one."""
NEXT_RELEASE_TAG = "v2.0.0"
"""A newer release, also pushed (the canary tests run it beside RELEASE_TAG)."""


def image_digest(tag: str) -> str:
    """The digest the fake ECR gives `tag`'s image."""
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


PUSHED = {tag: image_digest(tag) for tag in (RELEASE_TAG, NEXT_RELEASE_TAG)}
"""The fake ECR repository's images by tag: what the build job would have pushed."""
NOT_FOUND = "reading ECR Images: couldn't find resource"
"""How the aws_ecr_image data source reports a missing image or repository (its image_data_source.go)."""
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
"""The engine's builtin stack-reference read (pulumi/pulumi v3.259.0 pkg/resource/deploy/builtins.go Invoke)."""
ORGANIZATION = "acme"
"""The Pulumi organization the mocked engine reports (`pulumi.get_organization()`; "organization" on a diy backend)."""
OPERATOR_ROLE = "Admin"
"""The IAM role the mocked `pulumi up` runs as; every run lists it in clusterAdminRoles unless told otherwise."""


def caller_arn(role: str) -> str:
    """What STS GetCallerIdentity returns for a session of `role` (its name, never its path)."""
    return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role.rsplit('/', 1)[-1]}/operator-session"


# ---------------------------------------------------------------- the recorded graph


@dataclass(frozen=True)
class Registered:
    """One resource the program registered (or read), as the engine would see it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    """Inputs with secrets unwrapped (plain values)."""
    raw_inputs: dict[str, Any]
    """Inputs as sent, secrets still wrapped (see `secret_paths`)."""
    parent: str
    dependencies: tuple[str, ...]
    provider: str
    custom: bool
    read: bool = False


@dataclass
class Graph:
    """Every resource of one program run, plus the stack's outputs."""

    stack: str
    resources: list[Registered]
    lookups: list[Lookup] = field(default_factory=list)
    """Every invoke (AWS lookup) of the run, in order."""
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    """Names of the outputs Pulumi stores encrypted and masks."""

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registered:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def named(self, name: str) -> Registered:
        return next(r for r in self.resources if r.name == name)

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for r in self.resources:
            counted[r.type] = counted.get(r.type, 0) + 1
        return counted

    def ancestors(self, resource: Registered) -> Iterator[Registered]:
        urn = resource.parent
        while urn:
            parent = next((r for r in self.resources if r.urn == urn), None)
            if parent is None:
                return
            yield parent
            urn = parent.parent

    def waits_for(self, resource: Registered, other: Registered) -> bool:
        """True when `resource` is created only after `other`: a dependency path, directly or transitively."""
        seen: set[str] = set()
        todo = list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            found = next((r for r in self.resources if r.urn == urn), None)
            if found is not None:
                todo.extend(found.dependencies)
                # Depending on a component means depending on everything inside it.
                todo.extend(r.urn for r in self.resources if r.parent == urn)
        return False


def unwrap_secrets(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


# ---------------------------------------------------------------- mocks: every lookup and provider output


class StackMocks(pulumi.runtime.Mocks):
    """Fake AWS lookups and the outputs AWS/Kubernetes would compute; nothing else is faked.

    `images` is the ECR repository's content by tag (None: the repository does not exist yet, a new account);
    `caller` is what STS GetCallerIdentity answers (default: a session of OPERATOR_ROLE); `stack` is the
    fully-qualified name of the stack being run and `deployed` the outputs its last update left (None: never
    updated), what the engine's stack-reference read answers for that name.
    """

    def __init__(
        self,
        region: str,
        zones_available: int = 4,
        images: Mapping[str, str] | None = None,
        caller: str = "",
        *,
        stack: str = "",
        deployed: Mapping[str, Any] | None = None,
    ) -> None:
        self.region = region
        self.zones_available = zones_available
        self.images = images
        self.caller = caller or caller_arn(OPERATOR_ROLE)
        self.stack = stack
        self.deployed = deployed

    def _stack_outputs(self, name: str) -> Any:
        """The engine's answer: the outputs of a stack it knows by that fully-qualified name; only this one here."""
        if not self.stack or name != self.stack:  # as pkg/backend/backend.go GetStackOutputs fails for an unknown stack
            return {}, [("name", f"unknown stack {name!r}")]
        return {"name": name, "outputs": dict(self.deployed or {}), "secretOutputNames": []}

    def _ecr(self, lookup: str, args: Mapping[str, Any]) -> Any:
        """ECR's answers; a missing image or repository fails the invoke as the provider does."""
        name = args.get("repositoryName") or args.get("name", "")
        account = args.get("registryId") or ACCOUNT_ID
        url = f"{account}.dkr.ecr.{args.get('region') or self.region}.amazonaws.com/{name}"
        if self.images is None:
            return {}, [("", NOT_FOUND)]
        if lookup == "aws:ecr/getRepository:getRepository":
            return {"name": name, "registryId": account, "repositoryUrl": url, "id": name}
        digest = self.images.get(args.get("imageTag", ""))
        if digest is None:
            return {}, [("", NOT_FOUND)]
        return {"id": digest, "imageDigest": digest, "imageUri": f"{url}@{digest}", "repositoryName": name}

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:  # type: ignore[override]
        if args.token in ("aws:ecr/getImage:getImage", "aws:ecr/getRepository:getRepository"):
            return self._ecr(args.token, args.args)
        if args.token == READ_STACK_OUTPUTS:
            return self._stack_outputs(args.args.get("name", ""))
        zones = [f"{self.region}{letter}" for letter in "abcdef"[: self.zones_available]]
        answers: dict[str, Callable[[], dict[str, Any]]] = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": lambda: {
                "names": zones,
                "zoneIds": [f"euw1-az{i}" for i in range(1, len(zones) + 1)],
                "id": self.region,
            },
            "aws:index/getPartition:getPartition": lambda: {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
            },
            "aws:index/getCallerIdentity:getCallerIdentity": lambda: {
                "accountId": ACCOUNT_ID,
                "arn": self.caller,
                "userId": "AROAEXAMPLE:operator-session",
                "id": ACCOUNT_ID,
            },
            "aws:route53/getZone:getZone": lambda: {
                "zoneId": "Z0EXAMPLEZONE",
                "name": args.args.get("name", ""),
                "id": "Z0EXAMPLEZONE",
            },
            "aws:lb/getHostedZoneId:getHostedZoneId": lambda: {"id": NLB_ZONE_ID},
        }
        if args.token not in answers:
            raise AssertionError(f"unmocked lookup {args.token}: add it to StackMocks.call (harness.mocked_stack)")
        return answers[args.token]()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name, inputs = args.name, args.inputs
        state: dict[str, Any] = dict(inputs)
        arn = f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{self.region}:{ACCOUNT_ID}:{name}"
        state.setdefault("arn", arn)
        computed: dict[str, dict[str, Any]] = {
            "aws:eks/cluster:Cluster": {
                "endpoint": f"https://{name}.gr7.{self.region}.eks.amazonaws.com",
                "certificateAuthority": {"data": "LS0tLS1CRUdJTi1DQS0tLS0t"},
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{name}"}]}],
            },
            "aws:iam/role:Role": {  # a named role keeps its name; others get the logical one (auto-naming)
                "name": inputs.get("name", name),
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{inputs.get('name', name)}",
            },
            "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
            "aws:route53/record:Record": {"fqdn": inputs.get("name", "")},
            "aws:ecr/repository:Repository": {
                "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{inputs.get('name', name)}"
            },
            "kubernetes:core/v1:Service": {
                "status": {
                    "loadBalancer": {"ingress": [{"hostname": f"a1b2c3-{name}.elb.{self.region}.amazonaws.com"}]}
                }
            },
        }
        state.update(computed.get(args.typ, {}))
        return f"{name}-id", state


@dataclass(frozen=True)
class Lookup:
    """One invoke the program made: its token, arguments, and how many resources were registered before it."""

    token: str
    args: dict[str, Any]
    registered_before: int


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's mock monitor, also keeping each registration's parent, dependencies and inputs, and each lookup."""

    def __init__(self, mocks: StackMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []
        self.lookups: list[Lookup] = []

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (the engine's gRPC method name)
        _ensure_event_loop()
        args = dict(rpc.deserialize_properties(request.args))
        self.lookups.append(Lookup(token=request.tok, args=args, registered_before=len(self.registered)))
        return super().Invoke(request)

    def _record(self, request: Any, read: bool) -> None:
        urn = self.make_urn(request.parent, request.type, request.name)
        _ensure_event_loop()  # deserializing resource references needs one on this thread
        raw = dict(rpc.deserialize_properties(request.object if not read else request.properties))
        deps = set(getattr(request, "dependencies", []) or [])
        for property_deps in getattr(request, "propertyDependencies", {}).values():
            deps.update(property_deps.urns)
        self.registered.append(
            Registered(
                type=request.type,
                name=request.name,
                urn=urn,
                inputs=unwrap_secrets(raw),
                raw_inputs=raw,
                parent=request.parent,
                dependencies=tuple(sorted(deps)),
                provider=request.provider,
                custom=bool(getattr(request, "custom", True)),
                read=read,
            )
        )

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the engine's gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, read=False)
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (the engine's gRPC method name)
        response = super().ReadResource(request)
        self._record(request, read=True)
        return response


class ProgramStoppedError(Exception):
    """The program stopped (e.g. invalid settings); `message` is what `pulumi up` would print."""

    def __init__(self, message: str, graph: Graph) -> None:
        super().__init__(message)
        self.message = message
        self.graph = graph


def run_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    allow_placeholders: bool,
    zones_available: int = 4,
    images: Mapping[str, str] | None = PUSHED,
    github_repository: str | None = None,
    caller: str = "",
    deployed: Mapping[str, Any] | None = None,
) -> Graph:
    """Run stacks/__main__.py for `stack` under mocks; raise ProgramStoppedError if the program stops.

    `allow_placeholders` hands the program's settings loader the keyword only code can pass (Pulumi.yaml's
    example.com domain and contact are refused otherwise); `images` is the fake ECR repository (None: it
    does not exist); `github_repository` runs the program as a GitHub Actions job of that repository;
    `caller` is the AWS identity (an STS ARN; default: OPERATOR_ROLE, listed in clusterAdminRoles unless
    `overrides` sets them); `deployed` are the outputs the stack's last update left (None: a new stack).
    """
    values = stack_config(stack, {"clusterAdminRoles": [OPERATOR_ROLE], **(overrides or {})})
    region = str(values.get("aws:region", "eu-west-1"))
    own_name = f"{ORGANIZATION}/{PROJECT}/{stack}"
    mocks = StackMocks(region, zones_available, images, caller, stack=own_name, deployed=deployed)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(as_config_strings(values))
    pulumi_settings.ROOT.set(None)  # a fresh root stack per run, or outputs leak between stacks
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, organization=ORGANIZATION
    )
    root = pulumi_settings.get_root_resource()
    graph = Graph(stack=stack, resources=monitor.registered, lookups=monitor.lookups)
    # The program reads GITHUB_ACTIONS itself (stacks/settings.py read_ci_job); CI's own `make test` runs in
    # GitHub Actions, so every run sets the variables it means instead of inheriting the job's.
    github = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": github_repository} if github_repository else {}
    loader = functools.partial(stack_settings.load_settings, allow_placeholders=allow_placeholders)

    @pulumi.runtime.test
    def program() -> Any:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        outputs = root.outputs if root is not None else {}  # type: ignore[attr-defined]

        async def collect() -> None:
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                graph.outputs[key] = await output.future()
                if await output.is_secret():
                    graph.secret_outputs.add(key)

        return pulumi.Output.from_input(collect())

    with mock.patch.dict(os.environ), mock.patch.object(stack_settings, "load_settings", loader):
        for name in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY"):
            os.environ.pop(name, None)
        os.environ.update(github)
        try:
            program()
        except pulumi.RunError as error:
            raise ProgramStoppedError(str(error), graph) from None
    return graph


@dataclass(frozen=True)
class Run:
    """The outcome of one program run: its graph, and the message it stopped with (None when it finished)."""

    graph: Graph
    stopped: str | None


def run_program(
    stack: str, overrides: Mapping[str, Any] | None = None, *, allow_placeholders: bool = True, **options: Any
) -> Run:
    """Run a stack with the release tag and config overrides (None deletes a key); a stop is an outcome.

    imageTag is RELEASE_TAG unless overridden ({"imageTag": None}: the platform phase); placeholders are
    allowed unless `allow_placeholders=False`; other keywords go to `run_stack` (e.g. another AWS identity,
    `caller=caller_arn("Ops")`, or the outputs of the stack's last update, `deployed=previous.graph.outputs`).
    """
    try:
        config = {"imageTag": RELEASE_TAG, **(overrides or {})}
        return Run(run_stack(stack, config, allow_placeholders=allow_placeholders, **options), None)
    except ProgramStoppedError as error:
        return Run(error.graph, error.message)
