"""What the program relies on finding in each platform chart's output, derived from the values it passes.

Each function takes a release as the program installs it and says which objects and fields must come out
of the chart. The expected values are read from `release.values` — never written here — so this stays
true when a setting changes; only the chart's naming and layout are facts of the pinned chart, each with
its source. `EXPECTED[chart name](release)` is the list for one release.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.chart_check import DrainSafe, Expected, Named, Release, present
from infra.helm_values import LOAD_BALANCER_CONTROLLER_LABELS

POD = ("spec", "template", "spec")
POD_LABELS = ("spec", "template", "metadata", "labels")


def fullname(release: Release) -> str:
    """The chart's base object name: the release name when it contains the chart's name, else both joined.

    The same rule in kubernetes/ingress-nginx helm-chart-4.15.1, cert-manager/cert-manager v1.21.1 and
    kubernetes-sigs/metrics-server metrics-server-helm-chart-3.13.0 (`<chart>.fullname` in templates/_helpers.tpl).
    """
    chart = release.chart_name
    return release.name if chart in release.name else f"{release.name}-{chart}"


def without_nulls(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the rendered object has them: Helm deletes a chart default that the values set to null."""
    return {k: without_nulls(v) if isinstance(v, Mapping) else v for k, v in values.items() if v is not None}


BUDGET_KEYS = ("minAvailable", "maxUnavailable", "unhealthyPodEvictionPolicy")
"""The fields of a PodDisruptionBudget's spec that the charts copy from values of the same name."""


def budget(kind_name: str, values: Mapping[str, Any]) -> list[Expected]:
    """The rendered PodDisruptionBudget carries each budget field the values set, under the same name."""
    return [
        Expected("PodDisruptionBudget", kind_name, ("spec", key), values[key]) for key in BUDGET_KEYS if key in values
    ]


def _selected_labels(pod_values: Mapping[str, Any]) -> dict[str, str]:
    """Every label our anti-affinity and spread rules select: the chart's pods must carry all of them."""
    labels: dict[str, str] = {}
    anti = pod_values.get("affinity", {}).get("podAntiAffinity", {})
    for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution", []):
        labels.update(term["podAffinityTerm"]["labelSelector"]["matchLabels"])
    for constraint in pod_values.get("topologySpreadConstraints", []):
        labels.update(constraint["labelSelector"]["matchLabels"])
    return labels


def ingress_nginx(release: Release) -> list[Expected | DrainSafe]:
    """Controller replicas, our ConfigMap keys and controller args, the grace period, PDB, spread, the Service."""
    controller = release.values["controller"]
    service = controller["service"]
    # helm-chart-4.15.1 templates/_helpers.tpl `ingress-nginx.controller.fullname`: "<fullname>-controller",
    # the Deployment's, ConfigMap's, PDB's and Service's name; its container is named "controller".
    name = f"{fullname(release)}-controller"
    container = (*POD, "containers", Named("controller"))
    # controller-deployment.yaml renders each extraArgs entry as `--key=value`; ingressClass as --ingress-class.
    args = [f"--{key}={value}" for key, value in controller["extraArgs"].items()]
    args.append(f"--ingress-class={controller['ingressClass']}")
    if controller["metrics"]["enabled"]:
        args.append("--enable-metrics=true")
    expected: list[Expected | DrainSafe] = [
        Expected("Deployment", name, ("spec", "replicas"), controller["replicaCount"]),
        Expected("Deployment", name, ("spec", "strategy"), controller["updateStrategy"]),
        Expected(
            "Deployment", name, (*POD, "terminationGracePeriodSeconds"), controller["terminationGracePeriodSeconds"]
        ),
        Expected("Deployment", name, (*POD, "affinity"), controller["affinity"]),
        Expected("Deployment", name, (*POD, "topologySpreadConstraints"), controller["topologySpreadConstraints"]),
        Expected("Deployment", name, POD_LABELS, _selected_labels(controller), contains=True),
        Expected("Deployment", name, (*container, "args"), args, contains=True),
        Expected("Deployment", name, (*container, "resources"), controller["resources"]),
        # Our preStop replaces the chart's /wait-shutdown (templates/controller-deployment.yaml `lifecycle`).
        Expected("Deployment", name, (*container, "lifecycle"), without_nulls(controller["lifecycle"])),
        Expected("ConfigMap", name, ("data",), controller["config"], contains=True),
        *budget(name, controller),
        DrainSafe(name, "ingress-nginx controller"),
        Expected(
            "PodDisruptionBudget",
            name,
            ("spec", "selector", "matchLabels"),
            _selected_labels(controller),
            contains=True,
        ),
        Expected("Service", name, ("spec", "type"), service["type"]),
        Expected("Service", name, ("spec", "externalTrafficPolicy"), service["externalTrafficPolicy"]),
        Expected("Service", name, ("spec", "loadBalancerClass"), service["loadBalancerClass"]),
        Expected("Service", name, ("spec", "allocateLoadBalancerNodePorts"), service["allocateLoadBalancerNodePorts"]),
        Expected("Service", name, ("metadata", "annotations"), service["annotations"], contains=True),
    ]
    if controller["ingressClassResource"]["enabled"]:
        expected.append(present("IngressClass", controller["ingressClassResource"]["name"]))
    if controller["metrics"]["enabled"]:
        expected.append(present("Service", f"{name}-metrics"))  # templates/controller-service-metrics.yaml
    monitor = controller["metrics"].get("serviceMonitor", {})
    if monitor.get("enabled"):
        # templates/controller-servicemonitor.yaml: named like the controller, our labels added, honorLabels on
        # its one endpoint (the app's `namespace` label survives the scrape).
        expected += [
            Expected("ServiceMonitor", name, ("metadata", "labels"), monitor["additionalLabels"], contains=True),
            Expected("ServiceMonitor", name, ("spec", "endpoints", 0, "honorLabels"), monitor["honorLabels"]),
        ]
    return expected


CERT_MANAGER_CRDS = (
    "certificates.cert-manager.io",  # the app's Ingress gets its certificate through one (ingress-shim)
    "certificaterequests.cert-manager.io",
    "clusterissuers.cert-manager.io",  # infra/platform.py CertIssuers creates two
    "orders.acme.cert-manager.io",  # ACME HTTP-01: an Order and its Challenges per certificate
    "challenges.acme.cert-manager.io",
)
"""The custom resources cert-manager's issuance through Let's Encrypt HTTP-01 needs."""


def cert_manager(release: Release) -> list[Expected | DrainSafe]:
    """The CRDs (kept on uninstall when asked); replicas, PDB and spread of the controller, webhook and cainjector."""
    values = release.values
    base = fullname(release)
    expected: list[Expected | DrainSafe] = []
    if values["crds"]["enabled"]:
        for crd in CERT_MANAGER_CRDS:
            expected.append(present("CustomResourceDefinition", crd))
            if values["crds"]["keep"]:
                # v1.21.1 templates/crd-*.yaml: `helm.sh/resource-policy: keep` when crds.keep.
                field = ("metadata", "annotations", "helm.sh/resource-policy")
                expected.append(Expected("CustomResourceDefinition", crd, field, "keep"))
    # v1.21.1 templates/_helpers.tpl: the webhook and cainjector are "<fullname>-webhook" / "-cainjector".
    for part, name, tier in (
        (values, base, "cert-manager controller"),
        (values["webhook"], f"{base}-webhook", "cert-manager webhook"),
        (values["cainjector"], f"{base}-cainjector", "cert-manager cainjector"),
    ):
        expected += [
            Expected("Deployment", name, ("spec", "replicas"), part["replicaCount"]),
            Expected("Deployment", name, (*POD, "topologySpreadConstraints"), part["topologySpreadConstraints"]),
            Expected("Deployment", name, POD_LABELS, _selected_labels(part), contains=True),
            DrainSafe(name, tier),
        ]
        if part["podDisruptionBudget"]["enabled"]:
            expected += budget(name, part["podDisruptionBudget"])
    if values.get("config"):
        # Router gateway-api: the controller reads our configuration (Gateway API support) from the chart's
        # ConfigMap; v1.21.1 templates/controller-config.yaml and deployment.yaml (`--config`, container
        # "<chart>-controller").
        controller = (*POD, "containers", Named(f"{release.chart_name}-controller"))
        expected += [
            present("ConfigMap", base),
            Expected(
                "Deployment",
                base,
                (*controller, "args"),
                ["--config=/var/cert-manager/config/config.yaml"],
                contains=True,
            ),
        ]
    return expected


def metrics_server(release: Release) -> list[Expected | DrainSafe]:
    """Replicas, rollout, spread and resources of metrics-server, its PDB, and the metrics API it serves."""
    values = release.values
    name = fullname(release)
    container = (*POD, "containers", Named("metrics-server"))  # templates/deployment.yaml: the chart's name
    expected: list[Expected | DrainSafe] = [
        Expected("Deployment", name, ("spec", "replicas"), values["replicas"]),
        Expected("Deployment", name, ("spec", "strategy"), values["updateStrategy"]),
        Expected("Deployment", name, (*POD, "affinity"), values["affinity"]),
        Expected("Deployment", name, (*POD, "topologySpreadConstraints"), values["topologySpreadConstraints"]),
        Expected("Deployment", name, POD_LABELS, _selected_labels(values), contains=True),
        Expected("Deployment", name, (*container, "resources"), values["resources"]),
        DrainSafe(name, "metrics-server"),
        # What the HorizontalPodAutoscaler reads CPU from (templates/apiservice.yaml).
        present("APIService", "v1beta1.metrics.k8s.io"),
    ]
    if values["podDisruptionBudget"]["enabled"]:
        expected += budget(name, values["podDisruptionBudget"])
    return expected


def aws_load_balancer_controller(release: Release) -> list[Expected | DrainSafe]:
    """Replicas, rollout, spread, the PDB, the IRSA annotation and the readiness-gate webhook's failure policy."""
    values = release.values
    # v3.5.0 templates/_helpers.tpl: fullname is the release name when it contains the chart's name; the
    # webhook configuration is "<namePrefix>-webhook" with namePrefix "aws-load-balancer".
    name = fullname(release)
    return [
        Expected("Deployment", name, ("spec", "replicas"), values["replicaCount"]),
        Expected("Deployment", name, ("spec", "strategy"), values["updateStrategy"]),
        Expected("Deployment", name, (*POD, "topologySpreadConstraints"), values["topologySpreadConstraints"]),
        Expected("Deployment", name, POD_LABELS, LOAD_BALANCER_CONTROLLER_LABELS, contains=True),
        *budget(name, values["podDisruptionBudget"]),
        # Its pod webhook (below) is on the creation path of every ingress-nginx pod: one pod must always serve it.
        DrainSafe(name, "AWS Load Balancer Controller"),
        Expected(
            "ServiceAccount",
            values["serviceAccount"]["name"],
            ("metadata", "annotations"),
            values["serviceAccount"]["annotations"],
            contains=True,
        ),
        Expected(
            "MutatingWebhookConfiguration",
            "aws-load-balancer-webhook",
            ("webhooks", Named("mpod.elbv2.k8s.aws"), "failurePolicy"),
            values["podMutatorWebhookConfig"]["failurePolicy"],
        ),
    ]


GATEWAY_API_CRDS = (
    "gatewayclasses.gateway.networking.k8s.io",  # infra/platform.py EnvoyGateway creates one
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",  # the app's routes and cert-manager's HTTP-01 solver route
    "envoyproxies.gateway.envoyproxy.io",  # the GatewayClass's parameters
    "backendtrafficpolicies.gateway.envoyproxy.io",  # the app's retries and timeouts
)
"""The custom resources router gateway-api creates, which the chart's `crds` subchart installs."""


def gateway_helm(release: Release) -> list[Expected | DrainSafe]:
    """Envoy Gateway's controller: replicas, spread, its PDB and the CRDs the Gateway API router needs."""
    values = release.values
    deployment = values["deployment"]
    # envoyproxy/gateway v1.8.3 templates/envoy-gateway-deployment.yaml and -poddisruptionbudget.yaml: both are
    # named "envoy-gateway" whatever the release.
    name = "envoy-gateway"
    expected: list[Expected | DrainSafe] = [
        Expected("Deployment", name, ("spec", "replicas"), deployment["replicas"]),
        Expected(
            "Deployment", name, (*POD, "topologySpreadConstraints"), deployment["pod"]["topologySpreadConstraints"]
        ),
        Expected("Deployment", name, POD_LABELS, _selected_labels(deployment["pod"]), contains=True),
        *budget(name, values["podDisruptionBudget"]),
        # It serves the proxies' configuration: a new proxy pod (a drain's replacement) waits for one.
        DrainSafe(name, "Envoy Gateway controller"),
    ]
    if values["crds"]["enabled"]:
        expected += [present("CustomResourceDefinition", crd) for crd in GATEWAY_API_CRDS]
    return expected


def kube_prometheus_stack(release: Release) -> list[Expected | DrainSafe]:
    """Prometheus and Alertmanager: replicas, spread, budgets, retention, and the label they select our objects by.

    kube-prometheus-stack-88.5.3 templates/_helpers.tpl: the custom resources are "<fullname>-prometheus" and
    "<fullname>-alertmanager" (cleanPrometheusOperatorObjectNames false), their budgets carry the same names
    (templates/{prometheus,alertmanager}/podDisruptionBudget.yaml), and with the `*SelectorNilUsesHelmValues`
    defaults every selector is `release: <release name>` (templates/prometheus/prometheus.yaml).
    """
    values = release.values
    name = fullname(release)
    prometheus, alertmanager = values["prometheus"], values["alertmanager"]
    selector = {"matchLabels": {"release": release.name}}
    expected: list[Expected | DrainSafe] = [
        Expected("Prometheus", f"{name}-prometheus", ("spec", "replicas"), prometheus["prometheusSpec"]["replicas"]),
        Expected("Prometheus", f"{name}-prometheus", ("spec", "retention"), prometheus["prometheusSpec"]["retention"]),
        Expected(
            "Prometheus",
            f"{name}-prometheus",
            ("spec", "topologySpreadConstraints"),
            prometheus["prometheusSpec"]["topologySpreadConstraints"],
        ),
        *(
            Expected("Prometheus", f"{name}-prometheus", ("spec", key), selector)
            for key in ("podMonitorSelector", "serviceMonitorSelector", "ruleSelector")
        ),
        Expected(
            "Alertmanager", f"{name}-alertmanager", ("spec", "replicas"), alertmanager["alertmanagerSpec"]["replicas"]
        ),
        Expected(
            "Alertmanager",
            f"{name}-alertmanager",
            ("spec", "topologySpreadConstraints"),
            alertmanager["alertmanagerSpec"]["topologySpreadConstraints"],
        ),
        # Its routing lives in this Secret (templates/alertmanager/secret.yaml), read by the operator.
        present("Secret", f"alertmanager-{name}-alertmanager"),
        present("Deployment", f"{name}-kube-state-metrics"),  # the rollout alerts' series
        present("Deployment", f"{name}-grafana"),
    ]
    for part in ("prometheus", "alertmanager"):
        expected += budget(f"{name}-{part}", without_nulls(values[part]["podDisruptionBudget"]))
    return expected


EXPECTED: dict[str, Callable[[Release], list[Expected | DrainSafe]]] = {
    "gateway-helm": gateway_helm,
    "kube-prometheus-stack": kube_prometheus_stack,
    "aws-load-balancer-controller": aws_load_balancer_controller,
    "ingress-nginx": ingress_nginx,
    "cert-manager": cert_manager,
    "metrics-server": metrics_server,
}
"""What we rely on, by chart name (Chart.yaml `name`)."""
