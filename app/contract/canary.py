"""Canary releases: the policy (steps, analysis thresholds) and the extra objects a canary step adds.

A canary keeps the stable Deployment untouched and runs the new version beside it: a second
Deployment with the same pod spec (rendered by `app.contract.manifests`, never written twice), its
own Service, and a split of the routes (app/contract/routing.py `CanarySplit`) — a share of requests by
weight, and every request carrying `X-Canary: always` by header. How the split is written is the router's
business: ingress-nginx adds a canary Ingress (`CanaryManifests.routes`), Gateway API weights the stable
HTTPRoute's backends (`render(settings, canary_split(...))`). Pure Python: the EKS components
(infra/workload.py, infra/canary.py) and the local environment consume the same dicts.

    policy = CanaryPolicy(strategy="canary", steps=(10, 50, 100))
    step = CanaryStep(tag="v2", weight=10)
    objects = render_canary(settings, step, policy)      # canary pods, Service, NetworkPolicy, canary-only routes
    render(settings, canary_split(settings, step, policy)).routes   # the stable routes during the step
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.contract.manifests import Manifest, deployment, render, route_objects, selector_labels
from app.contract.routers import RESERVED_HEADER_VALUES
from app.contract.routing import CanarySplit
from app.contract.settings import AppSettings, SelfChecked, SettingsError, is_dns_label
from app.version import is_valid_tag

Strategy = Literal["rolling", "canary"]
STRATEGIES: tuple[Strategy, ...] = ("rolling", "canary")
INSTANCE_LABEL = "app.kubernetes.io/instance"
TRACK_LABEL = "example-app/track"
CANARY_SUFFIX = "-canary"
# An HTTP header name (RFC 9110 token, letters/digits/'-' in practice) and a plain value.
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
_HEADER_VALUE = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, kw_only=True)
class CanaryPolicy(SelfChecked):
    """How a release reaches users: all at once by rolling update, or through weighted canary steps."""

    strategy: Strategy = "rolling"
    """`rolling`: surge rollout of the stable Deployment; `canary`: run the new version beside it first."""
    steps: tuple[int, ...] = (10, 50, 100)
    """Canary weights in percent, rising; after the last step passes, the stable Deployment is promoted."""
    step_seconds: float = 60.0
    """Minimum observation per step: a step passes only after this long, even with enough requests."""
    step_timeout_seconds: float = 300.0
    """A step that has not reached a verdict after this long is aborted (never waits for ever)."""
    min_requests: int = 100
    """Canary requests a step must see before its error rate counts; fewer never passes."""
    max_error_rate: float = 0.01
    """Highest share of failed (5xx) canary requests a step tolerates, 0 ≤ rate < 1."""
    analysis_traffic: bool = True
    """When users send too little, the analysis sends marked requests to the canary to reach min_requests."""
    analysis_rate: float = 50.0
    """Requests per second of generated analysis traffic (bounded; marked with the canary header)."""
    header: str = "X-Canary"
    """Request header that routes to the canary regardless of weight (testers, smoke checks, analysis)."""
    header_value: str = "always"
    """Value of `header` that routes to the canary."""

    def problems(self) -> list[str]:
        """Every reason this policy cannot drive a release, each naming its field."""
        found: list[str] = []
        if self.strategy not in STRATEGIES:
            found.append(f"release.strategy {self.strategy!r} must be one of: {', '.join(STRATEGIES)}")
        found.extend(_step_problems(self.steps))
        for name in ("step_seconds", "step_timeout_seconds", "analysis_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                found.append(f"release.{name} must be a number > 0, got {value!r}")
        if (
            isinstance(self.step_seconds, int | float)
            and isinstance(self.step_timeout_seconds, int | float)
            and self.step_timeout_seconds < self.step_seconds
        ):
            found.append(
                f"release.step_timeout_seconds ({self.step_timeout_seconds}) must be ≥ release.step_seconds "
                f"({self.step_seconds}), or no step could ever pass"
            )
        if isinstance(self.min_requests, bool) or not isinstance(self.min_requests, int) or self.min_requests < 1:
            found.append(
                f"release.min_requests must be a whole number ≥ 1 (no vacuous pass), got {self.min_requests!r}"
            )
        rate = self.max_error_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            found.append(f"release.max_error_rate must be a fraction 0 ≤ rate < 1 (e.g. 0.01), got {rate!r}")
        if not isinstance(self.analysis_traffic, bool):
            found.append(f"release.analysis_traffic must be true or false, got {self.analysis_traffic!r}")
        if not isinstance(self.header, str) or not _HEADER_NAME.fullmatch(self.header):
            found.append(f"release.header {self.header!r} must be an HTTP header name (letters, digits, '-')")
        if (
            not isinstance(self.header_value, str)
            or not _HEADER_VALUE.fullmatch(self.header_value)
            or self.header_value in RESERVED_HEADER_VALUES
        ):
            reserved = ", ".join(repr(v) for v in RESERVED_HEADER_VALUES)
            found.append(
                f"release.header_value {self.header_value!r} must be letters, digits, '.', '_' or '-' "
                f"and not {reserved} (a router reserves it)"
            )
        return found

    @property
    def headers(self) -> dict[str, str]:
        """The request header that sends a request to the canary, e.g. {"X-Canary": "always"}."""
        return {self.header: self.header_value}

    def next_weight(self, weight: int) -> int | None:
        """The step after `weight`, or None when `weight` is the last step (time to promote)."""
        later = [w for w in self.steps if w > weight]
        return later[0] if later else None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CanaryPolicy:
        """Build from loose config (Pulumi's `release` object, JSON); unknown keys and wrong types are problems."""
        known = {f.name for f in dataclasses.fields(cls)}
        problems = [f"unknown setting 'release.{key}'" for key in data if key not in known]
        values: dict[str, Any] = {key: _whole(value) for key, value in data.items() if key in known}
        if "steps" in values:
            steps = values["steps"]
            if isinstance(steps, list | tuple):
                values["steps"] = tuple(_whole(step) for step in steps)
            else:
                problems.append(f"release.steps must be a list of weights like [10, 50, 100], got {steps!r}")
                del values["steps"]
        try:
            built = cls(**values)
        except SettingsError as error:
            raise SettingsError(problems + error.problems) from None
        if problems:
            raise SettingsError(problems)
        return built


def _step_problems(steps: object) -> list[str]:
    if not isinstance(steps, tuple) or not steps:
        return [f"release.steps must be a non-empty list of weights like [10, 50, 100], got {steps!r}"]
    found: list[str] = []
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 100:
            found.append(f"release.steps: {step!r} is not a weight; use whole percentages 1–100")
    if not found and list(steps) != sorted(set(steps)):
        found.append(f"release.steps {list(steps)} must rise strictly, e.g. [10, 50, 100]")
    return found


def _whole(value: Any) -> Any:
    """Pulumi hands numbers over as floats; 10.0 means 10."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True, kw_only=True)
class CanaryStep(SelfChecked):
    """Where a canary release stands: which version runs beside the stable one, and its share of traffic."""

    tag: str
    """The canary's image tag (its APP_VERSION)."""
    weight: int
    """Percent of requests the ingress sends to the canary (0 while aborting)."""

    def problems(self) -> list[str]:
        """Every reason this step cannot be rendered, each naming its setting."""
        found: list[str] = []
        if not isinstance(self.tag, str) or not is_valid_tag(self.tag) or self.tag == "latest":
            found.append(
                f"canaryTag {self.tag!r} is not a release tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}, not 'latest')"
            )
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or not 0 <= self.weight <= 100:
            found.append(f"canaryWeight must be a whole percentage 0–100, got {self.weight!r}")
        return found


@dataclass(frozen=True)
class CanaryManifests:
    """The objects a canary step adds beside the stable ones; removing them ends the canary."""

    deployment: Manifest
    service: Manifest
    network_policy: Manifest
    routes: list[Manifest]
    """Route objects only a canary has (ingress-nginx's canary Ingress); none when the router splits stable ones."""

    def all(self) -> list[Manifest]:
        """Every object, the ones traffic depends on first (pods before the routes that send them requests)."""
        return [self.deployment, self.service, self.network_policy, *self.routes]


def canary_name(settings: AppSettings) -> str:
    """Name of every canary object: the stable name plus `-canary`."""
    return f"{settings.name}{CANARY_SUFFIX}"


def canary_selector(settings: AppSettings) -> dict[str, str]:
    """Labels that pick canary pods only: the stable Deployment's and Service's selectors never match them."""
    return {**selector_labels(settings), INSTANCE_LABEL: canary_name(settings)}


def canary_replicas(stable_replicas: int, weight: int) -> int:
    """Canary pods for a weight: the same load per pod as the stable ones, at least one, rounded up."""
    return max(1, math.ceil(stable_replicas * weight / 100))


def _retarget(node: Any, stable: dict[str, str], canary: dict[str, str], track: dict[str, str]) -> Any:
    """A copy of `node` whose selectors and labels point at the canary pods instead of the stable ones.

    Works on whole objects (selectors appear in spec.selector, the pod template, topology spread,
    NetworkPolicy.podSelector, Service.spec.selector), so anything the contract adds later that
    selects the app's pods follows along instead of silently selecting the stable ones.
    """
    if isinstance(node, dict):
        if node == stable:
            return dict(canary)
        out = {key: _retarget(value, stable, canary, track) for key, value in node.items()}
        labels = out.get("labels")
        if isinstance(labels, dict) and labels.get(INSTANCE_LABEL) == stable[INSTANCE_LABEL]:
            out["labels"] = {**labels, INSTANCE_LABEL: canary[INSTANCE_LABEL], **track}
        return out
    if isinstance(node, list):
        return [_retarget(item, stable, canary, track) for item in node]
    return node


def render_canary(settings: AppSettings, step: CanaryStep, policy: CanaryPolicy) -> CanaryManifests:
    """The canary objects for `step`: stable `settings` with the canary's tag, retargeted to canary pods.

    The pod spec is the contract's (same probes, preStop, grace, resources, security context); only
    the name, the labels that select pods, the replica count and the image tag differ.
    """
    if policy.strategy != "canary":
        raise SettingsError([f"release.strategy is {policy.strategy!r}; set it to 'canary' to run a canary step"])
    if not is_dns_label(canary_name(settings)):
        raise SettingsError([f"name {settings.name!r} is too long for a canary: {canary_name(settings)!r} exceeds 63"])
    canary_settings = dataclasses.replace(settings, image_tag=step.tag, image_digest="")
    stable_objects = render(settings)
    stable, canary = selector_labels(settings), canary_selector(settings)
    track = {TRACK_LABEL: "canary"}
    name = canary_name(settings)

    def retarget(manifest: Manifest) -> Manifest:
        moved: Manifest = _retarget(copy.deepcopy(manifest), stable, canary, track)
        moved["metadata"]["name"] = name
        return moved

    canary_deployment = retarget(deployment(canary_settings))
    canary_deployment["spec"]["replicas"] = canary_replicas(settings.replicas, step.weight)
    return CanaryManifests(
        deployment=canary_deployment,
        service=retarget(stable_objects.service),
        network_policy=retarget(stable_objects.network_policy),
        routes=route_objects(settings, canary_split(settings, step, policy)).canary,
    )


def canary_split(settings: AppSettings, step: CanaryStep, policy: CanaryPolicy) -> CanarySplit:
    """The routes' share for this step: `step.weight` percent, and every request with the policy's header."""
    stable_labels = render(settings).service["metadata"]["labels"]
    return CanarySplit(
        name=canary_name(settings),
        labels={**stable_labels, INSTANCE_LABEL: canary_name(settings), TRACK_LABEL: "canary"},
        service=canary_name(settings),
        weight=step.weight,
        header=policy.header,
        header_value=policy.header_value,
    )


# The policy the local environment runs: the same analysis at a human scale, so three steps take
# seconds. 100 canary requests per step at 1 %: one failure is tolerated, a second aborts.
LOCAL_CANARY = CanaryPolicy(
    strategy="canary",
    steps=(10, 50, 100),
    step_seconds=2.0,
    step_timeout_seconds=20.0,
    min_requests=100,
    max_error_rate=0.01,
    analysis_traffic=True,
    analysis_rate=200.0,
)


@dataclass(frozen=True, kw_only=True)
class CanaryRelease:
    """A release policy together with the step a stack is at (None when no canary runs)."""

    policy: CanaryPolicy = field(default_factory=CanaryPolicy)
    """How releases proceed for this stack."""
    step: CanaryStep | None = None
    """The canary currently running, if any."""

    def __post_init__(self) -> None:
        if self.step is not None and self.policy.strategy != "canary":
            raise SettingsError(
                [
                    f"canaryTag is set but release.strategy is {self.policy.strategy!r}; "
                    "set release.strategy to 'canary' or remove canaryTag"
                ]
            )

    @classmethod
    def from_config(
        cls, release: Mapping[str, Any] | None, canary_tag: str | None, canary_weight: object
    ) -> CanaryRelease:
        """Build from a stack's `release` object and its `canaryTag` / `canaryWeight` keys; every problem at once.

        `canaryWeight` without `canaryTag` is a problem (a weight for nothing); `canaryTag` without a
        weight starts at the policy's first step.
        """
        problems: list[str] = []
        policy: CanaryPolicy | None = None
        if release is not None and not isinstance(release, Mapping):
            problems.append(
                f"release must be an object like {{strategy: canary, steps: [10, 50, 100]}}, got {release!r}"
            )
        else:
            try:
                policy = CanaryPolicy.from_mapping(release or {})
            except SettingsError as error:
                problems.extend(error.problems)
        step: CanaryStep | None = None
        if canary_tag:
            weight = _whole(canary_weight)
            if weight is None:
                weight = policy.steps[0] if policy is not None else 0
            try:
                step = CanaryStep(tag=canary_tag, weight=weight)
            except SettingsError as error:
                problems.extend(error.problems)
        elif canary_weight is not None:
            problems.append("canaryWeight is set without canaryTag; set canaryTag to the canary's release or remove it")
        if problems or policy is None:
            raise SettingsError(problems)
        try:
            return cls(policy=policy, step=step)
        except SettingsError as error:
            raise SettingsError(error.problems) from None
