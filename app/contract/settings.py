"""Typed settings for the app's deployment, validated once: every problem reported together."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app import serving
from app.contract.rollout import IntOrPercent, parse_int_or_percent, resolve_fenceposts, scaled_value
from app.contract.routers import DEFAULT_ROUTER, RENDERINGS, ROUTERS
from app.timing import Timing
from app.version import is_valid_tag

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REPOSITORY = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*")
_CPU = re.compile(r"\d+m|\d+(\.\d+)?")
_MEMORY = re.compile(r"\d+(Ki|Mi|Gi)")
MIN_REPLICAS = 2


class SettingsError(ValueError):
    """Settings that cannot be deployed; `problems` lists each one, naming its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} invalid setting(s); fix them and try again:\n{listing}")


class SelfChecked:
    """Settings that cannot exist invalid: creating one with any problem raises SettingsError listing them all."""

    def problems(self) -> list[str]:
        """Every reason these settings cannot be used, each naming its field."""
        raise NotImplementedError

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SettingsError(problems)


def is_hostname(name: str) -> bool:
    """True for a lower-case DNS name (RFC 1123) of at most 253 characters."""
    return 0 < len(name) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in name.split("."))


def is_dns_label(name: str) -> bool:
    """True for a Kubernetes object name usable as a DNS label (≤ 63, lower-case, digits, '-')."""
    return _DNS_LABEL.fullmatch(name) is not None


@dataclass(frozen=True, kw_only=True)
class AppSettings(SelfChecked):
    """Everything that may differ between environments about how the app runs."""

    image_repository: str
    """Where the image lives, without tag (an ECR repository URL, or a local name)."""
    image_tag: str
    """The release: becomes APP_VERSION. Never `latest` — a mutable tag makes rollbacks lie."""
    host: str
    """The public hostname the ingress answers for."""
    image_digest: str = ""
    """Optional `sha256:…`: pin the exact image the tag pointed to at build time."""
    commit: str = ""
    """Optional git commit shown on the page."""
    name: str = "example-app"
    """Name of every object (stable, so an update is never a delete-and-create)."""
    namespace: str = "example-app"
    """Namespace the app runs in."""
    replicas: int = 3
    """Pods serving at all times; at least two so one can go while another serves."""
    max_replicas: int = 6
    """Upper bound for the HorizontalPodAutoscaler."""
    target_cpu_percent: int = 70
    """Average CPU utilisation the autoscaler aims for."""
    max_surge: IntOrPercent = 1
    """Extra pods during a rollout (count or percentage, rounded up); at least one."""
    max_unavailable: IntOrPercent = 0
    """Pods that may be missing during a rollout; 0 so capacity never drops."""
    cpu_request: str = "100m"
    """CPU reserved per pod."""
    cpu_limit: str = "1"
    """CPU ceiling per pod."""
    memory_request: str = "192Mi"
    """Memory reserved per pod."""
    memory_limit: str = "256Mi"
    """Memory ceiling per pod (requests ≤ limit)."""
    workers: int = serving.WORKERS
    """gunicorn worker processes per pod."""
    threads: int = serving.THREADS
    """Threads per gunicorn worker."""
    container_port: int = serving.PORT
    """Port gunicorn listens on inside the pod."""
    tls_cluster_issuer: str = ""
    """cert-manager ClusterIssuer for the host's certificate; empty serves plain HTTP (local only)."""
    router: str = DEFAULT_ROUTER
    """Which router renders the app's routes: `ingress-nginx` or `gateway-api` (app/contract/routers/)."""
    ingress_class: str = ""
    """IngressClass or GatewayClass that routes to the app; empty: the router's default (`nginx`, `envoy-gateway`)."""
    ingress_namespace: str = ""
    """Namespace of the router's proxies, the only one the NetworkPolicy admits; empty: the router's default."""
    timing: Timing = field(default_factory=Timing)
    """Probes, preStop, grace period and rollout deadlines (app/timing.py)."""

    @property
    def router_class(self) -> str:
        """The IngressClass or GatewayClass the app's routes name."""
        return self.ingress_class or RENDERINGS[self.router].default_class

    @property
    def router_namespace(self) -> str:
        """Namespace of the router's proxies (and of its Gateway)."""
        return self.ingress_namespace or RENDERINGS[self.router].default_namespace

    @property
    def image(self) -> str:
        """The image reference pods run: `repository:tag`, or `repository@digest` when pinned."""
        if self.image_digest:
            return f"{self.image_repository}@{self.image_digest}"
        return f"{self.image_repository}:{self.image_tag}"

    def fenceposts(self) -> tuple[int, int]:
        """(surge, unavailable) pods for a rollout of these replicas."""
        return resolve_fenceposts(self.max_surge, self.max_unavailable, self.replicas)

    def problems(self) -> list[str]:
        """Every reason these settings cannot be deployed, each naming its field."""
        found: list[str] = []
        if not isinstance(self.image_tag, str) or not is_valid_tag(self.image_tag):
            found.append(
                f"image_tag {self.image_tag!r} is not a valid image tag "
                "([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}); use the release's git tag, e.g. v1.2.3"
            )
        elif self.image_tag == "latest":
            found.append("image_tag 'latest' is mutable and makes rollbacks lie; use the release's tag, e.g. v1.2.3")
        if not isinstance(self.image_repository, str) or not _REPOSITORY.fullmatch(self.image_repository):
            found.append(f"image_repository {self.image_repository!r} is not an image repository (lower-case, no tag)")
        if self.image_digest and not _DIGEST.fullmatch(str(self.image_digest)):
            found.append(f"image_digest {self.image_digest!r} must look like sha256:<64 hex digits>")
        if self.commit and not re.fullmatch(r"[0-9A-Za-z._-]{1,64}", str(self.commit)):
            found.append(f"commit {self.commit!r} must be a git commit id")
        if not isinstance(self.host, str) or not is_hostname(self.host):
            found.append(f"host {self.host!r} is not a valid lower-case DNS name")
        for name in ("name", "namespace", "ingress_namespace", "ingress_class"):
            value = getattr(self, name)
            if name.startswith("ingress_") and value == "":
                continue  # the router's default
            if not isinstance(value, str) or not is_dns_label(value):
                found.append(f"{name} {value!r} must be a DNS label (lower-case letters, digits, '-', ≤ 63)")
        if self.router not in RENDERINGS:
            found.append(f"router {self.router!r} must be one of: {', '.join(ROUTERS)}")
        if self.tls_cluster_issuer and not is_dns_label(str(self.tls_cluster_issuer)):
            found.append(f"tls_cluster_issuer {self.tls_cluster_issuer!r} must be a ClusterIssuer name")
        found.extend(self._count_problems())
        found.extend(self._rollout_problems())
        for name, pattern in (
            ("cpu_request", _CPU),
            ("cpu_limit", _CPU),
            ("memory_request", _MEMORY),
            ("memory_limit", _MEMORY),
        ):
            if not isinstance(getattr(self, name), str) or not pattern.fullmatch(getattr(self, name)):
                found.append(f"{name} {getattr(self, name)!r} is not a Kubernetes quantity (e.g. 100m, 256Mi)")
        if not isinstance(self.timing, Timing):
            found.append("timing must be a Timing")
        else:
            found.extend(self.timing.problems())
        return found

    def _count_problems(self) -> list[str]:
        found: list[str] = []
        counts = {
            "replicas": (MIN_REPLICAS, "the mission asks for at least two instances"),
            "max_replicas": (MIN_REPLICAS, ""),
            "workers": (1, ""),
            "threads": (1, ""),
            "container_port": (1024, "unprivileged ports only"),
        }
        for name, (minimum, why) in counts.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                reason = f" ({why})" if why else ""
                found.append(f"{name} must be a whole number ≥ {minimum}{reason}, got {value!r}")
        if isinstance(self.container_port, int) and self.container_port > 65535:
            found.append(f"container_port must be ≤ 65535, got {self.container_port}")
        if isinstance(self.replicas, int) and isinstance(self.max_replicas, int) and self.max_replicas < self.replicas:
            found.append(f"max_replicas ({self.max_replicas}) must be ≥ replicas ({self.replicas})")
        if not isinstance(self.target_cpu_percent, int) or not 1 <= self.target_cpu_percent <= 100:
            found.append(f"target_cpu_percent must be 1–100, got {self.target_cpu_percent!r}")
        return found

    def _rollout_problems(self) -> list[str]:
        found: list[str] = []
        for name in ("max_surge", "max_unavailable"):
            if parse_int_or_percent(getattr(self, name)) is None:
                found.append(f"{name} {getattr(self, name)!r} must be a whole number ≥ 0 or a percentage 0%–100%")
        if found or not isinstance(self.replicas, int) or self.replicas < 1:
            return found
        surge, _ = resolve_fenceposts(self.max_surge, self.max_unavailable, self.replicas)
        # Before Kubernetes' "both 0 → unavailable 1" fix-up: a zero surge is the one cause, reported once.
        unavailable = scaled_value(self.max_unavailable, self.replicas, round_up=False)
        if surge < 1:
            found.append(f"max_surge {self.max_surge!r} gives {surge} extra pods at {self.replicas} replicas; need ≥ 1")
        if unavailable != 0:
            found.append(
                f"max_unavailable {self.max_unavailable!r} lets {unavailable} pod(s) go before replacements "
                "are ready; use 0"
            )
        return found

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], **fixed: Any) -> AppSettings:
        """Build from loose config (YAML, Pulumi config); unknown keys and wrong types are problems too.

        `fixed` supplies values the caller owns (e.g. the image tag from the stack). A nested `timing`
        mapping overrides single Timing fields.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        timing_fields = {f.name: f for f in dataclasses.fields(Timing)}
        problems: list[str] = [f"unknown setting {key!r}" for key in data if key not in known]
        values: dict[str, Any] = {k: _whole(v) for k, v in data.items() if k in known and k != "timing"}
        timing_raw = data.get("timing", {}) or {}
        if not isinstance(timing_raw, Mapping):
            problems.append("timing must be a mapping of Timing fields")
            timing_raw = {}
        problems += [f"unknown setting 'timing.{key}'" for key in timing_raw if key not in timing_fields]
        timing_values: dict[str, Any] = {k: _whole(v) for k, v in timing_raw.items() if k in timing_fields}
        for key, value in timing_values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"timing.{key} must be a number, got {value!r}")
        values.update(fixed)
        try:
            numbers: dict[str, Any] = {k: v for k, v in timing_values.items() if isinstance(v, int | float)}
            timing = Timing(**numbers)
            built = cls(**values, timing=timing)
        except SettingsError as error:
            raise SettingsError(problems + error.problems) from None
        except TypeError as error:  # a required field missing
            raise SettingsError([*problems, str(error).replace("__init__() ", "")]) from None
        if problems:
            raise SettingsError(problems)
        return built


def _whole(value: Any) -> Any:
    """Pulumi hands numbers over as floats; 3.0 means 3."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
