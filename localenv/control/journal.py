"""The record of one sync: the effects it asks for and the events it reports, in the order they happen.

Each event carries the counts at the moment it is recorded, so "pods ≤ replicas + surge" can be checked
at every single one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from localenv.control.actions import Effect, Emit
from localenv.control.events import (
    EndpointsEvent,
    EndpointsStage,
    NodeEvent,
    NodeStep,
    PodChange,
    PodEvent,
    ProbeEvent,
    RolloutEvent,
    RolloutStep,
)
from localenv.control.objects import Cluster, Pod, ProbeKind
from localenv.control.status import counts


class Journal:
    """Effects and events of one sync of `cluster` at `now`."""

    def __init__(self, cluster: Cluster, now: float) -> None:
        self.cluster = cluster
        self.now = now
        self.effects: list[Effect] = []

    def do(self, effect: Effect) -> None:
        """Ask the world for `effect`."""
        self.effects.append(effect)

    def pod(
        self,
        pod: Pod,
        change: PodChange,
        *,
        pid: int | None = None,
        restarts: int | None = None,
        exit_code: int | None = None,
        restart_in_s: float | None = None,
        signal: str | None = None,
        reason: str | None = None,
        pre_stop_s: float | None = None,
        grace_s: float | None = None,
        after_pre_stop_s: float | None = None,
        after_s: float | None = None,
        error: str | None = None,
    ) -> None:
        """Report a change of `pod`."""
        self.effects.append(
            Emit(
                event=PodEvent(
                    pod=pod.name,
                    change=change,
                    phase=pod.phase,
                    version=pod.version,
                    revision=pod.revision,
                    pid=pid,
                    restarts=restarts,
                    exit_code=exit_code,
                    restart_in_s=restart_in_s,
                    signal=signal,
                    reason=reason,
                    pre_stop_s=pre_stop_s,
                    grace_s=grace_s,
                    after_pre_stop_s=after_pre_stop_s,
                    after_s=after_s,
                    error=error,
                    node=pod.node,
                    counts=counts(self.cluster, self.now),
                )
            )
        )

    def node(self, step: NodeStep, node: str, **fields: Any) -> None:
        """Report a node step, or an eviction of one of its pods (`fields`: NodeEvent's optional fields)."""
        self.effects.append(
            Emit(event=NodeEvent(step=step, node=node, counts=counts(self.cluster, self.now), **fields))
        )

    def probe(self, pod: Pod, kind: ProbeKind, ok: bool, detail: str) -> None:
        """Report one probe's answer."""
        self.effects.append(
            Emit(
                event=ProbeEvent(pod=pod.name, probe=kind, ok=ok, detail=detail, counts=counts(self.cluster, self.now))
            )
        )

    def rollout(self, step: RolloutStep, message: str) -> None:
        """Report a step of the latest rollout."""
        rollout = self.cluster.rollout
        self.effects.append(
            Emit(
                event=RolloutEvent(
                    step=step,
                    message=message,
                    revision=rollout.revision if rollout else None,
                    version=rollout.version if rollout else None,
                    counts=counts(self.cluster, self.now),
                )
            )
        )

    def endpoints(self, stage: EndpointsStage, names: Sequence[str], versions: Sequence[str] | None = None) -> None:
        """Report that the endpoints changed, or that the ingress has them now."""
        self.effects.append(
            Emit(
                event=EndpointsEvent(
                    stage=stage,
                    endpoints=tuple(names),
                    versions=None if versions is None else tuple(versions),
                    counts=counts(self.cluster, self.now),
                )
            )
        )
