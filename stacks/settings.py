"""A stack's settings, read from Pulumi config once and validated before any resource exists.

This is the only module that reads `pulumi.Config`. `load_settings()` returns typed, frozen settings
or stops the program with one message listing every problem, each naming its config key::

    settings = load_settings()          # in stacks/__main__.py, before any component
    settings.network.zones              # 3 in prd, 2 in int/stg (from Pulumi.<stack>.yaml)
    Network(env, settings.network_args())   # components get their Args from here, plus other components' Outputs

Every key is declared once, in `stacks/schema.py` (type, default, bounds, production rule, description);
Pulumi.yaml's declarations are generated from it, and environment differences live only in
Pulumi.<stack>.yaml, committed: CI and operators read the same file (README "Settings"). A key the
schema does not declare is refused, naming the closest one.

Two things besides config decide what a run may do, both read once next to the config and passed in:
Pulumi.yaml's placeholders (`domain: example.com`) are refused unless a test opts in with
`parse_settings(..., allow_placeholders=True)`, and a run inside GitHub Actions (`read_ci_job`) must
keep the CI roles it runs as.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi.runtime import config as runtime_config

from app.contract import AppSettings, SettingsError
from app.contract.canary import CanaryRelease
from app.contract.manifests import stable_route
from app.contract.routers import gateway_api, ingress_nginx
from infra.canary_analysis_access import CanaryAnalysisAccessArgs
from infra.ci_access import CI_ROLE_KINDS, CiAccessArgs, ci_role_name
from infra.ci_policy import repository_arn
from infra.cluster import ClusterArgs
from infra.dns import DnsArgs
from infra.helm_values import issuer_name
from infra.network import NetworkArgs
from infra.platform import (
    CertIssuersArgs,
    EnvoyGatewayArgs,
    IngressControllerArgs,
    LoadBalancerControllerArgs,
    MetricsServerArgs,
    MonitoringArgs,
    RouterArgs,
)
from infra.registry import ImageRegistryArgs, is_managed_here
from infra.tags import resource_tags, tag_problems
from stacks.schema import (
    APP_FIELDS,
    CONFIG_KEYS,
    POLICY_FIELDS,
    PROJECT,
    SUPPORTED_KUBERNETES_VERSIONS,
    CiJob,
    Run,
    StackConfig,
    contract_keys,
    names_a_key,
    stand_in,
    validate_config,
)

__all__ = [  # the schema's names the program's callers and tests read from here
    "CONFIG_KEYS",
    "PLATFORM_PHASE_TAG",
    "PROJECT",
    "SUPPORTED_KUBERNETES_VERSIONS",
    "CiJob",
    "CiSettings",
    "ClusterSettings",
    "DnsSettings",
    "NetworkSettings",
    "PlatformSettings",
    "StackSettings",
    "load_settings",
    "parse_settings",
    "read_ci_job",
    "read_config",
]

_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
PLATFORM_PHASE_TAG = "no-release-yet"
"""The stand-in image tag of a stack in its platform phase: it checks the other app settings and is never deployed."""


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The VPC: its range, how many zones, how many NAT gateways."""

    cidr: str
    """VPC address range, e.g. 10.20.0.0/16 (split by infra/cidr.py)."""
    zones: int
    """Availability zones to spread subnets and nodes over."""
    nat_per_zone: bool
    """One NAT gateway per zone (survives a zone outage) instead of one shared gateway (cheaper)."""


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """The EKS control plane and its managed node group."""

    name: str
    """EKS cluster name, also used in subnet tags and log group names."""
    version: str
    """Kubernetes minor version, e.g. 1.35."""
    service_cidr: str
    """Range for Kubernetes Service addresses; must not overlap the VPC."""
    instance_types: tuple[str, ...]
    """Node instance types; several spread spot capacity over pools."""
    capacity_type: str
    """ON_DEMAND or SPOT."""
    min_nodes: int
    """Nodes that always run (≥ 2, so a drained node never leaves the app without a home)."""
    desired_nodes: int
    """Nodes at creation; later changes by the autoscaler are not fought over."""
    max_nodes: int
    """Upper bound for the node group."""
    disk_gb: int
    """Root volume per node (gp3, encrypted)."""
    public_access_cidrs: tuple[str, ...]
    """Who may reach the Kubernetes API from the internet (IAM authentication still applies)."""
    admin_roles: tuple[str, ...]
    """IAM role names (with path) granted cluster-admin through EKS access entries."""
    log_retention_days: int
    """How long control-plane logs are kept."""
    deletion_protection: bool
    """EKS refuses to delete the cluster while set."""


@dataclass(frozen=True, kw_only=True)
class PlatformSettings:
    """Cluster-wide services the app relies on: ingress, certificates and the metrics its autoscaler reads."""

    ingress_replicas: int
    """ingress-nginx controller pods (≥ 2, spread over nodes and zones)."""
    metrics_server_replicas: int
    """metrics-server pods (≥ 2, so the HPA's metrics survive a node drain)."""
    acme_email: str
    """Contact address Let's Encrypt writes to about expiring certificates."""
    acme_server: str
    """`staging` or `production` Let's Encrypt: which ClusterIssuer signs the app's certificate."""
    chat_webhook: str = dataclasses.field(default="", repr=False)  # a secret: never in a repr or a traceback
    """Where Alertmanager posts alerts (a secret); empty keeps them in Alertmanager."""

    @property
    def cluster_issuer(self) -> str:
        """Name of the ClusterIssuer the app's Ingress asks for."""
        return issuer_name(self.acme_server)


@dataclass(frozen=True, kw_only=True)
class DnsSettings:
    """Where the app is reachable by name."""

    domain: str
    """Route53 public hosted zone, e.g. example.com."""
    host: str
    """The app's host name inside that zone, e.g. example-app.int.example.com."""


@dataclass(frozen=True, kw_only=True)
class CiSettings:
    """The GitHub repository whose workflows deploy this stack, and where their roles may reach."""

    repository: str = ""
    """`owner/name`; empty creates no CI roles (a stack run only by hand)."""
    oidc_provider_arn: str = ""
    """GitHub's OIDC provider when another stack in this AWS account already created it."""
    state_bucket: str = ""
    """S3 bucket of a self-managed Pulumi backend, so the roles can reach this stack's state."""
    secrets_key_arn: str = ""
    """KMS key of an `awskms://` secrets provider."""


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """Everything one stack deploys, validated."""

    project: str
    """Pulumi project name."""
    stack: str
    """Pulumi stack name (int, stg, prd)."""
    region: str
    """AWS region (`aws:region`)."""
    production: bool
    """Whether production rules apply (≥ 3 zones and replicas, NAT per zone, real certificates)."""
    network: NetworkSettings
    cluster: ClusterSettings
    platform: PlatformSettings
    dns: DnsSettings
    app: AppSettings
    """The app's deployment contract settings (image tag, replicas, resources …)."""
    ci: CiSettings
    """What the GitHub workflows may do here (infra/ci_access.py); empty repository: no CI roles."""
    release: CanaryRelease = dataclasses.field(default_factory=CanaryRelease)
    """Rolling or canary releases, and the canary step running now (infra/canary_driver.py drives it)."""
    platform_only: bool = False
    """No imageTag yet: a new stack's first `pulumi up` builds everything but the app (README "First deploy");
    `app`'s image fields then hold a stand-in that is never deployed."""

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every taggable AWS resource of this stack."""
        return resource_tags(self.project, self.stack)

    @property
    def url(self) -> str:
        """The app's public URL."""
        return f"https://{self.dns.host}"

    @property
    def ci_roles(self) -> tuple[str, ...]:
        """The workflows' IAM roles this stack creates and lets into its cluster; none without a repository."""
        if not self.ci.repository:
            return ()
        return tuple(ci_role_name(self.project, self.stack, kind) for kind in CI_ROLE_KINDS)

    @property
    def owns_registry(self) -> bool:
        """Whether this stack creates the shared ECR repository (a bare repository name, infra/registry.py)."""
        return is_managed_here(self.app.image_repository)

    # Component Args: the settings hand out what they hold; the caller adds only other components' Outputs.
    # Network and cluster settings carry exactly their Args' fields (tests/infra/test_settings.py).

    def network_args(self) -> NetworkArgs:
        """The VPC, tagged so EKS finds its subnets by cluster name."""
        return NetworkArgs(**dataclasses.asdict(self.network), cluster_name=self.cluster.name, tags=self.tags)

    def cluster_args(self, *, private_subnet_ids: Sequence[pulumi.Input[str]]) -> ClusterArgs:
        """The EKS cluster and its nodes, in the network's private subnets."""
        return ClusterArgs(
            **dataclasses.asdict(self.cluster),
            region=self.region,
            private_subnet_ids=private_subnet_ids,
            tags=self.tags,
        )

    def ingress_controller_args(
        self, *, load_balancer_controller: pulumi.Resource | None = None, monitoring: pulumi.Resource | None = None
    ) -> IngressControllerArgs:
        """ingress-nginx, serving the app's IngressClass and namespace, behind the NLB's controller."""
        return IngressControllerArgs(
            replicas=self.platform.ingress_replicas,
            ingress_class=self.app.router_class,
            namespace=self.app.router_namespace,
            load_balancer_controller=load_balancer_controller,
            monitoring=monitoring,
        )

    def envoy_gateway_args(self, *, load_balancer_controller: pulumi.Resource | None = None) -> EnvoyGatewayArgs:
        """Envoy Gateway with the app's Gateway, as many proxies as ingress replicas, behind the NLB's controller."""
        return EnvoyGatewayArgs(
            gateway=gateway_api.gateway(stable_route(self.app)),
            replicas=self.platform.ingress_replicas,
            load_balancer_controller=load_balancer_controller,
        )

    def router_args(
        self, *, load_balancer_controller: pulumi.Resource | None = None, monitoring: pulumi.Resource | None = None
    ) -> RouterArgs:
        """The Args of the configured router's platform component (infra/platform.py `router_platform`).

        `monitoring` (the metrics stack's release, whose CRDs the controller's ServiceMonitor needs) reaches
        ingress-nginx only: Envoy Gateway's proxies are not scraped yet (README "Observability").
        """
        by_router: dict[str, Callable[[], RouterArgs]] = {
            ingress_nginx.ROUTER: lambda: self.ingress_controller_args(
                load_balancer_controller=load_balancer_controller, monitoring=monitoring
            ),
            gateway_api.ROUTER: lambda: self.envoy_gateway_args(load_balancer_controller=load_balancer_controller),
        }
        return by_router[self.app.router]()

    def load_balancer_controller_args(
        self, *, vpc_id: pulumi.Input[str], oidc_provider_arn: pulumi.Input[str], oidc_provider_url: pulumi.Input[str]
    ) -> LoadBalancerControllerArgs:
        """The AWS Load Balancer Controller for this cluster, trusted through the cluster's OIDC provider."""
        return LoadBalancerControllerArgs(
            cluster_name=self.cluster.name,
            region=self.region,
            vpc_id=vpc_id,
            oidc_provider_arn=oidc_provider_arn,
            oidc_provider_url=oidc_provider_url,
            tags=self.tags,
        )

    def cert_issuers_args(self, *, router_release: pulumi.Resource | None = None) -> CertIssuersArgs:
        """cert-manager, answering HTTP-01 challenges through the app's IngressClass."""
        gateway_listener = (  # HTTP-01 through the Gateway's plain HTTP listener
            gateway_api.parent_ref(stable_route(self.app), gateway_api.HTTP_LISTENER)
            if self.app.router == gateway_api.ROUTER
            else None
        )
        return CertIssuersArgs(
            acme_email=self.platform.acme_email,
            ingress_class=self.app.router_class,
            gateway_listener=gateway_listener,
            # Its Gateway API support needs the CRDs, which the router's chart installs.
            gateway_api_crds=router_release if gateway_listener is not None else None,
        )

    def metrics_server_args(self) -> MetricsServerArgs:
        """metrics-server, the source of the CPU utilisation the app's HorizontalPodAutoscaler scales on."""
        return MetricsServerArgs(replicas=self.platform.metrics_server_replicas)

    def monitoring_args(self) -> MonitoringArgs:
        """The metrics stack; the chat webhook as a Pulumi secret, so state and previews never show it."""
        webhook = self.platform.chat_webhook
        return MonitoringArgs(chat_webhook_url=pulumi.Output.secret(webhook) if webhook else None)

    def dns_args(self, *, target_hostname: pulumi.Input[str]) -> DnsArgs:
        """The app's host name, pointing at the ingress load balancer."""
        return DnsArgs(domain=self.dns.domain, host=self.dns.host, target_hostname=target_hostname, region=self.region)

    def registry_args(self) -> ImageRegistryArgs:
        """The shared ECR repository (only for the stack that owns it, see `owns_registry`)."""
        return ImageRegistryArgs(name=self.app.image_repository, tags=self.tags)

    def ci_access_args(
        self, *, cluster_name: pulumi.Input[str], registry_url: pulumi.Output[str] | None
    ) -> CiAccessArgs:
        """The GitHub workflows' OIDC roles; `registry_url` is the repository this stack creates, if any."""
        return CiAccessArgs(
            repository=self.ci.repository,
            environment=self.stack,
            project=self.project,
            cluster_name=cluster_name,
            image_repository_arn=(
                registry_url.apply(repository_arn)
                if registry_url is not None
                else repository_arn(self.app.image_repository)
            ),
            publishes_images=registry_url is not None,  # the build job pushes with the registry owner's role
            oidc_provider_arn=self.ci.oidc_provider_arn,
            state_bucket=self.ci.state_bucket,
            secrets_key_arn=self.ci.secrets_key_arn,
            tags=self.tags,
        )

    def canary_analysis_args(
        self,
        *,
        cluster_name: pulumi.Input[str],
        deploy_role_arn: pulumi.Input[str] | None,
        monitoring_namespace: str,
        monitoring_release: pulumi.Resource,
    ) -> CanaryAnalysisAccessArgs:
        """The canary driver's query identity, assumable by the operators and CI's deploy role (None: no CI)."""
        return CanaryAnalysisAccessArgs(
            cluster_name=cluster_name,
            admin_roles=self.cluster.admin_roles,
            deploy_role_arn=deploy_role_arn,
            namespace=monitoring_namespace,
            monitoring_release=monitoring_release,
            tags=self.tags,
        )


def parse_settings(
    raw: Mapping[str, str | None],
    *,
    stack: str,
    region: str | None,
    ci_job: CiJob | None = None,
    allow_placeholders: bool = False,
) -> StackSettings:
    """Typed settings from raw config strings (JSON for lists); raises SettingsError listing every problem.

    `raw` holds every key of the project's namespace the stack sets, without the `example-app:` prefix
    (None: not set). `ci_job` is the GitHub Actions job running the program (`read_ci_job`), None on an
    operator's machine. `allow_placeholders` lets tests run Pulumi.yaml's placeholder domain and contact;
    only code can set it.
    """
    values = {key: value for key, value in raw.items() if value is not None}
    problems: list[str] = []
    if not region or not _REGION.fullmatch(region):
        problems.append(f"aws:region {region!r} is not an AWS region: `pulumi config set aws:region eu-west-1`")
    problems.extend(f"stack name: {p}" for p in tag_problems(resource_tags(PROJECT, stack)))
    verdict = validate_config(values, run=Run(stack=stack, allow_placeholders=allow_placeholders, ci_job=ci_job))
    problems.extend(verdict.problems)
    # The deployment contract judges the app and release keys; while other keys have problems it judges the
    # accepted ones (refused keys at their defaults), and says nothing about a key already refused.
    config, defaulted = (verdict.config, frozenset[str]()) if verdict.config else stand_in(values, verdict.refused)
    app, release, contract_problems = _contract(config)
    problems.extend(p for p in contract_problems if not names_a_key(p, defaulted))
    if problems or verdict.config is None or app is None or release is None:
        raise SettingsError(problems)
    return _settings(config, stack=stack, region=region or "", app=app, release=release)


def _contract(config: StackConfig) -> tuple[AppSettings | None, CanaryRelease | None, list[str]]:
    """The app's settings and release policy from the contract's own classes, or their problems by config key."""
    problems: list[str] = []
    app = release = None
    try:
        values = {name: getattr(config, name) for name in APP_FIELDS}
        # In the platform phase (no imageTag) a stand-in keeps the other app checks running; it is never deployed.
        values["image_tag"] = config.image_tag or PLATFORM_PHASE_TAG
        values["image_repository"] = config.image_repository or PROJECT
        app = AppSettings(
            **values, host=f"{config.host_prefix}.{config.domain}", tls_cluster_issuer=issuer_name(config.acme_server)
        )
    except SettingsError as error:
        problems.extend(error.problems)
    try:
        policy = {name: getattr(config, name) for name in POLICY_FIELDS}
        release = CanaryRelease.from_config(policy, config.canary_tag or None, config.canary_weight)
    except SettingsError as error:
        problems.extend(error.problems)
    return app, release, [contract_keys(problem) for problem in problems]


def _settings(
    config: StackConfig, *, stack: str, region: str, app: AppSettings, release: CanaryRelease
) -> StackSettings:
    return StackSettings(
        project=PROJECT,
        stack=stack,
        region=region,
        production=config.production,
        network=NetworkSettings(
            cidr=config.vpc_cidr, zones=config.availability_zones, nat_per_zone=config.nat_gateway_per_zone
        ),
        cluster=ClusterSettings(
            name=f"{PROJECT}-{stack}",
            version=config.kubernetes_version,
            service_cidr=config.service_cidr,
            instance_types=config.node_instance_types,
            capacity_type=config.node_capacity_type,
            min_nodes=config.node_min_size,
            desired_nodes=config.node_desired_size,
            max_nodes=config.node_max_size,
            disk_gb=config.node_disk_gb,
            public_access_cidrs=config.api_public_access_cidrs,
            admin_roles=config.cluster_admin_roles,
            log_retention_days=config.log_retention_days,
            deletion_protection=config.deletion_protection,
        ),
        platform=PlatformSettings(
            ingress_replicas=config.ingress_replicas,
            metrics_server_replicas=config.metrics_server_replicas,
            acme_email=config.acme_email,
            acme_server=config.acme_server,
            chat_webhook=config.alert_chat_webhook,
        ),
        dns=DnsSettings(domain=config.domain, host=f"{config.host_prefix}.{config.domain}"),
        app=app,
        ci=CiSettings(
            repository=config.github_repository,
            oidc_provider_arn=config.ci_oidc_provider_arn,
            state_bucket=config.ci_state_bucket,
            secrets_key_arn=config.ci_secrets_key_arn,
        ),
        release=release,
        platform_only=not config.image_tag,
    )


def read_config() -> tuple[dict[str, str | None], str, str | None]:
    """Raw config strings for every key of the project's namespace (known or not), the stack name and AWS region.

    The language host hands the program every config key at once (pulumi/pulumi v3.259.0
    sdk/python/cmd/pulumi-language-python-exec: `set_all_config(get_config_env(), …)` from PULUMI_CONFIG, the
    stack's config with Pulumi.yaml's defaults merged in); Pulumi's mocks set the same map with
    `pulumi.runtime.set_all_config`. A program started without either still finds PULUMI_CONFIG itself.
    """
    prefix = f"{PROJECT}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    config = pulumi.Config(PROJECT)
    raw = {key.removeprefix(prefix): config.get(key.removeprefix(prefix)) for key in keys if key.startswith(prefix)}
    return raw, pulumi.get_stack(), pulumi.Config("aws").get("region")


def read_ci_job(environ: Mapping[str, str]) -> CiJob | None:
    """The GitHub Actions job running the program, or None outside GitHub Actions.

    GitHub sets GITHUB_ACTIONS=true and GITHUB_REPOSITORY=<owner>/<name> in every job, and a workflow
    cannot overwrite GITHUB_* variables (docs.github.com, Actions "Variables reference").
    """
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    return CiJob(repository=environ.get("GITHUB_REPOSITORY", "").strip())


def load_settings(*, allow_placeholders: bool = False) -> StackSettings:
    """Read and validate this stack's config; stop the program with every problem if any (no traceback).

    The program calls it without arguments; only the tests' mock harness allows the placeholders.
    """
    raw, stack, region = read_config()
    ci_job = read_ci_job(os.environ)
    try:
        return parse_settings(raw, stack=stack, region=region, ci_job=ci_job, allow_placeholders=allow_placeholders)
    except SettingsError as error:
        raise pulumi.RunError(f"stack {stack!r}: {error}") from None
