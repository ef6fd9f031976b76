"""Every number that decides whether a release drops requests, written once.

gunicorn reads these at start (app/gunicorn.conf.py), the deployment contract renders them into
probes, preStop and the grace period, and the local environment obeys the same objects. Tests in
tests/app/test_timing.py assert every relation stated below, so changing one number cannot quietly
break another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# ingress-nginx keeps idle upstream connections this long (`upstream-keepalive-timeout`, chart default
# 60 s). Defined here, beside the keep-alive it constrains; app/contract/ingress.py renders it.
INGRESS_UPSTREAM_KEEPALIVE_S = 60

# After SIGTERM a gthread worker keeps its kept-alive connections open this long before it exits, so a
# request already on its way over one is answered ("Connection: close") rather than dropped. The ingress
# always holds idle upstream connections under traffic, so every stopping pod waits it out. gunicorn
# 27.0.1 workers/gthread.py STOP_KEEPALIVE_LINGER; tests/app/test_timing.py reads the installed value.
GUNICORN_STOP_KEEPALIVE_LINGER_S = 2.0


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Seconds that shape a pod's life: how it starts serving, how it stops, how long a rollout may take."""

    endpoint_propagation: float = 5.0
    """Worst case for a removed endpoint to reach every ingress replica (EndpointSlice watch + 1 s Lua sync)."""
    pre_stop: int = 10
    """preStop sleep: the pod keeps serving while the ingress forgets it; must exceed endpoint_propagation."""
    graceful_timeout: int = 20
    """gunicorn's limit for in-flight requests after SIGTERM (its `graceful_timeout`)."""
    shutdown_margin: int = 5
    """Slack between gunicorn's own deadline and the kubelet's SIGKILL."""
    keepalive: int = 75
    """gunicorn keep-alive: outlasts the ingress's idle upstream connections so the ingress closes first."""
    worker_timeout: int = 30
    """gunicorn kills a worker silent this long; longer than any request we promise to serve."""
    readiness_period: int = 2
    """How often the kubelet asks /readyz."""
    readiness_failure_threshold: int = 2
    """Failed /readyz answers in a row before the pod leaves its endpoints; more than one, so a single
    slow answer under load does not pull a healthy pod (a draining pod fails every answer)."""
    liveness_period: int = 10
    """How often the kubelet asks /healthz."""
    liveness_failure_threshold: int = 3
    """Failed /healthz answers in a row before a restart."""
    probe_timeout: int = 2
    """Seconds a probe may take before it counts as failed."""
    startup_period: int = 1
    """How often /healthz is asked while the pod starts."""
    startup_failure_threshold: int = 30
    """Startup probe attempts: startup_period × this is the time a pod has to start."""
    min_ready: int = 5
    """minReadySeconds: a new pod must stay ready this long before an old one is taken away."""
    progress_deadline: int = 300
    """progressDeadlineSeconds: a rollout without progress for this long is failed (old pods keep serving)."""

    @property
    def termination_grace(self) -> int:
        """terminationGracePeriodSeconds: preStop counts against it, then gunicorn drains, then slack."""
        # grace 35 s = preStop 10 s + graceful_timeout 20 s + margin 5 s (defaults)
        return self.pre_stop + self.graceful_timeout + self.shutdown_margin

    @property
    def startup_budget(self) -> int:
        """Seconds a pod may take to start before the kubelet restarts it."""
        return self.startup_period * self.startup_failure_threshold

    @property
    def rollout_timeout(self) -> int:
        """How long a deploy tool should wait: progress deadline plus one pod's full shutdown."""
        return self.progress_deadline + self.termination_grace

    def problems(self) -> list[str]:
        """Every broken relation between these numbers, each naming its field; empty when sound."""
        found: list[str] = []
        if self.endpoint_propagation < 0:
            found.append("timing.endpoint_propagation must be ≥ 0")
        if self.pre_stop <= self.endpoint_propagation:
            found.append(
                f"timing.pre_stop ({self.pre_stop} s) must exceed timing.endpoint_propagation "
                f"({self.endpoint_propagation} s), or the ingress still sends to a pod that has stopped"
            )
        if self.graceful_timeout < 1:
            found.append("timing.graceful_timeout must be ≥ 1 s so in-flight requests can finish")
        if self.shutdown_margin < 1:
            found.append("timing.shutdown_margin must be ≥ 1 s so gunicorn exits before SIGKILL")
        if self.keepalive <= INGRESS_UPSTREAM_KEEPALIVE_S:
            found.append(
                f"timing.keepalive ({self.keepalive} s) must exceed the ingress's upstream keep-alive "
                f"({INGRESS_UPSTREAM_KEEPALIVE_S} s), or gunicorn closes connections the ingress is about to reuse"
            )
        if self.graceful_timeout <= GUNICORN_STOP_KEEPALIVE_LINGER_S:
            found.append(
                f"timing.graceful_timeout ({self.graceful_timeout} s) must exceed gunicorn's keep-alive linger "
                f"({GUNICORN_STOP_KEEPALIVE_LINGER_S:g} s), or kept-alive connections are cut at its deadline"
            )
        if self.worker_timeout <= self.graceful_timeout:
            found.append("timing.worker_timeout must exceed timing.graceful_timeout")
        for field in (
            "readiness_period",
            "readiness_failure_threshold",
            "liveness_period",
            "liveness_failure_threshold",
            "probe_timeout",
            "startup_period",
            "startup_failure_threshold",
        ):
            if getattr(self, field) < 1:
                found.append(f"timing.{field} must be ≥ 1")
        if self.probe_timeout >= self.liveness_period:
            found.append("timing.probe_timeout must be shorter than timing.liveness_period")
        if self.min_ready < 0:
            found.append("timing.min_ready must be ≥ 0")
        if self.progress_deadline <= self.min_ready + self.startup_budget:
            found.append(
                f"timing.progress_deadline ({self.progress_deadline} s) must exceed min_ready + startup budget "
                f"({self.min_ready + self.startup_budget} s), or a healthy rollout is reported failed"
            )
        return found

    def drain_seconds(self) -> float:
        """Time from 'pod terminating' until its process is gone under traffic: preStop, then gunicorn's
        keep-alive linger (nothing else in flight), then exit."""
        return self.pre_stop + GUNICORN_STOP_KEEPALIVE_LINGER_S

    def rollout_floor(self, replicas: int, surge: int, time_to_ready: float) -> float:
        """Theoretical minimum rollout time: ⌈replicas / surge⌉ waves of (ready + minReady), then one drain."""
        waves = math.ceil(replicas / max(surge, 1))
        return waves * (time_to_ready + self.min_ready) + self.drain_seconds()


# What a pod in the local environment uses: the same relations at a human scale, so a rollout of
# three replicas takes seconds. pre_stop 1 s > endpoint_propagation 0.5 s; grace 1 + 5 + 2 = 8 s.
LOCAL_TIMING = Timing(
    endpoint_propagation=0.5,
    pre_stop=1,
    graceful_timeout=5,
    shutdown_margin=2,
    readiness_period=1,
    probe_timeout=1,
    liveness_period=2,
    startup_period=1,
    startup_failure_threshold=10,
    min_ready=1,
    progress_deadline=20,
)
