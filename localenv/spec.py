"""Read a Deployment dict (as `app.contract.render` returns it) into the numbers the controller obeys.

Only the fields the local environment honours are read, with Kubernetes' defaults where a field is
absent — so a test can hand in a modified ("naive") dict, e.g. without a readiness probe or preStop,
and the controller behaves as a cluster would with that spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.contract.rollout import parse_int_or_percent, resolve_fenceposts
from localenv.errors import LocalEnvError

# Kubernetes' defaults for fields a Deployment may leave out (apps/v1, core/v1).
DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"
DEFAULT_PROGRESS_DEADLINE = 600
DEFAULT_GRACE = 30
DEFAULT_PROBE_PERIOD = 10
DEFAULT_PROBE_TIMEOUT = 1
DEFAULT_FAILURE_THRESHOLD = 3


@dataclass(frozen=True, kw_only=True)
class Probe:
    """An httpGet probe: the kubelet asks `path` every `period` s; thresholds flip the result."""

    path: str
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int


@dataclass(frozen=True, kw_only=True)
class PodTemplate:
    """What one pod runs and how the kubelet treats it."""

    image: str
    env: tuple[tuple[str, str], ...]
    startup_probe: Probe | None
    readiness_probe: Probe | None
    liveness_probe: Probe | None
    pre_stop_sleep: float
    """preStop sleep seconds (0 = no preStop hook)."""
    termination_grace: float
    """terminationGracePeriodSeconds: preStop counts against it; SIGKILL at its end."""

    @property
    def repository(self) -> str:
        """The image without its tag."""
        return self.image.rsplit(":", 1)[0] if ":" in self.image.rsplit("/", 1)[-1] else self.image

    @property
    def tag(self) -> str:
        """The image tag (the release), or '' when the image has none."""
        last = self.image.rsplit("/", 1)[-1]
        return last.rsplit(":", 1)[1] if ":" in last else ""

    @property
    def version(self) -> str:
        """The version the pod serves: APP_VERSION from its env, else the image tag."""
        return dict(self.env).get("APP_VERSION") or self.tag

    def key(self) -> str:
        """A stable identity for 'the same template' (what pod-template-hash is in Kubernetes)."""
        return repr(self)


@dataclass(frozen=True, kw_only=True)
class DeploymentSpec:
    """The Deployment's rollout rules and its pod template."""

    name: str
    replicas: int
    max_surge: int | str
    max_unavailable: int | str
    min_ready: float
    progress_deadline: float
    revision_history_limit: int
    template: PodTemplate

    def fenceposts(self) -> tuple[int, int]:
        """(surge, unavailable) pods, resolved exactly as the Deployment controller does."""
        return resolve_fenceposts(self.max_surge, self.max_unavailable, self.replicas)

    @property
    def rollout_timeout(self) -> float:
        """What a deploy tool waits for: the progress deadline plus one pod's full shutdown (as in Timing)."""
        return self.progress_deadline + self.template.termination_grace

    @classmethod
    def from_manifest(cls, deployment: dict[str, Any]) -> DeploymentSpec:
        """Parse a Deployment dict; a field the local environment cannot honour is a clear error."""
        try:
            return _parse(deployment)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise LocalEnvError(f"the Deployment cannot run locally: {error}") from None


def _parse(deployment: dict[str, Any]) -> DeploymentSpec:
    if deployment.get("kind") != "Deployment":
        raise ValueError(f"expected kind Deployment, got {deployment.get('kind')!r}")
    spec = deployment["spec"]
    strategy = spec.get("strategy", {})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ValueError(f"strategy {strategy.get('type')!r} is not supported; use RollingUpdate")
    rolling = strategy.get("rollingUpdate", {})
    surge = rolling.get("maxSurge", DEFAULT_SURGE)
    unavailable = rolling.get("maxUnavailable", DEFAULT_UNAVAILABLE)
    for name, value in (("maxSurge", surge), ("maxUnavailable", unavailable)):
        if parse_int_or_percent(value) is None:
            raise ValueError(f"{name} {value!r} must be a whole number ≥ 0 or a percentage")
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ValueError(f"replicas must be a whole number ≥ 0, got {replicas!r}")
    pod = spec["template"]["spec"]
    containers = pod["containers"]
    if len(containers) != 1:
        raise ValueError("a local pod runs exactly one container")
    container = containers[0]
    ports = {p.get("name"): int(p["containerPort"]) for p in container.get("ports", [])}
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if pre_stop and "sleep" not in pre_stop:
        raise ValueError("only the native preStop sleep hook (lifecycle.preStop.sleep.seconds) is supported")
    template = PodTemplate(
        image=str(container["image"]),
        env=tuple((str(e["name"]), str(e.get("value", ""))) for e in container.get("env", [])),
        startup_probe=_probe(container.get("startupProbe"), ports),
        readiness_probe=_probe(container.get("readinessProbe"), ports),
        liveness_probe=_probe(container.get("livenessProbe"), ports),
        pre_stop_sleep=float(pre_stop.get("sleep", {}).get("seconds", 0)),
        termination_grace=float(pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE)),
    )
    return DeploymentSpec(
        name=str(deployment.get("metadata", {}).get("name", "app")),
        replicas=replicas,
        max_surge=surge,
        max_unavailable=unavailable,
        min_ready=float(spec.get("minReadySeconds", 0)),
        progress_deadline=float(spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)),
        revision_history_limit=int(spec.get("revisionHistoryLimit", 10)),
        template=template,
    )


def _probe(raw: dict[str, Any] | None, ports: dict[str | None, int]) -> Probe | None:
    if not raw:
        return None
    http_get = raw.get("httpGet")
    if not http_get:
        raise ValueError("only httpGet probes are supported")
    port = http_get.get("port")
    if isinstance(port, str) and port not in ports:
        raise ValueError(f"probe port {port!r} names no container port")
    # Each pod listens on its own loopback port locally; the probe always goes to it.
    return Probe(
        path=str(http_get.get("path", "/")),
        initial_delay=float(raw.get("initialDelaySeconds", 0)),
        period=float(raw.get("periodSeconds", DEFAULT_PROBE_PERIOD)),
        timeout=float(raw.get("timeoutSeconds", DEFAULT_PROBE_TIMEOUT)),
        success_threshold=int(raw.get("successThreshold", 1)),
        failure_threshold=int(raw.get("failureThreshold", DEFAULT_FAILURE_THRESHOLD)),
    )
