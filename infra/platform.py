"""Cluster platform: the router behind an AWS NLB, cert-manager with Let's Encrypt ClusterIssuers, metrics-server.

All charts install through `helm.v3.Release`, which runs Helm itself (hooks included: ingress-nginx's
admission-webhook jobs and cert-manager's startup check are hooks that `helm.v4.Chart` would skip).

Example::

    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    ingress = IngressController("prd", IngressControllerArgs(replicas=3), opts=on_cluster)
    certs = CertIssuers("prd", CertIssuersArgs(acme_email="ops@example.org"), opts=on_cluster)
    metrics = MetricsServer("prd", MetricsServerArgs(replicas=2), opts=on_cluster)  # HPAs read CPU from it
    ingress.hostname            # the NLB's DNS name, for the Route53 record

ingress-nginx is retired upstream (no fixes after March 2026). Each router has one platform component here:
IngressController (router `ingress-nginx`) and EnvoyGateway (router `gateway-api`, Envoy Gateway with its
GatewayClass, EnvoyProxy and the app's Gateway); `router_platform` builds the one the settings' Args are for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from app.contract.manifests import METRICS_SCRAPER_NAMESPACE
from infra.envoy_gateway import (
    ENVOY_GATEWAY_CHART,
    ENVOY_GATEWAY_RELEASE,
    PROXY_SERVICE,
    envoy_gateway_values,
    envoy_proxy,
    gateway_class,
)
from infra.helm_values import (
    CERT_MANAGER_CHART,
    INGRESS_NGINX_CHART,
    KUBE_PROMETHEUS_STACK_CHART,
    LETS_ENCRYPT_SERVERS,
    LOAD_BALANCER_CONTROLLER_CHART,
    LOAD_BALANCER_CONTROLLER_REPLICAS,
    LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT,
    METRICS_SERVER_CHART,
    MONITORING_RELEASE,
    MONITORING_REPLICAS,
    READINESS_GATE_LABEL,
    ChartRef,
    cert_manager_values,
    cluster_issuer,
    ingress_nginx_values,
    issuer_name,
    kube_prometheus_stack_values,
    load_balancer_controller_values,
    metrics_server_values,
)
from infra.ingress_timing import INGRESS_TIMING
from infra.load_balancer_controller_policy import load_balancer_controller_policy

RELEASE_TIMEOUT_S = 600
"""Seconds Helm waits for a release's pods (and, for ingress-nginx, its load balancer) to be ready."""


def _namespace(
    name: str,
    namespace: str,
    pod_security: str,
    parent: pulumi.Resource,
    labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        name,
        metadata={
            "name": namespace,
            "labels": {
                "pod-security.kubernetes.io/enforce": pod_security,
                "pod-security.kubernetes.io/warn": "restricted",
                **(labels or {}),
            },
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _release(
    name: str,
    chart: ChartRef,
    *,
    release_name: str,
    namespace: k8s.core.v1.Namespace,
    values: Mapping[str, Any],
    parent: pulumi.Resource,
    timeout: int = RELEASE_TIMEOUT_S,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.helm.v3.Release:
    """A pinned chart installed by Helm itself, all or nothing: a failed upgrade rolls back, not half a release."""
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        chart=chart.name,
        version=chart.version,
        repository_opts={"repo": chart.repository} if chart.repository else None,  # OCI charts name their registry
        namespace=namespace.metadata["name"],
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout,
        max_history=10,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


@dataclass(frozen=True, kw_only=True)
class IngressControllerArgs:
    """How the cluster's ingress controller runs."""

    replicas: int = 2
    """Controller pods; ≥ 2 so one keeps serving while another is replaced or its node drained."""
    ingress_class: str = "nginx"
    """IngressClass the controller serves (the app's Ingress and the HTTP-01 solver use it)."""
    namespace: str = "ingress-nginx"
    """Namespace of the controller (the app's NetworkPolicy admits traffic from here only)."""
    load_balancer_controller: pulumi.Resource | None = None
    """The AWS Load Balancer Controller's release: it must run (its webhook, its NLB) before this Service exists."""
    monitoring: pulumi.Resource | None = None
    """The metrics stack's release: its CRDs must exist before the chart's ServiceMonitor can be created."""


class IngressController(pulumi.ComponentResource):
    """ingress-nginx with an internet-facing NLB, a PDB, anti-affinity, metrics and the shared retry values."""

    release: k8s.helm.v3.Release
    hostname: pulumi.Output[str]
    ingress_class: str
    namespace: str

    def __init__(self, name: str, args: IngressControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:IngressController", name, None, opts)
        # The readiness-gate label: each new controller pod is Ready only once its NLB target is healthy, so a
        # surge rollout or a drain never takes an old pod away before the new one takes traffic.
        namespace = _namespace(f"{name}-ingress-namespace", args.namespace, "baseline", self, READINESS_GATE_LABEL)
        # A fixed release name fixes the Service name below and the pods' instance label.
        self.release = _release(
            f"{name}-ingress-nginx",
            INGRESS_NGINX_CHART,
            release_name="ingress-nginx",
            namespace=namespace,
            values=ingress_nginx_values(replicas=args.replicas, ingress_class=args.ingress_class),
            parent=self,
            # Helm waits for the rollout, which with readiness gates waits for each new NLB target's health.
            timeout=max(RELEASE_TIMEOUT_S, INGRESS_TIMING.rollout_budget(args.replicas)),
            depends_on=[r for r in (args.load_balancer_controller, args.monitoring) if r is not None],
        )
        # The chart's Service; read back once the release is up so its NLB hostname is known.
        service = k8s.core.v1.Service.get(
            f"{name}-ingress-service",
            f"{args.namespace}/ingress-nginx-controller",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.hostname = service.status.apply(load_balancer_hostname)
        self.ingress_class = args.ingress_class
        self.namespace = args.namespace
        self.register_outputs({"hostname": self.hostname, "ingressClass": self.ingress_class})


def load_balancer_hostname(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    """The NLB's DNS name from a LoadBalancer Service's status; stops the program if it has none yet."""
    ingress = status.load_balancer.ingress if status and status.load_balancer else None
    if not ingress or not ingress[0].hostname:
        raise pulumi.RunError(
            "the router's Service has no load balancer hostname yet; check the Service's events (ingress-nginx: "
            "`kubectl -n ingress-nginx describe service ingress-nginx-controller`; Envoy Gateway: "
            f"`kubectl -n envoy-gateway-system describe service {PROXY_SERVICE}`) and run `pulumi up` again"
        )
    return str(ingress[0].hostname)


@dataclass(frozen=True, kw_only=True)
class CertIssuersArgs:
    """cert-manager and the Let's Encrypt accounts it signs with."""

    acme_email: str
    """Contact for Let's Encrypt expiry notices."""
    ingress_class: str = "nginx"
    """IngressClass that answers HTTP-01 challenges."""
    namespace: str = "cert-manager"
    """Namespace of cert-manager."""
    gateway_listener: Mapping[str, Any] | None = None
    """A Gateway listener (parentRef) that answers HTTP-01 through an HTTPRoute; None: the IngressClass answers."""
    gateway_api_crds: pulumi.Resource | None = None
    """The release that installs the Gateway API CRDs, which cert-manager's Gateway API support needs at start."""


class CertIssuers(pulumi.ComponentResource):
    """cert-manager plus one ClusterIssuer per Let's Encrypt server (staging and production)."""

    release: k8s.helm.v3.Release
    issuer_names: dict[str, str]
    resources: list[pulumi.Resource]

    def __init__(self, name: str, args: CertIssuersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:CertIssuers", name, None, opts)
        namespace = _namespace(f"{name}-cert-manager-namespace", args.namespace, "restricted", self)
        self.release = _release(
            f"{name}-cert-manager",
            CERT_MANAGER_CHART,
            release_name="cert-manager",
            namespace=namespace,
            values=cert_manager_values(gateway_api=args.gateway_listener is not None),
            parent=self,
            depends_on=[args.gateway_api_crds] if args.gateway_api_crds else (),
        )
        self.issuer_names = {}
        issuers: list[pulumi.Resource] = []
        for server in LETS_ENCRYPT_SERVERS:
            manifest = cluster_issuer(
                acme_server=server,
                email=args.acme_email,
                ingress_class=args.ingress_class,
                gateway_listener=args.gateway_listener,
            )
            issuers.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-{issuer_name(server)}",
                    api_version=manifest["apiVersion"],
                    kind=manifest["kind"],
                    metadata=manifest["metadata"],
                    spec=manifest["spec"],
                    # The CRDs and the webhook come with the release.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
                )
            )
            self.issuer_names[server] = issuer_name(server)
        self.resources = [self.release, *issuers]
        self.register_outputs({"issuers": self.issuer_names})


@dataclass(frozen=True, kw_only=True)
class MetricsServerArgs:
    """How metrics-server, the source of the HorizontalPodAutoscaler's CPU figures, runs."""

    replicas: int = 2
    """metrics-server pods; ≥ 2 so the metrics API stays up while one is replaced or its node drained."""
    namespace: str = "metrics-server"
    """Namespace of metrics-server (Pod Security `restricted`: the chart's pods run non-root, read-only)."""


class MetricsServer(pulumi.ComponentResource):
    """metrics-server, serving the metrics.k8s.io API: without it an HPA holds its floor and never scales."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:MetricsServer", name, None, opts)
        namespace = _namespace(f"{name}-metrics-server-namespace", args.namespace, "restricted", self)
        self.release = _release(
            f"{name}-metrics-server",
            METRICS_SERVER_CHART,
            release_name="metrics-server",  # fixes the pods' instance label (METRICS_SERVER_LABELS)
            namespace=namespace,
            values=metrics_server_values(replicas=args.replicas),
            parent=self,
        )
        self.register_outputs({"namespace": args.namespace})


NO_CHAT_WEBHOOK_NOTICE = (
    "no chat webhook configured (`pulumi config set --secret alertChatWebhook URL`): alerts stay in Alertmanager "
    "(`kubectl -n {namespace} port-forward svc/{release}-alertmanager 9093`)"
)


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """How the cluster's metrics stack runs and where its alerts go."""

    replicas: int = MONITORING_REPLICAS
    """Prometheus and Alertmanager pods; ≥ 2 so alerting goes on while one is replaced or its node drained."""
    chat_webhook_url: pulumi.Input[str] | None = None
    """Slack-format incoming webhook every alert is posted to (a Pulumi secret); None keeps alerts in Alertmanager."""
    namespace: str = METRICS_SCRAPER_NAMESPACE
    """Namespace of the stack; the app's NetworkPolicy admits this namespace's Prometheus pods to /metrics."""


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack: prometheus-operator and its CRDs, Prometheus, Alertmanager, kube-state-metrics, Grafana.

    In-cluster rather than Amazon Managed Prometheus with its managed collector and Amazon Managed Grafana:
    README "Observability" weighs the two.
    """

    release: k8s.helm.v3.Release
    namespace: str

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:Monitoring", name, None, opts)
        if args.chat_webhook_url is None:
            # Never a failed deploy: the alerts still fire, and are kept and shown by Alertmanager.
            pulumi.log.info(NO_CHAT_WEBHOOK_NOTICE.format(namespace=args.namespace, release=MONITORING_RELEASE), self)
        # baseline, warning on restricted: the chart's pods set restricted's fields (values.yaml securityContext,
        # seccompProfile RuntimeDefault) but a subchart that misses one would fail the whole atomic release.
        namespace = _namespace(f"{name}-monitoring-namespace", args.namespace, "baseline", self)
        self.release = _release(
            f"{name}-monitoring",
            KUBE_PROMETHEUS_STACK_CHART,
            release_name=MONITORING_RELEASE,  # fixes the object names and the selector label (infra/helm_values.py)
            namespace=namespace,
            values=kube_prometheus_stack_values(replicas=args.replicas, chat_webhook_url=args.chat_webhook_url),
            parent=self,
        )
        self.namespace = args.namespace
        self.register_outputs({"namespace": args.namespace})


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    """Where the AWS Load Balancer Controller runs and what it may manage."""

    cluster_name: str
    """EKS cluster name: the controller's `--cluster-name` and the tag value its IAM policy is scoped to."""
    region: str
    """AWS region (pods cannot read it from instance metadata)."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC (likewise)."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider, which the controller's role trusts (IRSA)."""
    oidc_provider_url: pulumi.Input[str]
    """Its issuer URL, for the trust policy's `sub` and `aud` conditions."""
    replicas: int = LOAD_BALANCER_CONTROLLER_REPLICAS
    """Controller pods (one leader, all serve the webhook); ≥ 2 behind a PDB so a drain never stops both."""
    namespace: str = "aws-load-balancer-controller"
    """Namespace of the controller (Pod Security `baseline`: the chart sets no seccomp profile)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the IAM role."""


class LoadBalancerController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller: turns ingress-nginx's Service into an NLB with IP targets, gates pods on it.

    IAM through IRSA (the cluster's OIDC provider): a role that only the controller's ServiceAccount can assume,
    with the policy of infra/load_balancer_controller_policy.py inline. IRSA rather than EKS Pod Identity: the
    OIDC provider exists already, and Pod Identity would add the eks-pod-identity-agent add-on as a dependency.
    """

    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id
        subject = f"system:serviceaccount:{args.namespace}:{LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT}"
        role = aws.iam.Role(
            f"{name}-load-balancer-controller",
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
                lambda parts: irsa_trust_policy(provider_arn=parts[0], issuer=parts[1], subject=subject)
            ),
            tags=dict(args.tags),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-load-balancer-controller",
            role=role.name,
            policy=json.dumps(
                load_balancer_controller_policy(
                    partition=partition, region=args.region, account=account, cluster_name=args.cluster_name
                )
            ),
            opts=child,
        )
        namespace = _namespace(f"{name}-load-balancer-controller-namespace", args.namespace, "baseline", self)
        self.release = _release(
            f"{name}-load-balancer-controller",
            LOAD_BALANCER_CONTROLLER_CHART,
            release_name="aws-load-balancer-controller",  # fixes the pods' labels (LOAD_BALANCER_CONTROLLER_LABELS)
            namespace=namespace,
            values=load_balancer_controller_values(
                cluster_name=args.cluster_name,
                region=args.region,
                vpc_id=args.vpc_id,
                role_arn=role.arn,
                replicas=args.replicas,
            ),
            parent=self,
            depends_on=[policy],  # its first reconcile needs the permissions
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})


def irsa_trust_policy(*, provider_arn: str, issuer: str, subject: str) -> str:
    """A role trust policy that lets exactly one Kubernetes ServiceAccount assume the role through the OIDC provider."""
    host = issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": "sts.amazonaws.com"}},
                }
            ],
        }
    )


@dataclass(frozen=True, kw_only=True)
class EnvoyGatewayArgs:
    """How Envoy Gateway, the Gateway API router (`router: gateway-api`), runs."""

    gateway: Mapping[str, Any]
    """The app's Gateway (app/contract/routers/gateway_api.py `gateway`): its class, namespace and listeners."""
    replicas: int = 2
    """Envoy proxy pods; ≥ 2 so one keeps serving while another drains or its node is replaced."""
    load_balancer_controller: pulumi.Resource | None = None
    """The AWS Load Balancer Controller's release: it must run (its webhook, its NLB) before the proxies' Service."""


class EnvoyGateway(pulumi.ComponentResource):
    """Envoy Gateway with its GatewayClass, the EnvoyProxy (NLB, drain, spread, PDB) and the app's Gateway."""

    release: k8s.helm.v3.Release
    hostname: pulumi.Output[str]
    namespace: str

    def __init__(self, name: str, args: EnvoyGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:EnvoyGateway", name, None, opts)
        metadata = args.gateway["metadata"]
        self.namespace = metadata["namespace"]
        class_name = args.gateway["spec"]["gatewayClassName"]
        # The readiness-gate label, as for ingress-nginx: a new proxy is Ready only once its NLB target is healthy.
        namespace = _namespace(
            f"{name}-envoy-gateway-namespace", self.namespace, "baseline", self, READINESS_GATE_LABEL
        )
        self.release = _release(
            f"{name}-envoy-gateway",
            ENVOY_GATEWAY_CHART,
            release_name=ENVOY_GATEWAY_RELEASE,
            namespace=namespace,
            values=envoy_gateway_values(),
            parent=self,
            depends_on=[args.load_balancer_controller] if args.load_balancer_controller else (),
        )
        after_release = pulumi.ResourceOptions(parent=self, depends_on=[self.release])  # its CRDs and webhook
        proxy = envoy_proxy(
            name=class_name, namespace=self.namespace, replicas=args.replicas, gateway_name=metadata["name"]
        )
        parameters = _custom(f"{name}-envoy-proxy", proxy, after_release)
        gateway_class_object = _custom(
            f"{name}-gateway-class",
            gateway_class(name=class_name, envoy_proxy_name=class_name, envoy_proxy_namespace=self.namespace),
            pulumi.ResourceOptions(parent=self, depends_on=[self.release, parameters]),
        )
        gateway = _custom(
            f"{name}-gateway",
            awaited_gateway(args.gateway, timeout=max(RELEASE_TIMEOUT_S, INGRESS_TIMING.rollout_budget(args.replicas))),
            pulumi.ResourceOptions(parent=self, depends_on=[gateway_class_object]),
        )
        # The proxies' Service, named in the EnvoyProxy; read back once the Gateway exists and its NLB is known.
        service = k8s.core.v1.Service.get(
            f"{name}-envoy-service",
            f"{self.namespace}/{PROXY_SERVICE}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        self.hostname = service.status.apply(load_balancer_hostname)
        self.register_outputs({"hostname": self.hostname, "gatewayClass": class_name})


def awaited_gateway(gateway: Mapping[str, Any], *, timeout: int) -> dict[str, Any]:
    """The Gateway with Pulumi's await on its `Programmed` condition: Envoy Gateway creates the proxies and their
    Service only after the Gateway, so the NLB hostname can be read once it is programmed, not before.

    pulumi/pulumi-kubernetes v4.32.0 provider/pkg/metadata/overrides.go `ReadyCondition` ("pulumi.com/waitFor"
    `condition=…`; "pulumi.com/timeoutSeconds"); Gateway API v1.5.1 GatewayConditionProgrammed.
    """
    metadata = gateway["metadata"]
    annotations = {
        **metadata.get("annotations", {}),
        "pulumi.com/waitFor": "condition=Programmed",
        "pulumi.com/timeoutSeconds": str(timeout),
    }
    return {**gateway, "metadata": {**metadata, "annotations": annotations}}


def _custom(name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """A custom resource from a rendered manifest, as it is."""
    extra = {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind", "metadata")}
    return k8s.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        opts=opts,
        **extra,
    )


RouterArgs = IngressControllerArgs | EnvoyGatewayArgs
"""The Args of every router's platform component (stacks/settings.py `router_args` picks one by the setting)."""


def router_platform(
    name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None
) -> IngressController | EnvoyGateway:
    """The platform component the Args are for: each router's serves its routes behind the NLB, with `.release`
    (what the app waits for) and `.hostname` (the NLB, for the DNS record)."""
    if isinstance(args, EnvoyGatewayArgs):
        return EnvoyGateway(name, args, opts)
    return IngressController(name, args, opts)
