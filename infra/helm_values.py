"""Helm charts and values for the cluster's platform: ingress-nginx, cert-manager, metrics-server, as plain data.

No Pulumi import: infra/platform.py hands these dicts to `helm.v3.Release`, and tests read them
directly. The ingress's retry and keep-alive values come from app/contract/ingress.py — the local
nginx uses the same ones — so they are never written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.contract.disruption import drain_budget, node_anti_affinity, spread_constraints
from app.contract.ingress import INGRESS_TUNING, IngressTuning
from app.contract.routers.ingress_nginx import controller_config
from infra.ingress_timing import INGRESS_TIMING, IngressTiming, whole_seconds


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

# kubernetes-sigs/aws-load-balancer-controller v3.5.0 (2026-08-03), helm/aws-load-balancer-controller/Chart.yaml
# version 3.5.0; published to AWS's eks-charts repository (the chart's `home`).
LOAD_BALANCER_CONTROLLER_CHART = ChartRef(
    name="aws-load-balancer-controller", version="3.5.0", repository="https://aws.github.io/eks-charts"
)

LETS_ENCRYPT_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
"""ACME directories by name; staging issues untrusted certificates but has generous rate limits."""


def issuer_name(acme_server: str) -> str:
    """Name of the ClusterIssuer that signs through the named Let's Encrypt server."""
    return f"letsencrypt-{acme_server}"


CONTROLLER_LABELS = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/instance": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}
"""Labels of the controller pods, as the chart sets them for a release named `ingress-nginx`.

helm-chart-4.15.1 templates/_helpers.tpl `ingress-nginx.selectorLabels` plus the component label of
templates/controller-deployment.yaml; tests/charts checks the rendered pods carry them.
"""


NLB_LOAD_BALANCER_CLASS = "service.k8s.aws/nlb"
"""`spec.loadBalancerClass` the AWS Load Balancer Controller serves (v3.5.0 docs/guide/service/nlb.md); the in-tree
controller leaves a Service with any class alone, so exactly one controller owns the NLB."""
READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
"""Namespace label that makes the Load Balancer Controller's webhook give each new pod a target-health readiness
gate (v3.5.0 docs/deploy/pod_readiness_gate.md; templates/webhook.yaml `mpod.elbv2.k8s.aws` namespaceSelector)."""
CONTROLLER_HEALTH_PORT = 10254
"""The controller's /healthz port (controller-v1.15.1 pkg/flags/flags.go --healthz-port; the chart's probes use it)."""


def target_group_attributes(timing: IngressTiming) -> dict[str, str]:
    """The NLB target group's attributes, each chosen for the termination sequence in infra/ingress_timing.py.

    Keys and ranges from the ELBv2 API (botocore 1.44.8 data/elbv2 TargetGroupAttribute); the Load Balancer
    Controller passes them through (v3.5.0 docs/guide/service/annotations.md "target-group-attributes").
    """
    return {
        # The NLB's default is 300 s: a target would linger long after nginx exited. Ours ends just after
        # nginx has finished its last request (IngressTiming.problems asserts ≥).
        "deregistration_delay.timeout_seconds": str(whole_seconds(timing.deregistration_delay, "deregistration_delay")),
        # At the delay's end, reset what is left (default false): a client holding an idle connection to a pod
        # that is gone gets a reset it can retry on, not a silent timeout.
        "deregistration_delay.connection_termination.enabled": "true",
        # IP targets over TCP default to the NLB's own address as source; nginx logs, rate limits and the app's
        # X-Forwarded-For need the client's. Pods have their own VPC addresses, so no hairpin to the same IP.
        "preserve_client_ip.enabled": "true",
        # Default true: the NLB resets a target's connections the moment it turns unhealthy. /healthz fails from
        # the controller's SIGTERM on, while nginx still finishes requests: keep them for its drain instead.
        "target_health_state.unhealthy.connection_termination.enabled": "false",
        "target_health_state.unhealthy.draining_interval_seconds": str(
            whole_seconds(timing.unhealthy_draining_interval, "unhealthy_draining_interval")
        ),
    }


def nlb_service_annotations(timing: IngressTiming) -> dict[str, str]:
    """Annotations for ingress-nginx's Service as the AWS Load Balancer Controller reads them.

    kubernetes-sigs/aws-load-balancer-controller v3.5.0 docs/guide/service/annotations.md; each is listed
    in its table, and the chart renders each one verbatim (ingress-nginx helm-chart-4.15.1
    templates/controller-service.yaml).
    """
    nlb = "service.beta.kubernetes.io/aws-load-balancer-"
    attributes = target_group_attributes(timing)
    return {
        # With loadBalancerClass the controller defaults to instance targets: ask for the pods themselves.
        f"{nlb}nlb-target-type": "ip",
        f"{nlb}scheme": "internet-facing",  # the controller's default is internal
        f"{nlb}attributes": "load_balancing.cross_zone.enabled=true",  # one pod per zone still gets all zones
        # Health checks on the controller's own /healthz (not the traffic port): it fails when nginx is down
        # and from the controller's SIGTERM on — which the preStop delays until the NLB has looked away.
        f"{nlb}healthcheck-protocol": "http",
        f"{nlb}healthcheck-port": str(CONTROLLER_HEALTH_PORT),
        f"{nlb}healthcheck-path": "/healthz",
        f"{nlb}healthcheck-interval": str(whole_seconds(timing.health_check_interval, "health_check_interval")),
        f"{nlb}healthcheck-timeout": str(whole_seconds(timing.health_check_timeout, "health_check_timeout")),
        f"{nlb}healthcheck-healthy-threshold": str(timing.healthy_threshold),
        f"{nlb}healthcheck-unhealthy-threshold": str(timing.unhealthy_threshold),
        f"{nlb}target-group-attributes": ",".join(f"{key}={value}" for key, value in attributes.items()),
    }


def ingress_nginx_values(
    *,
    replicas: int,
    ingress_class: str,
    tuning: IngressTuning = INGRESS_TUNING,
    timing: IngressTiming = INGRESS_TIMING,
) -> dict[str, Any]:
    """Values for the ingress-nginx chart: an NLB with IP targets in front, ≥ 2 spread replicas, the shared tuning.

    Every key is in kubernetes/ingress-nginx helm-chart-4.15.1 charts/ingress-nginx/values.yaml under
    `controller`; tests/charts renders the chart with them (CI job "charts"). The termination numbers come
    from infra/ingress_timing.py; a value AWS or Kubernetes would refuse stops here, naming the field.
    """
    problems = timing.aws_problems()
    if problems:
        raise ValueError("ingress timing is unsound: " + "; ".join(problems))
    return {
        "controller": {
            "replicaCount": replicas,
            # templates/controller-poddisruptionbudget.yaml renders the PDB only when replicaCount > 1, with
            # maxUnavailable in place of the chart's minAvailable 1 once the key is set (`hasKey`), and
            # unhealthyPodEvictionPolicy when set: a drain takes one controller at a time, whatever the replicas
            # (minAvailable 1 would let two of three go at once), and never waits on one that is not Ready.
            **drain_budget(),
            # Retry and keep-alive values shared with the local nginx (app/contract/ingress.py), plus how long
            # nginx may drain. templates/controller-configmap.yaml copies each key into the controller's ConfigMap;
            # the keys are the controller's (controller-v1.15.1 internal/ingress/defaults/main.go and
            # internal/ingress/controller/config/config.go). worker-shutdown-timeout defaults to 240 s there,
            # longer than the pod's grace period: without it nginx would be killed mid-drain, not finish it.
            # It also bounds how long old workers keep open connections after a configuration reload.
            "config": {
                **controller_config(tuning),
                "worker-shutdown-timeout": f"{whole_seconds(timing.drain, 'drain')}s",
            },
            "ingressClassResource": {"name": ingress_class, "enabled": True, "default": False},
            "ingressClass": ingress_class,  # templates/_params.tpl: --ingress-class
            # The controller's stop, controller-v1.15.1: SIGTERM → cmd/nginx/main.go → pkg/util/process HandleSigterm
            # → Stop() (internal/ingress/controller/nginx.go) sets isShuttingDown — /healthz answers 503 from then on
            # (checker.go Check) — sleeps --shutdown-grace-period, runs `nginx -s quit` (nginx finishes open requests
            # within worker-shutdown-timeout) and waits for nginx to exit; then HandleSigterm sleeps
            # --post-shutdown-grace-period and exits. The chart's preStop, /wait-shutdown (cmd/waitshutdown), sends
            # that SIGTERM at once, so /healthz failed while the NLB still sent new connections. Our preStop sleeps
            # first, for as long as the NLB may still send (IngressTiming.pre_stop), then runs /wait-shutdown: by
            # SIGTERM the NLB has looked away.
            # Still through the chart's handler: Helm merges our map into the chart's, so a `sleep` handler would
            # sit beside its `exec` and the API server refuses two (found by rendering, tests/charts). The image is
            # Alpine (images/nginx/rootfs/Dockerfile, alpine 3.23.3): busybox sh and sleep are there.
            "lifecycle": {
                "preStop": {
                    "exec": {
                        "command": [
                            "/bin/sh",
                            "-c",
                            f"sleep {whole_seconds(timing.pre_stop, 'pre_stop')} && exec /wait-shutdown",
                        ]
                    }
                }
            },
            # templates/_params.tpl renders each entry as --key=value (controller-v1.15.1 pkg/flags/flags.go).
            "extraArgs": {
                "shutdown-grace-period": str(whole_seconds(timing.shutdown_grace, "shutdown_grace")),
                "post-shutdown-grace-period": str(whole_seconds(timing.post_shutdown_grace, "post_shutdown_grace")),
            },
            # preStop counts against it (the chart's default is 300).
            "terminationGracePeriodSeconds": whole_seconds(timing.termination_grace, "termination_grace"),
            # Never two on one node while another node is free, and spread over zones and nodes. Preferred,
            # not required: a required rule blocks the controller's own surge when replicas == nodes.
            "affinity": node_anti_affinity(CONTROLLER_LABELS),
            "topologySpreadConstraints": spread_constraints(CONTROLLER_LABELS),
            # Surge one: with the namespace's readiness gate the new pod is Ready only once its NLB target is
            # healthy, so an old pod is taken away only after its successor takes traffic.
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            # --enable-metrics and the ingress-nginx-controller-metrics Service, scraped through the chart's
            # ServiceMonitor (templates/controller-servicemonitor.yaml), labelled for our Prometheus. honorLabels:
            # the controller's own `namespace`/`ingress`/`service` labels name the app's Ingress; without it
            # Prometheus overwrites `namespace` with the controller's and keeps the app's as `exported_namespace`,
            # and app/slo.py's availability query (by the app's namespace) would find nothing.
            "metrics": {
                "enabled": True,
                "serviceMonitor": {"enabled": True, "honorLabels": True, "additionalLabels": MONITORING_SELECTOR},
            },
            "service": {
                "type": "LoadBalancer",
                "loadBalancerClass": NLB_LOAD_BALANCER_CLASS,
                # IP targets: the NLB reaches the pods directly, so no node port is needed (the controller needs
                # them only for instance targets, annotations.md "nlb-target-type"), and kube-proxy is not in
                # the path — Cluster keeps Kubernetes from allocating a health-check node port nobody reads.
                "allocateLoadBalancerNodePorts": False,
                "externalTrafficPolicy": "Cluster",
                "annotations": nlb_service_annotations(timing),
            },
        },
    }


CERT_MANAGER_REPLICAS = 2
"""Pods of each cert-manager part. The webhook is on the admission path of every cert-manager object (its
ValidatingWebhookConfiguration, failurePolicy Fail): with one pod, a drain of its node would refuse every
Certificate and Challenge until it is back. The controller and cainjector elect a leader; a second pod takes over."""
CERT_MANAGER_LABELS = {
    part: {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": part,
    }
    for part, name in (("controller", "cert-manager"), ("webhook", "webhook"), ("cainjector", "cainjector"))
}
"""Pod labels of each part for a release named `cert-manager` (v1.21.1 templates/deployment.yaml,
webhook-deployment.yaml, cainjector-deployment.yaml; `cert-manager.name`, `webhook.name`, `cainjector.name` in
templates/_helpers.tpl)."""


def cert_manager_values(*, gateway_api: bool = False) -> dict[str, Any]:
    """Values for the cert-manager chart: CRDs managed by the chart, two spread replicas of each part, each budgeted.

    Keys from cert-manager/cert-manager v1.21.1 deploy/charts/cert-manager/values.yaml; its values.schema.json
    accepts them. `podDisruptionBudget.maxUnavailable` and `.unhealthyPodEvictionPolicy` are documented there only
    as comments: templates/poddisruptionbudget.yaml (and the webhook's and cainjector's) read them with `hasKey` /
    `with`, and fall back to minAvailable 1 without either count.
    """

    def part(labels: dict[str, str]) -> dict[str, Any]:
        return {
            "replicaCount": CERT_MANAGER_REPLICAS,
            "podDisruptionBudget": {"enabled": True, **drain_budget()},
            "topologySpreadConstraints": spread_constraints(labels),  # the chart sets none (values.yaml: [])
        }

    return {
        # keep: uninstalling the chart must not delete the CRDs, which would delete every Certificate.
        "crds": {"enabled": True, "keep": True},
        **part(CERT_MANAGER_LABELS["controller"]),
        "webhook": part(CERT_MANAGER_LABELS["webhook"]),
        "cainjector": part(CERT_MANAGER_LABELS["cainjector"]),
        "prometheus": {"enabled": True},  # the chart's default: metrics port and scrape annotations
        # gateway-api: the gateway-shim keeps a Certificate for each annotated Gateway's HTTPS listener, and
        # HTTP-01 solvers may create HTTPRoutes. v1.21.1 pkg/apis/config/controller/v1alpha1/types.go
        # `gatewayAPI.enabled` (the older `enableGatewayAPI` is deprecated there); values.yaml documents it under
        # `config`, whose schema is an open object; ExperimentalGatewayAPISupport is on by default since v1.15.
        **({"config": GATEWAY_API_CONTROLLER_CONFIG} if gateway_api else {}),
    }


GATEWAY_API_CONTROLLER_CONFIG = {
    "apiVersion": "controller.config.cert-manager.io/v1alpha1",
    "kind": "ControllerConfiguration",
    "gatewayAPI": {"enabled": True},
}
"""cert-manager's controller configuration with its Gateway API support on (rendered into the chart's ConfigMap)."""


def cluster_issuer(
    *, acme_server: str, email: str, ingress_class: str, gateway_listener: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A cert-manager ClusterIssuer for Let's Encrypt answering HTTP-01 challenges through the ingress.

    With `gateway_listener` (a Gateway API parentRef), the challenge is answered by an HTTPRoute cert-manager
    attaches to that listener instead (v1.21.1 pkg/apis/acme/v1/types_issuer.go `gatewayHTTPRoute.parentRefs`).
    """
    name = issuer_name(acme_server)
    solver = (
        {"gatewayHTTPRoute": {"parentRefs": [dict(gateway_listener)]}}
        if gateway_listener is not None
        else {"ingress": {"ingressClassName": ingress_class}}
    )
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {
            "acme": {
                "server": LETS_ENCRYPT_SERVERS[acme_server],
                "email": email,
                "privateKeySecretRef": {"name": f"{name}-account-key"},
                "solvers": [{"http01": solver}],
            }
        },
    }


METRICS_SERVER_LABELS = {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"}
"""Labels of the metrics-server pods, as the chart sets them for a release named `metrics-server`.

metrics-server-helm-chart-3.13.0 templates/_helpers.tpl `metrics-server.selectorLabels`.
"""


def metrics_server_values(*, replicas: int) -> dict[str, Any]:
    """Values for the metrics-server chart: ≥ 2 replicas spread over nodes and zones, a PDB, requests for ~100 nodes.

    Keys from kubernetes-sigs/metrics-server metrics-server-helm-chart-3.13.0 charts/metrics-server/values.yaml;
    templates/deployment.yaml hands updateStrategy, affinity, topologySpreadConstraints and resources over whole,
    templates/pdb.yaml reads the budget's three keys.
    """
    return {
        # Two or more, so the HPA keeps getting metrics while one pod is replaced or its node drained;
        # while none answers, the metrics.k8s.io API is down and every HPA stops scaling.
        "replicas": replicas,
        # One at a time, whatever the replicas; AlwaysAllow: a crash-looping pod never blocks a drain.
        "podDisruptionBudget": {"enabled": True, **drain_budget()},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        # Preferred, not required: a required rule would block the rollout's surge pod when replicas == nodes.
        "affinity": node_anti_affinity(METRICS_SERVER_LABELS),
        "topologySpreadConstraints": spread_constraints(METRICS_SERVER_LABELS),
        # The chart's defaults (upstream's sizing for up to ~100 nodes), written out so a preview shows a change,
        # plus a memory limit: metrics-server's memory grows with pods and nodes, never with traffic.
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "400Mi"}},
    }


LOAD_BALANCER_CONTROLLER_REPLICAS = 2
"""Controller pods: one leader, and every pod serves the readiness-gate webhook, which is on the creation path of
every pod in the ingress controller's namespace (failurePolicy Fail): with one pod, a drain of its node would stop
new ingress pods from being created until it is back."""
LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
"""The controller's ServiceAccount; its IAM role trusts exactly this one (IRSA)."""
LOAD_BALANCER_CONTROLLER_LABELS = {
    "app.kubernetes.io/name": "aws-load-balancer-controller",
    "app.kubernetes.io/instance": "aws-load-balancer-controller",
}
"""Labels of the controller pods for a release named `aws-load-balancer-controller` (v3.5.0 templates/_helpers.tpl
`aws-load-balancer-controller.selectorLabels`)."""


def load_balancer_controller_values(
    *, cluster_name: Any, region: str, vpc_id: Any, role_arn: Any, replicas: int
) -> dict[str, Any]:
    """Values for the AWS Load Balancer Controller chart: NLBs for Services only, ≥ 2 replicas behind a PDB.

    Keys from kubernetes-sigs/aws-load-balancer-controller v3.5.0 helm/aws-load-balancer-controller/values.yaml;
    templates/deployment.yaml renders clusterName, region, vpcId and the enable* switches as flags.
    """
    return {
        "clusterName": cluster_name,  # the `elbv2.k8s.aws/cluster` tag value its IAM policy is scoped to
        # Pods cannot reach the instance metadata service (the nodes' hop limit is 1), where the controller
        # would otherwise look both up.
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": replicas,
        # templates/pdb.yaml renders it only when replicaCount > 1, as the spec's body: a drain takes one pod at a
        # time, so one leader candidate and one webhook server always stay.
        "podDisruptionBudget": drain_budget(),
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        # configureDefaultAffinity (default true) already prefers other nodes; spread over zones and nodes as well.
        # The webhook's objectSelector leaves the controller's own pods alone (templates/webhook.yaml, `NotIn`
        # aws-load-balancer-controller), so a replacement controller pod never waits for the webhook it serves.
        "topologySpreadConstraints": spread_constraints(LOAD_BALANCER_CONTROLLER_LABELS),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "serviceAccount": {
            "create": True,
            "name": LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},  # IRSA
        },
        # Only NLBs for Services: no ALB IngressClass, no WAF or Shield calls (the IAM policy grants none).
        "createIngressClassResource": False,
        "ingressClassParams": {"create": False},
        "enableShield": False,
        "enableWaf": False,
        "enableWafv2": False,
        # The Service we hand it names its class itself; a mutating webhook on every Service create in the
        # cluster (failurePolicy Fail) would only add a way for the controller's outage to block other releases.
        "enableServiceMutatorWebhook": False,
        # The readiness-gate webhook, for labelled namespaces only: Fail, so a controller pod is never created
        # without its gate (it would turn Ready before its target is healthy) — better to wait for the webhook.
        "podMutatorWebhookConfig": {"failurePolicy": "Fail"},
        # templates/_helpers.tpl webhookCerts: without this, every upgrade generates a new CA and certificate.
        "keepTLSSecret": True,
    }


# prometheus-community/helm-charts tag kube-prometheus-stack-88.5.3 (2026-08-21), charts/kube-prometheus-stack:
# prometheus-operator v0.93.1 (appVersion) with its CRDs, kube-state-metrics 8.4.0 and grafana 12.11.1 as
# subcharts (Chart.yaml dependencies; grafana from grafana-community/helm-charts).
KUBE_PROMETHEUS_STACK_CHART = ChartRef(
    name="kube-prometheus-stack", version="88.5.3", repository="https://prometheus-community.github.io/helm-charts"
)
MONITORING_RELEASE = "kube-prometheus-stack"
"""The release name. It contains the chart's name, so it is the chart's `fullname` as it stands (templates/_helpers.tpl
`kube-prometheus-stack.fullname`), which fixes the Prometheus and Alertmanager object names below."""
MONITORING_SELECTOR = {"release": MONITORING_RELEASE}
"""The label Prometheus selects its PodMonitors, ServiceMonitors and PrometheusRules by: with the chart's
`*SelectorNilUsesHelmValues: true` defaults, templates/prometheus/prometheus.yaml renders each selector as
`matchLabels: {release: <release name>}`. Every monitor and rule object we add carries it."""
PROMETHEUS_SERVICE = f"{MONITORING_RELEASE}-prometheus"
"""The Prometheus Service (templates/prometheus/service.yaml `<fullname>-prometheus`) the canary driver queries."""
PROMETHEUS_PORT = 9090
"""Its port (values.yaml prometheus.service.port)."""
PROMETHEUS_PORT_NAME = "http-web"
"""Its port's name (values.yaml prometheus.prometheusSpec.portName; templates/prometheus/service.yaml)."""
PROMETHEUS_LABELS = {
    "app.kubernetes.io/name": "prometheus",
    "operator.prometheus.io/name": f"{MONITORING_RELEASE}-prometheus",
}
"""Labels of the Prometheus pods (the selector of templates/prometheus/podDisruptionBudget.yaml; the operator
sets them on the StatefulSet's pods, the CR being named `<fullname>-prometheus`)."""
ALERTMANAGER_LABELS = {"app.kubernetes.io/name": "alertmanager", "alertmanager": f"{MONITORING_RELEASE}-alertmanager"}
"""Labels of the Alertmanager pods (the selector of templates/alertmanager/podDisruptionBudget.yaml)."""
GRAFANA_DASHBOARD_LABEL = {"grafana_dashboard": "1"}
"""The label Grafana's dashboard sidecar loads ConfigMaps by (values.yaml grafana.sidecar.dashboards.label and
.labelValue; searchNamespace ALL)."""
MONITORING_REPLICAS = 2
"""Prometheus and Alertmanager pods. Two Prometheus replicas scrape the same targets, so a drained node never
leaves a gap in the alerts' windows; two Alertmanagers form a cluster and deduplicate what both Prometheus send.
The operator, kube-state-metrics and Grafana stay single: none is on the alerting path for longer than a restart."""
PROMETHEUS_RETENTION = "30d"
"""How long Prometheus keeps samples: the objectives' compliance period (app/slo.py Profile.period), which the
budget-left rule reads whole."""

NULL_RECEIVER = "null"
"""The chart's receiver that sends nowhere (values.yaml alertmanager.config.receivers): alerts stay in Alertmanager."""
CHAT_RECEIVER = "chat"


def alertmanager_config(*, chat_webhook_url: Any | None) -> dict[str, Any]:
    """Alertmanager's routing: every alert to the chat webhook when one is configured, else kept in Alertmanager.

    Helm merges this map into the chart's alertmanager.config (values.yaml: global, inhibit_rules, route,
    receivers, templates); lists replace the chart's. The webhook takes Slack's incoming-webhook format
    (prometheus/alertmanager config/notifiers.go SlackConfig `api_url`), which Slack, Mattermost and
    Rocket.Chat accept. The chart's Watchdog alert (always firing, a dead man's switch) stays out of the chat.
    """
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    if chat_webhook_url is not None:
        chat = {"api_url": chat_webhook_url, "send_resolved": True}
        receivers.append({"name": CHAT_RECEIVER, "slack_configs": [chat]})
    return {
        "route": {
            "receiver": CHAT_RECEIVER if chat_webhook_url is not None else NULL_RECEIVER,
            "group_by": ["namespace", "alertname"],
            "routes": [{"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']}],
        },
        "receivers": receivers,
    }


def kube_prometheus_stack_values(*, replicas: int, chat_webhook_url: Any | None) -> dict[str, Any]:
    """Values for kube-prometheus-stack: ≥ 2 budgeted, spread Prometheus and Alertmanager pods, our monitors only.

    Keys from prometheus-community/helm-charts kube-prometheus-stack-88.5.3 charts/kube-prometheus-stack/values.yaml.
    templates/{prometheus,alertmanager}/podDisruptionBudget.yaml render the budget's map as the spec (without
    `enabled`), merged over the chart's `minAvailable: 1`. A null cannot remove that key (Pulumi drops None
    inputs before Helm sees them), and a spec with both counts is refused by the API server, so the budget is
    written as minAvailable: for a fixed replica count (no autoscaler) it is the drain budget's maxUnavailable.
    """

    def budget() -> dict[str, Any]:
        rules = drain_budget()
        most_gone = rules.pop("maxUnavailable")
        return {"enabled": True, "minAvailable": replicas - most_gone, **rules}

    return {
        # EKS runs the control plane: its scheduler, controller manager and etcd are not reachable to scrape, and
        # kube-proxy's metrics listen on the node's loopback. Their monitors would only be targets down.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        # Node metrics need host networking and a privileged namespace; nothing of ours reads them (keep int cheap).
        "nodeExporter": {"enabled": False},
        "prometheus": {
            "podDisruptionBudget": budget(),
            "prometheusSpec": {
                "replicas": replicas,
                "retention": PROMETHEUS_RETENTION,
                "topologySpreadConstraints": spread_constraints(PROMETHEUS_LABELS),
                "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
            },
        },
        "alertmanager": {
            "podDisruptionBudget": budget(),
            "config": alertmanager_config(chat_webhook_url=chat_webhook_url),
            "alertmanagerSpec": {
                "replicas": replicas,
                "topologySpreadConstraints": spread_constraints(ALERTMANAGER_LABELS),
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            },
        },
    }
