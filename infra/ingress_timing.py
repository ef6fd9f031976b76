"""How an ingress controller pod leaves the NLB without dropping a connection: every number, written once.

The NLB sends straight to the controller pods (IP targets, registered by the AWS Load Balancer Controller).
When a controller pod starts terminating, two things begin at the same moment:

    t = 0                      pod Terminating; its endpoint turns not-ready
    t ≤ controller_reaction    the Load Balancer Controller calls DeregisterTargets: the target is `draining`
    t ≤ … + propagation        the NLB has stopped opening *new* connections to it
    t = pre_stop               preStop ends; the kubelet sends SIGTERM to the controller
                               (controller-v1.15.1: Stop() sets isShuttingDown, /healthz turns 503 —
                               harmless now, the NLB no longer routes to this target)
    t = … + shutdown_grace     `--shutdown-grace-period` ends: `nginx -s quit`, idle connections close,
                               open requests finish within `worker-shutdown-timeout` (drain)
    t = … + drain              nginx has exited; `--post-shutdown-grace-period`, then the controller exits
    t = deregistration_delay   the NLB resets whatever is still open to the target
                               (`deregistration_delay.connection_termination.enabled`): nothing nginx serves
    t = termination_grace      the kubelet's SIGKILL; never reached in the usual case

So the pod keeps *accepting* for as long as the NLB may still send it new connections, then drains, then
exits, and the NLB's own cut comes only after nginx is done.

Envoy Gateway's proxies (router `gateway-api`) go through the same NLB sequence with Envoy's own stop
(envoyproxy/gateway v1.8.3 internal/cmd/envoy/shutdown_manager.go `Shutdown`): the preStop starts a drain at
t = 0 — Envoy keeps accepting and asks clients to close (`Connection: close`, GOAWAY) — and Envoy exits at
the first moment after `envoy_min_drain` with no connection open, at `envoy_drain_timeout` at the latest.
The NLB health-checks the traffic port (TCP), which answers until Envoy exits, so nothing is cut early.

`problems()` names every broken relation;
tests/infra/test_ingress_timing.py asserts each one and that a violating value is refused. No Pulumi import:
infra/helm_values.py renders these into the charts' values, and the local environment (HAProxy standing in
for the NLB) takes `LOCAL_INGRESS_TIMING`, the same relations at a human scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

# The AWS API's bounds for a target group (botocore 1.44.8 data/elbv2/2015-12-01/service-2.json, shapes
# HealthCheckIntervalSeconds, HealthCheckTimeoutSeconds, HealthCheckThresholdCount, and TargetGroupAttribute:
# "deregistration_delay.timeout_seconds … The range is 0-3600 seconds", "target_health_state.unhealthy.
# draining_interval_seconds … The range is 0-360000 seconds"). The local profile is not bound by them.
AWS_HEALTH_CHECK_INTERVAL = (5, 300)
AWS_HEALTH_CHECK_TIMEOUT = (2, 120)
AWS_HEALTH_CHECK_THRESHOLD = (2, 10)
AWS_DEREGISTRATION_DELAY = (0, 3600)
AWS_UNHEALTHY_DRAINING_INTERVAL = (0, 360000)
ENVOY_GATEWAY_GRACE_OVER_DRAIN = 300
"""Seconds Envoy Gateway v1.8.3 adds to `shutdown.drainTimeout` for the proxy pod's grace (resource_provider.go)."""


@dataclass(frozen=True, kw_only=True)
class IngressTiming:
    """Seconds that decide how the NLB finds, checks and lets go of an ingress controller pod."""

    health_check_interval: float = 10
    """NLB health check period on the controller's /healthz (annotation healthcheck-interval)."""
    health_check_timeout: float = 5
    """A health check answered later than this fails (annotation healthcheck-timeout)."""
    healthy_threshold: int = 2
    """Passed checks before a new target takes traffic — and, with readiness gates, before its pod is Ready."""
    unhealthy_threshold: int = 2
    """Failed checks before the NLB stops sending new connections to a target (a crashed pod)."""
    controller_reaction: float = 10
    """From a pod turning Terminating to the Load Balancer Controller's DeregisterTargets call (watch + batch)."""
    deregistration_propagation: float = 120
    """From DeregisterTargets to the NLB's last new connection to that target.

    AWS documents no figure: the NLB guide says a draining target gets no new connections, yet an NLB keeps
    opening them for about two minutes whatever the deregistration delay, measured and reported in
    kubernetes-sigs/aws-load-balancer-controller#2366 and #3270 and aws/containers-roadmap#470.
    """
    pre_stop: float = 130
    """preStop sleep before the controller is signalled: ≥ controller_reaction + deregistration_propagation."""
    shutdown_grace: float = 5
    """Controller `--shutdown-grace-period`: /healthz already 503, nginx still accepting; slack for stragglers."""
    drain: float = 30
    """nginx `worker-shutdown-timeout`: open requests finish within it after `nginx -s quit`."""
    post_shutdown_grace: float = 10
    """Controller `--post-shutdown-grace-period` (its default, controller-v1.15.1 pkg/flags/flags.go)."""
    shutdown_margin: float = 10
    """Slack between the controller's own exit and the kubelet's SIGKILL."""
    deregistration_delay: float = 165
    """Target group `deregistration_delay.timeout_seconds`; the NLB resets what is left at its end."""
    envoy_min_drain: float = 130
    """EnvoyProxy `shutdown.minDrainDuration`: Envoy never exits before it, however idle — it covers the NLB's
    last new connection (≥ controller_reaction + deregistration_propagation, like pre_stop)."""
    envoy_drain_timeout: float = 165
    """EnvoyProxy `shutdown.drainTimeout`: Envoy exits at it whatever is still open; ≥ envoy_min_drain + drain,
    so a request that arrives on the NLB's last new connection may still finish."""
    target_registration: float = 180
    """From RegisterTargets until the NLB starts health-checking a new IP target (reported 90–180 s,
    kubernetes-sigs/aws-load-balancer-controller#1834); only rollout budgets use it."""

    @property
    def stop_accepting(self) -> float:
        """Seconds from Terminating until nginx stops accepting (`nginx -s quit`): preStop + shutdown grace."""
        return self.pre_stop + self.shutdown_grace

    @property
    def nginx_done(self) -> float:
        """Seconds from Terminating until nginx has finished every open request at the latest."""
        return self.stop_accepting + self.drain

    @property
    def termination_grace(self) -> float:
        """Controller pod's terminationGracePeriodSeconds: preStop counts against it, then the controller's stop."""
        # 185 s = preStop 130 + shutdown grace 5 + drain 30 + post-shutdown 10 + margin 10 (defaults)
        return self.nginx_done + self.post_shutdown_grace + self.shutdown_margin

    @property
    def envoy_termination_grace(self) -> float:
        """The Envoy pod's terminationGracePeriodSeconds as Envoy Gateway sets it: drainTimeout + 300 s
        (envoyproxy/gateway v1.8.3 internal/infrastructure/kubernetes/proxy/resource_provider.go
        `expectedTerminationGracePeriodSeconds`; the EnvoyProxy API has no field for it)."""
        return self.envoy_drain_timeout + ENVOY_GATEWAY_GRACE_OVER_DRAIN

    @property
    def unhealthy_detection(self) -> float:
        """Seconds until the NLB stops sending to a target that died without deregistering (a crash)."""
        return self.health_check_interval * self.unhealthy_threshold

    @property
    def unhealthy_draining_interval(self) -> float:
        """`target_health_state.unhealthy.draining_interval_seconds`: how long an unhealthy target keeps its
        open connections — the time nginx needs to finish them once it stops accepting."""
        return self.shutdown_grace + self.drain

    @property
    def time_to_healthy(self) -> float:
        """Seconds from a new pod's registration until the NLB sends to it (and its readiness gate passes)."""
        return self.target_registration + self.health_check_interval * self.healthy_threshold

    def rollout_budget(self, replicas: int) -> int:
        """Seconds a surge-1 rollout of `replicas` controller pods may take: one readiness gate per pod,
        then the last old pod's full shutdown (what Helm must wait for)."""
        return math.ceil(replicas * self.time_to_healthy + self.termination_grace)

    def problems(self) -> list[str]:
        """Every broken relation between these numbers, each naming its field; empty when sound."""
        found: list[str] = []
        for f in fields(self):
            if getattr(self, f.name) < 0:
                found.append(f"ingress_timing.{f.name} must be ≥ 0")
        for name in ("healthy_threshold", "unhealthy_threshold"):
            if getattr(self, name) < 1:
                found.append(f"ingress_timing.{name} must be ≥ 1")
        for name in ("health_check_interval", "drain", "shutdown_margin"):
            if getattr(self, name) <= 0:
                found.append(f"ingress_timing.{name} must be > 0 s")
        if self.health_check_timeout >= self.health_check_interval:
            found.append(
                f"ingress_timing.health_check_timeout ({self.health_check_timeout} s) must be shorter than "
                f"health_check_interval ({self.health_check_interval} s)"
            )
        if self.pre_stop < self.controller_reaction + self.deregistration_propagation:
            found.append(
                f"ingress_timing.pre_stop ({self.pre_stop} s) must be ≥ controller_reaction + "
                f"deregistration_propagation ({self.controller_reaction + self.deregistration_propagation} s), "
                "or nginx stops accepting while the NLB still opens connections to it"
            )
        if self.deregistration_delay < self.nginx_done:
            found.append(
                f"ingress_timing.deregistration_delay ({self.deregistration_delay} s) must be ≥ pre_stop + "
                f"shutdown_grace + drain ({self.nginx_done} s), or the NLB resets requests nginx is still finishing"
            )
        return found

    def envoy_problems(self) -> list[str]:
        """Every broken relation of Envoy's drain (router `gateway-api`) to the NLB's numbers; empty when sound.

        Apart from `problems()`: only stacks whose proxies are Envoy need them; tuning nginx alone never trips them.
        """
        found: list[str] = []
        last_new_connection = self.controller_reaction + self.deregistration_propagation
        if self.envoy_min_drain < last_new_connection:
            found.append(
                f"ingress_timing.envoy_min_drain ({self.envoy_min_drain} s) must be ≥ controller_reaction + "
                f"deregistration_propagation ({last_new_connection} s), or Envoy exits while the NLB still sends to it"
            )
        if self.envoy_drain_timeout < self.envoy_min_drain + self.drain:
            found.append(
                f"ingress_timing.envoy_drain_timeout ({self.envoy_drain_timeout} s) must be ≥ envoy_min_drain + drain "
                f"({self.envoy_min_drain + self.drain} s), or a request on the NLB's last new connection is cut"
            )
        if self.deregistration_delay < self.envoy_drain_timeout:
            found.append(
                f"ingress_timing.deregistration_delay ({self.deregistration_delay} s) must be ≥ envoy_drain_timeout "
                f"({self.envoy_drain_timeout} s), or the NLB resets requests Envoy is still finishing"
            )
        return found

    def aws_problems(self) -> list[str]:
        """What the AWS API would refuse: the NLB's bounds, and whole seconds everywhere Kubernetes or AWS reads."""
        found = self.problems()
        for name, (low, high) in (
            ("health_check_interval", AWS_HEALTH_CHECK_INTERVAL),
            ("health_check_timeout", AWS_HEALTH_CHECK_TIMEOUT),
            ("healthy_threshold", AWS_HEALTH_CHECK_THRESHOLD),
            ("unhealthy_threshold", AWS_HEALTH_CHECK_THRESHOLD),
            ("deregistration_delay", AWS_DEREGISTRATION_DELAY),
        ):
            if not low <= getattr(self, name) <= high:
                found.append(f"ingress_timing.{name} ({getattr(self, name)}) must be within AWS's {low}–{high}")
        low, high = AWS_UNHEALTHY_DRAINING_INTERVAL
        if not low <= self.unhealthy_draining_interval <= high:
            found.append(f"ingress_timing: shutdown_grace + drain must be within AWS's {low}–{high} s")
        for f in fields(self):
            if getattr(self, f.name) != int(getattr(self, f.name)):
                found.append(f"ingress_timing.{f.name} ({getattr(self, f.name)}) must be whole seconds on AWS")
        return found


def whole_seconds(value: float, name: str) -> int:
    """A number of seconds as AWS and Kubernetes read it; refuses a fraction rather than rounding it away."""
    if value != int(value):
        raise ValueError(f"ingress_timing.{name} is {value} s; EKS needs whole seconds")
    return int(value)


# EKS: preStop 130 = reaction 10 + propagation 120; deregistration delay 165 = 130 + 5 + 30; grace 185.
# Envoy: min drain 130 = 10 + 120; drain timeout 165 ≥ 130 + 30 and ≤ the deregistration delay 165; grace 465.
INGRESS_TIMING = IngressTiming()

# The local environment (HAProxy for the NLB, the same controller sequence): the same relations in seconds
# a test can wait for. pre_stop 2.5 ≥ 0.5 + 2; deregistration delay 6 ≥ 2.5 + 0.5 + 3; grace 6 + 0.5 + 1 = 7.5.
LOCAL_INGRESS_TIMING = IngressTiming(
    health_check_interval=0.5,
    health_check_timeout=0.25,
    healthy_threshold=2,
    unhealthy_threshold=2,
    controller_reaction=0.5,
    deregistration_propagation=2,
    pre_stop=2.5,
    shutdown_grace=0.5,
    drain=3,
    post_shutdown_grace=0.5,
    shutdown_margin=1,
    deregistration_delay=6,
    envoy_min_drain=2.5,
    envoy_drain_timeout=6,
    target_registration=0.5,
)
