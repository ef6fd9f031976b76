"""Helm charts and values for the cluster's platform: ingress-nginx, cert-manager, metrics-server, as plain data.

No Pulumi import: infra/platform.py hands these dicts to `helm.v3.Release`, and tests read them
directly. The ingress's retry and keep-alive values come from app/contract/ingress.py — the local
nginx uses the same ones — so they are never written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.contract.ingress import INGRESS_TUNING, IngressTuning


@dataclass(frozen=True, kw_only=True)
class ChartRef:
    """A Helm chart pinned to one exact version."""

    name: str
    """Chart name, or the full OCI reference for OCI registries."""
    version: str
    """Exact chart version; never a range, so a preview shows every platform upgrade."""
    repository: str = ""
    """Classic chart repository URL; empty for OCI charts."""


# ingress-nginx is retired upstream (no releases or security fixes after March 2026): 4.15.1 / controller
# v1.15.1 is the last. Routing sits behind one component (IngressController) so it can be replaced.
INGRESS_NGINX_CHART = ChartRef(
    name="ingress-nginx", version="4.15.1", repository="https://kubernetes.github.io/ingress-nginx"
)
CERT_MANAGER_CHART = ChartRef(name="oci://quay.io/jetstack/charts/cert-manager", version="v1.21.1")
# metrics-server chart 3.13.0 (app v0.8.0), tag metrics-server-helm-chart-3.13.0 of kubernetes-sigs/metrics-server,
# released 2025-07-22; still the newest chart in May 2026 (v0.8.1 shipped as an image only). Serves the
# metrics.k8s.io API that the app's HorizontalPodAutoscaler reads CPU utilisation from.
METRICS_SERVER_CHART = ChartRef(
    name="metrics-server", version="3.13.0", repository="https://kubernetes-sigs.github.io/metrics-server/"
)

LETS_ENCRYPT_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
"""ACME directories by name; staging issues untrusted certificates but has generous rate limits."""


def issuer_name(acme_server: str) -> str:
    """Name of the ClusterIssuer that signs through the named Let's Encrypt server."""
    return f"letsencrypt-{acme_server}"


@dataclass(frozen=True, kw_only=True)
class LoadBalancerDrain:
    """How an ingress controller pod leaves the AWS NLB before nginx stops accepting connections.

    The NLB sends to nodes (instance targets, externalTrafficPolicy Local). When a controller pod
    terminates, kube-proxy's health-check port on its node starts failing, but the NLB notices only
    after `health_check_interval × unhealthy_threshold`; until then it keeps opening connections to
    that node, which kube-proxy still hands to the terminating pod. So nginx must keep accepting for
    longer than that (`shutdown_grace`), then drain open requests, all inside the pod's grace period.
    The NLB's own target deregistration delay (300 s) applies only when a node leaves the target
    group (node replaced), after it has been drained of controller pods.

    Still open (README "Draining the NLB", for the load balancer's redesign): the controller's /healthz,
    its readiness probe, fails from SIGTERM on, so the pod turns unready — and kube-proxy stops handing
    it connections — 20–30 s in, about when the NLB stops sending; and an NLB resets the open
    connections of a target it marks unhealthy, which the in-tree controller cannot turn off.
    """

    health_check_interval: int = 10
    """Seconds between NLB health checks of a node."""
    unhealthy_threshold: int = 2
    """Failed health checks before the NLB stops sending new connections to a node."""
    healthy_threshold: int = 2
    """Passed health checks before a (new) node receives traffic."""
    propagation_margin: int = 10
    """Slack for the NLB to apply the health verdict across its nodes."""
    drain: int = 30
    """Seconds nginx may take to finish open requests after it stops accepting (`worker-shutdown-timeout`)."""
    exit_margin: int = 20
    """Slack between the controller's own exit and the kubelet's SIGKILL."""

    @property
    def detection(self) -> int:
        """Seconds until the NLB stops sending new connections to a node without a ready controller."""
        return self.health_check_interval * self.unhealthy_threshold

    @property
    def shutdown_grace(self) -> int:
        """Controller `--shutdown-grace-period`: keep accepting until the NLB has looked away."""
        # 30 s = detection 10 s × 2 + margin 10 s (defaults)
        return self.detection + self.propagation_margin

    @property
    def termination_grace(self) -> int:
        """Controller pod's terminationGracePeriodSeconds: keep accepting, then drain, then exit."""
        # 90 s = shutdown_grace 30 s + drain 30 s + post-shutdown wait 10 s + exit margin 20 s (defaults)
        return self.shutdown_grace + self.drain + POST_SHUTDOWN_GRACE + self.exit_margin


POST_SHUTDOWN_GRACE = 10
"""ingress-nginx's own wait after nginx stopped (`--post-shutdown-grace-period`, default 10 s).

kubernetes/ingress-nginx controller-v1.15.1 pkg/flags/flags.go; the controller waits for it after
`Stop()` (internal/ingress/controller/nginx.go) has slept `--shutdown-grace-period` and nginx has quit.
"""
NLB_DRAIN = LoadBalancerDrain()
CONTROLLER_LABELS = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/instance": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}
"""Labels of the controller pods, as the chart sets them for a release named `ingress-nginx`.

helm-chart-4.15.1 templates/_helpers.tpl `ingress-nginx.selectorLabels` plus the component label of
templates/controller-deployment.yaml; tests/charts checks the rendered pods carry them.
"""


def ingress_nginx_values(
    *,
    replicas: int,
    ingress_class: str,
    tuning: IngressTuning = INGRESS_TUNING,
    drain: LoadBalancerDrain = NLB_DRAIN,
) -> dict[str, Any]:
    """Values for the ingress-nginx chart: an NLB in front, ≥ 2 spread replicas, the shared tuning.

    Every key is in kubernetes/ingress-nginx helm-chart-4.15.1 charts/ingress-nginx/values.yaml under
    `controller`; tests/charts renders the chart with them (CI job "charts").
    """
    nlb = "service.beta.kubernetes.io/aws-load-balancer-"
    return {
        "controller": {
            "replicaCount": replicas,
            # templates/controller-poddisruptionbudget.yaml renders the PDB only when replicaCount > 1:
            # node drains keep one serving.
            "minAvailable": 1,
            # Retry and keep-alive values shared with the local nginx (app/contract/ingress.py), plus how long
            # nginx may drain. templates/controller-configmap.yaml copies each key into the controller's ConfigMap;
            # the keys are the controller's (controller-v1.15.1 internal/ingress/defaults/main.go and
            # internal/ingress/controller/config/config.go). worker-shutdown-timeout defaults to 240 s there,
            # longer than the pod's grace period: without it nginx would be killed mid-drain, not finish it.
            # It also bounds how long old workers keep open connections after a configuration reload.
            "config": {**tuning.controller_config(), "worker-shutdown-timeout": f"{drain.drain}s"},
            "ingressClassResource": {"name": ingress_class, "enabled": True, "default": False},
            "ingressClass": ingress_class,  # templates/_params.tpl: --ingress-class
            # templates/_params.tpl renders each entry as --key=value (controller-v1.15.1 pkg/flags/flags.go).
            "extraArgs": {"shutdown-grace-period": str(drain.shutdown_grace)},
            "terminationGracePeriodSeconds": drain.termination_grace,  # the chart's default is 300
            # Never both replicas on one node, and spread over zones when nodes allow it. Preferred,
            # not required: a required rule blocks the controller's own surge when replicas == nodes.
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": CONTROLLER_LABELS},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": CONTROLLER_LABELS},
                }
            ],
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "metrics": {"enabled": True},  # --enable-metrics and the ingress-nginx-controller-metrics Service
            "service": {
                "type": "LoadBalancer",
                # Local: the client's address reaches nginx, and the NLB health check follows where
                # controller pods actually run (see LoadBalancerDrain).
                "externalTrafficPolicy": "Local",
                # Only annotations the in-tree controller reads (kubernetes/cloud-provider-aws v1.35.2, EKS 1.35's
                # line, pkg/providers/v1/aws.go ServiceAnnotation*). Its NLB is internet-facing unless
                # `aws-load-balancer-internal` is set (aws_loadbalancer.go ensureLoadBalancerv2); `…-scheme` and
                # the other AWS Load Balancer Controller annotations are ignored by it, so none is written here.
                "annotations": {
                    f"{nlb}type": "nlb",  # isNLB: an NLB with instance targets, not a Classic ELB
                    # reconcileLBAttributes: load_balancing.cross_zone.enabled (false unless set)
                    f"{nlb}cross-zone-load-balancing-enabled": "true",
                    # buildNLBHealthCheckConfiguration: with externalTrafficPolicy Local the check is HTTP on the
                    # Service's healthCheckNodePort, 10 s / 2 / 2 unless these annotations say otherwise.
                    f"{nlb}healthcheck-interval": str(drain.health_check_interval),
                    f"{nlb}healthcheck-unhealthy-threshold": str(drain.unhealthy_threshold),
                    f"{nlb}healthcheck-healthy-threshold": str(drain.healthy_threshold),
                },
            },
        },
    }


def cert_manager_values() -> dict[str, Any]:
    """Values for the cert-manager chart: CRDs managed by the chart, two replicas of each part.

    Keys from cert-manager/cert-manager v1.21.1 deploy/charts/cert-manager/values.yaml; its values.schema.json
    accepts them. `podDisruptionBudget.minAvailable` is documented there only as a comment: templates/
    poddisruptionbudget.yaml reads it with `hasKey` (and defaults to minAvailable 1 without it).
    """
    spread = {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}, "replicaCount": 2}
    return {
        # keep: uninstalling the chart must not delete the CRDs, which would delete every Certificate.
        "crds": {"enabled": True, "keep": True},
        **spread,
        "webhook": dict(spread),
        "cainjector": dict(spread),
        "prometheus": {"enabled": True},  # the chart's default: metrics port and scrape annotations
    }


def cluster_issuer(*, acme_server: str, email: str, ingress_class: str) -> dict[str, Any]:
    """A cert-manager ClusterIssuer for Let's Encrypt answering HTTP-01 challenges through the ingress."""
    name = issuer_name(acme_server)
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {
            "acme": {
                "server": LETS_ENCRYPT_SERVERS[acme_server],
                "email": email,
                "privateKeySecretRef": {"name": f"{name}-account-key"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
            }
        },
    }


METRICS_SERVER_LABELS = {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"}
"""Labels of the metrics-server pods, as the chart sets them for a release named `metrics-server`.

metrics-server-helm-chart-3.13.0 templates/_helpers.tpl `metrics-server.selectorLabels`.
"""


def metrics_server_values(*, replicas: int) -> dict[str, Any]:
    """Values for the metrics-server chart: ≥ 2 replicas on different nodes, a PDB, requests sized for ~100 nodes.

    Keys from kubernetes-sigs/metrics-server metrics-server-helm-chart-3.13.0 charts/metrics-server/values.yaml;
    templates/deployment.yaml hands updateStrategy, affinity and resources over whole, templates/pdb.yaml
    reads the budget's three keys.
    """
    return {
        # Two or more, so the HPA keeps getting metrics while one pod is replaced or its node drained;
        # while none answers, the metrics.k8s.io API is down and every HPA stops scaling.
        "replicas": replicas,
        # minAvailable 1: a drain never evicts the last one. AlwaysAllow: a crash-looping pod never blocks a drain.
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        # Preferred, not required: a required rule would block the rollout's surge pod when replicas == nodes.
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": METRICS_SERVER_LABELS},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        # The chart's defaults (upstream's sizing for up to ~100 nodes), written out so a preview shows a change,
        # plus a memory limit: metrics-server's memory grows with pods and nodes, never with traffic.
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "400Mi"}},
    }
