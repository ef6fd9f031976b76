"""Envoy Gateway (router `gateway-api`) as plain data: its chart and values, the GatewayClass and the EnvoyProxy.

No Pulumi import: infra/platform.py `EnvoyGateway` installs these, and tests read them directly. The proxies
get the same NLB treatment as ingress-nginx (infra/helm_values.py): the AWS Load Balancer Controller's NLB with
IP targets, readiness gates through the namespace label, the target group's attributes, and a drain derived in
infra/ingress_timing.py. The Gateway itself is the app's (app/contract/routers/gateway_api.py `gateway`).
"""

from __future__ import annotations

from typing import Any

from app.contract.disruption import DRAIN_MAX_UNAVAILABLE, drain_budget, spread_constraints
from app.contract.routers.gateway_api import ENVOY_GATEWAY_GROUP, GROUP
from infra.helm_values import NLB_LOAD_BALANCER_CLASS, ChartRef, nlb_service_annotations
from infra.ingress_timing import INGRESS_TIMING, IngressTiming, whole_seconds

# envoyproxy/gateway v1.8.3 (2026-07-22): charts/gateway-helm, published as an OCI chart (charts/gateway-helm/
# README.md `helm install eg oci://docker.io/envoyproxy/gateway-helm`); its go.mod pins Gateway API v1.5.1,
# whose standard-channel CRDs the chart installs (charts/gateway-helm/charts/crds, `crds.enabled`).
ENVOY_GATEWAY_CHART = ChartRef(name="oci://docker.io/envoyproxy/gateway-helm", version="v1.8.3")
ENVOY_GATEWAY_RELEASE = "envoy-gateway"
"""Release name: fixes the controller pods' instance label (ENVOY_GATEWAY_LABELS)."""
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
"""The GatewayClass controllerName Envoy Gateway serves (v1.8.3 values.tmpl.yaml `config.envoyGateway.gateway`)."""
ENVOY_GATEWAY_REPLICAS = 2
"""Controller pods: it serves the proxies' configuration (xDS); running proxies keep theirs while it is away,
but a new proxy pod gets none until one serves, so a drain must never take both."""
ENVOY_GATEWAY_LABELS = {
    "control-plane": "envoy-gateway",
    "app.kubernetes.io/name": "gateway-helm",
    "app.kubernetes.io/instance": ENVOY_GATEWAY_RELEASE,
}
"""The controller pods' labels: v1.8.3 templates/envoy-gateway-deployment.yaml `control-plane` plus
`eg.selectorLabels` (templates/_helpers.tpl: the chart's name and the release name)."""
PROXY_SERVICE = "envoy-gateway-proxy"
"""The proxies' LoadBalancer Service, named here (EnvoyProxy `envoyService.name`) rather than hashed per Gateway,
so the program reads its NLB hostname for the DNS record."""


def proxy_labels(gateway_name: str, gateway_namespace: str) -> dict[str, str]:
    """The labels Envoy Gateway gives the proxy pods of one Gateway (our spread rules select them).

    v1.8.3 internal/infrastructure/kubernetes/proxy/resource.go `EnvoyAppLabel` plus the owning-Gateway labels of
    internal/gatewayapi/translator.go (OwningGatewayNameLabel, OwningGatewayNamespaceLabel).
    """
    return {
        "app.kubernetes.io/name": "envoy",
        "app.kubernetes.io/component": "proxy",
        "app.kubernetes.io/managed-by": "envoy-gateway",
        "gateway.envoyproxy.io/owning-gateway-name": gateway_name,
        "gateway.envoyproxy.io/owning-gateway-namespace": gateway_namespace,
    }


def envoy_gateway_values() -> dict[str, Any]:
    """Values for the gateway-helm chart: its CRDs (Gateway API included), two spread controller pods and a PDB.

    Keys from envoyproxy/gateway v1.8.3 charts/gateway-helm/values.tmpl.yaml (the release fills in the images);
    templates/envoy-gateway-poddisruptionbudget.yaml renders minAvailable / maxUnavailable only (no unhealthy
    pod eviction policy), templates/envoy-gateway-deployment.yaml copies `deployment.pod.topologySpreadConstraints`.
    """
    return {
        "crds": {"enabled": True},
        # Its default minAvailable 0 renders no PDB at all: one pod at a time instead.
        "podDisruptionBudget": {"maxUnavailable": DRAIN_MAX_UNAVAILABLE},
        "deployment": {
            "replicas": ENVOY_GATEWAY_REPLICAS,
            "pod": {"topologySpreadConstraints": spread_constraints(ENVOY_GATEWAY_LABELS)},
        },
    }


def proxy_service_annotations(timing: IngressTiming) -> dict[str, str]:
    """ingress-nginx's NLB annotations, with the health check on the traffic port over TCP.

    Envoy's own /ready (port 19003) fails from the first moment of its drain (v1.8.3 shutdown_manager.go
    `Shutdown` posts `healthcheck/fail`), while Envoy must keep taking the NLB's connections until
    `envoy_min_drain`; its listener answers until Envoy exits. `traffic-port` is each target group's own port
    (aws-load-balancer-controller v3.5.0 docs/guide/service/annotations.md "healthcheck-port").
    """
    nlb = "service.beta.kubernetes.io/aws-load-balancer-"
    annotations = nlb_service_annotations(timing)
    del annotations[f"{nlb}healthcheck-path"]  # TCP checks have no path
    return {**annotations, f"{nlb}healthcheck-protocol": "tcp", f"{nlb}healthcheck-port": "traffic-port"}


def envoy_proxy(
    *, name: str, namespace: str, replicas: int, gateway_name: str, timing: IngressTiming = INGRESS_TIMING
) -> dict[str, Any]:
    """The EnvoyProxy the GatewayClass points at: ≥ 2 spread proxies behind a PDB, the NLB Service, Envoy's drain.

    Fields from envoyproxy/gateway v1.8.3 api/v1alpha1/envoyproxy_types.go (EnvoyProxyKubernetesProvider,
    ShutdownConfig) and shared_types.go (KubernetesDeploymentSpec, KubernetesServiceSpec,
    KubernetesPodDisruptionBudgetSpec: no unhealthyPodEvictionPolicy field, so it goes in through `patch`).
    """
    if replicas < 2:
        raise ValueError(f"Envoy proxy replicas must be ≥ 2 (one serves while another drains), got {replicas}")
    problems = timing.aws_problems() + timing.envoy_problems()
    if problems:
        raise ValueError("ingress timing is unsound: " + "; ".join(problems))
    labels = proxy_labels(gateway_name, namespace)
    budget = drain_budget()
    key = "unhealthyPodEvictionPolicy"
    return {
        "apiVersion": f"{ENVOY_GATEWAY_GROUP}/v1alpha1",
        "kind": "EnvoyProxy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "provider": {
                "type": "Kubernetes",
                "kubernetes": {
                    "envoyDeployment": {
                        "replicas": replicas,
                        # Surge one: with the readiness gate the new proxy is Ready once its NLB target is healthy.
                        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                        "pod": {"topologySpreadConstraints": spread_constraints(labels)},
                    },
                    "envoyService": {
                        "name": PROXY_SERVICE,
                        "type": "LoadBalancer",
                        "loadBalancerClass": NLB_LOAD_BALANCER_CLASS,
                        "allocateLoadBalancerNodePorts": False,  # IP targets: no node ports (as ingress-nginx)
                        "externalTrafficPolicy": "Cluster",
                        "annotations": proxy_service_annotations(timing),
                    },
                    "envoyPDB": {
                        "maxUnavailable": budget["maxUnavailable"],
                        # A proxy that is not Ready never blocks a drain (app/contract/disruption.py).
                        "patch": {"type": "StrategicMerge", "value": {"spec": {key: budget[key]}}},
                    },
                },
            },
            # Envoy Gateway renders these as the preStop's --min-drain-duration / --drain-timeout in whole
            # seconds (internal/infrastructure/kubernetes/proxy/resource.go expectedShutdownPreStopCommand).
            "shutdown": {
                "minDrainDuration": f"{whole_seconds(timing.envoy_min_drain, 'envoy_min_drain')}s",
                "drainTimeout": f"{whole_seconds(timing.envoy_drain_timeout, 'envoy_drain_timeout')}s",
            },
        },
    }


def gateway_class(*, name: str, envoy_proxy_name: str, envoy_proxy_namespace: str) -> dict[str, Any]:
    """The GatewayClass the app's Gateway names, served by Envoy Gateway with our EnvoyProxy's parameters."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {
            "controllerName": CONTROLLER_NAME,
            "parametersRef": {
                "group": ENVOY_GATEWAY_GROUP,
                "kind": "EnvoyProxy",
                "name": envoy_proxy_name,
                "namespace": envoy_proxy_namespace,
            },
        },
    }
