"""The load balancer's target group, as the NLB and the AWS Load Balancer Controller keep it: a pure model.

Each ingress pod with an address is a target. Its life, in the NLB's target-health states:

    initial    registered (RegisterTargets), health checks not yet passed `healthy_threshold` times
    healthy    the NLB opens new connections to it; the pod's readiness gate passes
    unhealthy  `unhealthy_threshold` checks failed (a crash): no new connections
    draining   deregistered (the pod is Terminating, seen `controller_reaction` s later); the NLB still opens
               new connections for `deregistration_propagation` s, then none; open ones live on until
               `deregistration_delay` ends, when they are terminated and the target is gone

The health checks themselves run in the load balancer (HAProxy's `check inter … rise … fall …`, driven
by localenv/loadbalancer.py); this module takes their verdicts and the pods, and says what the load
balancer must be told (`TargetAction`) and which pods' readiness gates pass. Every number comes from
`infra.ingress_timing.IngressTiming` (the LOCAL profile locally).

`TargetGroupPolicy.legacy()` is the design issue 12 replaces, kept as the negative control: targets
leave only through failed health checks, an unhealthy target's connections are reset, no readiness gate.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from infra.ingress_timing import IngressTiming


class TargetHealth(enum.StrEnum):
    """An NLB target's health state (elbv2 TargetHealth.State)."""

    INITIAL = "initial"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DRAINING = "draining"


@dataclass(frozen=True, kw_only=True)
class TargetGroupPolicy:
    """How targets enter and leave: the timings, and which of the redesign's mechanisms are on."""

    timing: IngressTiming
    deregister_terminating: bool = True
    """The LB controller deregisters a Terminating pod's target (False: only failed health checks remove it)."""
    reset_on_unhealthy: bool = False
    """`target_health_state.unhealthy.connection_termination.enabled` (the NLB's default is True)."""
    readiness_gate: bool = True
    """The pod is Ready only once its target is healthy (the LB controller's pod readiness gate)."""

    @classmethod
    def legacy(cls, timing: IngressTiming) -> TargetGroupPolicy:
        """In-tree NLB with instance targets: health-check-only removal, reset when unhealthy, no gate."""
        return cls(timing=timing, deregister_terminating=False, reset_on_unhealthy=True, readiness_gate=False)


@dataclass
class Target:
    """One registered target: a pod's address and where it is in its life."""

    name: str
    address: str
    registered_at: float
    health: TargetHealth = TargetHealth.INITIAL
    deregistered_at: float | None = None
    accepting_new: bool = True
    """The load balancer may still open new connections to it (false once deregistration has propagated)."""


@dataclass(frozen=True, kw_only=True)
class TargetPod:
    """What the target group needs of an ingress pod."""

    name: str
    address: str | None
    terminating_since: float | None
    """When the pod turned Terminating (None while it is not)."""


class TargetStep(enum.StrEnum):
    """What the load balancer is told to do with one target."""

    REGISTER = "register"
    """Add it; it takes connections once `healthy_threshold` checks passed."""
    STOP_NEW_CONNECTIONS = "stop-new-connections"
    """Deregistration has propagated: no new connections; open ones continue."""
    RESET_CONNECTIONS = "reset-connections"
    """An unhealthy target's connections are reset (legacy policy only)."""
    REMOVE = "remove"
    """The deregistration delay is over: terminate what is still open, forget the target."""


@dataclass(frozen=True, kw_only=True)
class TargetAction:
    """One instruction for the load balancer."""

    step: TargetStep
    name: str
    address: str


@dataclass
class TargetGroup:
    """Every target the load balancer knows, by pod name."""

    policy: TargetGroupPolicy
    targets: dict[str, Target] = field(default_factory=dict)

    def healthy(self, name: str) -> bool:
        """True when `name`'s target takes new connections and passed its health checks."""
        target = self.targets.get(name)
        return target is not None and target.health is TargetHealth.HEALTHY


def sync_target_group(
    group: TargetGroup, pods: Sequence[TargetPod], checks: Mapping[str, bool], now: float
) -> list[TargetAction]:
    """One pass: register new pods, take in the health checks' verdicts, deregister and remove, in time."""
    timing = group.policy.timing
    actions: list[TargetAction] = []
    by_name = {p.name: p for p in pods}
    for new in pods:
        if new.address is not None and new.terminating_since is None and new.name not in group.targets:
            group.targets[new.name] = Target(name=new.name, address=new.address, registered_at=now)
            actions.append(TargetAction(step=TargetStep.REGISTER, name=new.name, address=new.address))
    for target in list(group.targets.values()):
        pod = by_name.get(target.name)
        if target.health is not TargetHealth.DRAINING:
            _take_check(group.policy, target, checks.get(target.name), actions)
            reaction = timing.controller_reaction
            leaving = pod is None or (
                group.policy.deregister_terminating
                and pod.terminating_since is not None
                and now >= pod.terminating_since + reaction
            )
            if not group.policy.deregister_terminating and pod is None and target.health is TargetHealth.HEALTHY:
                leaving = False  # legacy: the pod is gone, but only failed health checks take its target out
            if leaving:
                target.health = TargetHealth.DRAINING
                target.deregistered_at = now
        if target.health is TargetHealth.DRAINING and target.deregistered_at is not None:
            if target.accepting_new and now >= target.deregistered_at + timing.deregistration_propagation:
                target.accepting_new = False
                actions.append(_action(TargetStep.STOP_NEW_CONNECTIONS, target))
            if now >= target.deregistered_at + timing.deregistration_delay:
                del group.targets[target.name]
                actions.append(_action(TargetStep.REMOVE, target))
    return actions


def _take_check(policy: TargetGroupPolicy, target: Target, passing: bool | None, actions: list[TargetAction]) -> None:
    """The load balancer's check verdict (already past its rise/fall thresholds) moves the target's health."""
    if passing is None:
        return
    if passing:
        target.health = TargetHealth.HEALTHY
    elif target.health is TargetHealth.HEALTHY:
        target.health = TargetHealth.UNHEALTHY
        if policy.reset_on_unhealthy:
            actions.append(_action(TargetStep.RESET_CONNECTIONS, target))


def gate_passes(group: TargetGroup, pod_name: str) -> bool:
    """The pod's readiness gate (target-health condition): its target is healthy; always true without gates."""
    return not group.policy.readiness_gate or group.healthy(pod_name)


def _action(step: TargetStep, target: Target) -> TargetAction:
    return TargetAction(step=step, name=target.name, address=target.address)
