"""Render the app's Kubernetes objects as plain dicts: the one description of how the app runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.contract.disruption import drain_budget, spread_constraints
from app.contract.ingress import INGRESS_TUNING
from app.contract.routers import RENDERINGS
from app.contract.routing import CanarySplit, Route, RouteObjects
from app.contract.settings import AppSettings
from app.serving import LIVENESS_PATH, READINESS_PATH

Manifest = dict[str, Any]

# The container's only writable paths are these emptyDirs (readOnlyRootFilesystem).
TMP_VOLUME = "tmp"
UID = 10001
PART_OF = "example-app"
"""The `app.kubernetes.io/part-of` label of every object: the whole application, whatever its name."""
PORT_NAME = "http"
SERVICE_PORT = 80
CONTAINER_NAME = "web"
METRICS_SCRAPER_NAMESPACE = "monitoring"
"""Namespace of the cluster's Prometheus (infra/platform.py Monitoring): the NetworkPolicy admits it to /metrics."""
METRICS_SCRAPER_LABELS = {"app.kubernetes.io/name": "prometheus"}
"""Labels of the Prometheus pods (prometheus-operator sets them on every Prometheus StatefulSet's pods; the
kube-prometheus-stack chart selects them in templates/prometheus/podDisruptionBudget.yaml)."""


@dataclass(frozen=True)
class Manifests:
    """The app's objects, in the order a cluster should receive them."""

    namespace: Manifest
    service: Manifest
    deployment: Manifest
    pod_disruption_budget: Manifest
    autoscaler: Manifest
    network_policy: Manifest
    routes: list[Manifest]
    """The router's objects for the app's host (app/contract/routing.py): an Ingress, or HTTPRoutes and policies."""

    def all(self) -> list[Manifest]:
        """Every object, dependencies first (Namespace before anything namespaced, Service before routes)."""
        return [
            self.namespace,
            self.service,
            self.deployment,
            self.pod_disruption_budget,
            self.autoscaler,
            self.network_policy,
            *self.routes,
        ]


def selector_labels(settings: AppSettings) -> dict[str, str]:
    """Labels that pick the app's pods; never include the version (a selector is immutable)."""
    return {"app.kubernetes.io/name": settings.name, "app.kubernetes.io/instance": settings.name}


def _labels(settings: AppSettings) -> dict[str, str]:
    return {
        **selector_labels(settings),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": "web",
    }


def _metadata(settings: AppSettings, **extra: Any) -> dict[str, Any]:
    return {"name": settings.name, "namespace": settings.namespace, "labels": _labels(settings), **extra}


def container_env(settings: AppSettings) -> list[dict[str, str]]:
    """The process's environment: its version from the tag, and gunicorn's timings from the contract."""
    t = settings.timing
    env = {
        "APP_VERSION": settings.image_tag,
        "APP_COMMIT": settings.commit,
        "PORT": str(settings.container_port),
        "WEB_WORKERS": str(settings.workers),
        "WEB_THREADS": str(settings.threads),
        "GRACEFUL_TIMEOUT": str(t.graceful_timeout),
        "KEEPALIVE": str(t.keepalive),
        "WORKER_TIMEOUT": str(t.worker_timeout),
        # Only the ingress can reach the pod (NetworkPolicy), so its X-Forwarded-* headers are trusted.
        "FORWARDED_ALLOW_IPS": "*",
    }
    return [{"name": k, "value": v} for k, v in env.items() if v]


def _probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def _pod_spec(settings: AppSettings) -> dict[str, Any]:
    t = settings.timing
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # grace = preStop + gunicorn graceful_timeout + margin (app/timing.py): preStop counts against it.
        "terminationGracePeriodSeconds": t.termination_grace,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER_NAME,
                "image": settings.image,
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": PORT_NAME, "containerPort": settings.container_port, "protocol": "TCP"}],
                "env": container_env(settings),
                "startupProbe": _probe(LIVENESS_PATH, t.startup_period, t.probe_timeout, t.startup_failure_threshold),
                "readinessProbe": _probe(
                    READINESS_PATH, t.readiness_period, t.probe_timeout, t.readiness_failure_threshold
                ),
                "livenessProbe": _probe(
                    LIVENESS_PATH, t.liveness_period, t.probe_timeout, t.liveness_failure_threshold
                ),
                # Endpoint removal and SIGTERM race; sleeping first lets every ingress forget the pod
                # (pre_stop > endpoint_propagation) while it still serves whatever reaches it.
                "lifecycle": {"preStop": {"sleep": {"seconds": t.pre_stop}}},
                "resources": {
                    "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
                    "limits": {"cpu": settings.cpu_limit, "memory": settings.memory_limit},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "runAsUser": UID,
                    "runAsGroup": UID,
                    "privileged": False,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}],
        # Over zones, then nodes; soft, so a surge or replacement pod never waits for a node in the "right" zone.
        # matchLabelKeys: each ReplicaSet spreads on its own, so a rollout's new pods spread among themselves.
        "topologySpreadConstraints": spread_constraints(
            selector_labels(settings), match_label_keys=["pod-template-hash"]
        ),
    }


def deployment(settings: AppSettings) -> Manifest:
    """The Deployment: a surge rollout (new pods ready before old ones go) with the drain budget above."""
    t = settings.timing
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(settings),
        "spec": {
            "replicas": settings.replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": selector_labels(settings)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": settings.max_surge, "maxUnavailable": settings.max_unavailable},
            },
            "minReadySeconds": t.min_ready,
            "progressDeadlineSeconds": t.progress_deadline,
            "template": {
                "metadata": {
                    "labels": {**_labels(settings), "app.kubernetes.io/version": settings.image_tag},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(settings.container_port)},
                },
                "spec": _pod_spec(settings),
            },
        },
    }


def stable_route(settings: AppSettings) -> Route:
    """The app's stable route, router-neutral: its host to its Service, with TLS from the stack's issuer."""
    return Route(
        name=settings.name,
        namespace=settings.namespace,
        labels=_labels(settings),
        host=settings.host,
        service=settings.name,
        port_name=PORT_NAME,
        port=SERVICE_PORT,
        router_class=settings.router_class,
        router_namespace=settings.router_namespace,
        tls_cluster_issuer=settings.tls_cluster_issuer,
        tls_secret=f"{settings.name}-tls" if settings.tls_cluster_issuer else "",
    )


def route_objects(settings: AppSettings, split: CanarySplit | None = None) -> RouteObjects:
    """The configured router's objects for the app, with `split` while a canary runs."""
    return RENDERINGS[settings.router].render(stable_route(settings), split, INGRESS_TUNING)


def render(settings: AppSettings, split: CanarySplit | None = None) -> Manifests:
    """All of the app's objects for these (already validated) settings; `split` while a canary runs."""
    return Manifests(
        namespace={
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": settings.namespace,
                "labels": {
                    "app.kubernetes.io/part-of": PART_OF,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            },
        },
        service={
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(settings),
            "spec": {
                "type": "ClusterIP",
                "selector": selector_labels(settings),
                "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
            },
        },
        deployment=deployment(settings),
        pod_disruption_budget={
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _metadata(settings),
            # Node drains and node-group updates evict one pod at a time, and a pod that is not Ready never blocks
            # them (app/contract/disruption.py); rollouts are governed by the strategy instead.
            "spec": {**drain_budget(), "selector": {"matchLabels": selector_labels(settings)}},
        },
        autoscaler={
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _metadata(settings),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": settings.name},
                "minReplicas": settings.replicas,
                "maxReplicas": settings.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": settings.target_cpu_percent},
                        },
                    }
                ],
            },
        },
        network_policy={
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(settings),
            "spec": {
                "podSelector": {"matchLabels": selector_labels(settings)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": settings.router_namespace}
                                }
                            },
                            # Prometheus scrapes /metrics, served on the same port (app/serving.py METRICS_PATH).
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": METRICS_SCRAPER_NAMESPACE}
                                },
                                "podSelector": {"matchLabels": METRICS_SCRAPER_LABELS},
                            },
                        ],
                        "ports": [{"port": settings.container_port, "protocol": "TCP"}],
                    }
                ],
            },
        },
        routes=route_objects(settings, split).stable,
    )
