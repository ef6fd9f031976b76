"""A stack's settings, read from Pulumi config once and validated before any resource exists.

This is the only module that reads `pulumi.Config`. `load_settings()` returns typed, frozen settings
or stops the program with one message listing every problem, each naming its config key::

    settings = load_settings()          # in stacks/__main__.py, before any component
    settings.network.zones              # 3 in prd, 2 in int/stg (from Pulumi.<stack>.yaml)
    Network(env, settings.network_args())   # components get their Args from here, plus other components' Outputs

Defaults live in Pulumi.yaml (the CLI merges them into each stack's config); environment differences
live only in Pulumi.<stack>.yaml, committed: CI and operators read the same file (README "Settings").
Rules for production stacks hang off the `production` setting, never off a stack's name.

Two things besides config decide what a run may do, both read once next to the config and passed in:
Pulumi.yaml's placeholders (`domain: example.com`) are refused unless a test opts in with
`parse_settings(..., allow_placeholders=True)`, and a run inside GitHub Actions (`read_ci_job`) must
keep the CI roles it runs as.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from app.contract import AppSettings, SettingsError
from app.contract.canary import CanaryRelease
from app.contract.settings import is_hostname
from infra import cidr
from infra.addons import ADDON_VERSIONS
from infra.ci_access import CI_ROLE_KINDS, CiAccessArgs, ci_role_name
from infra.ci_policy import (
    is_bucket_name,
    is_ecr_repository_url,
    is_github_oidc_provider_arn,
    is_github_repository,
    is_kms_key_arn,
    repository_arn,
)
from infra.cluster import ClusterArgs
from infra.dns import DnsArgs
from infra.helm_values import LETS_ENCRYPT_SERVERS, issuer_name
from infra.network import NetworkArgs
from infra.node_types import NODE_INSTANCE_TYPES
from infra.platform import CertIssuersArgs, IngressControllerArgs, LoadBalancerControllerArgs, MetricsServerArgs
from infra.policy import is_placeholder_name
from infra.registry import ImageRegistryArgs, is_managed_here
from infra.tags import resource_tags, tag_problems

PROJECT = "example-app"
SUPPORTED_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35")
"""Inside EKS standard support, ingress-nginx 1.15 (1.31–1.35) and cert-manager 1.21 (1.33–1.36)."""
PRODUCTION_MIN_ZONES = 3
PRODUCTION_MIN_REPLICAS = 3
MIN_NODES = 2
MIN_INGRESS_REPLICAS = 2
MIN_METRICS_SERVER_REPLICAS = 2
MIN_NODE_DISK_GB = 20
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)
"""The retention periods CloudWatch Logs accepts."""
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ROLE_NAME = re.compile(r"[\w+=,.@/-]{1,512}")

APP_KEYS = {
    "replicas": "replicas",
    "maxReplicas": "max_replicas",
    "cpuRequest": "cpu_request",
    "cpuLimit": "cpu_limit",
    "memoryRequest": "memory_request",
    "memoryLimit": "memory_limit",
    "workers": "workers",
    "threads": "threads",
    "router": "router",
}
"""Config keys that become AppSettings fields (app/contract/settings.py), config name → field name."""
APP_COUNT_KEYS = ("replicas", "maxReplicas", "workers", "threads")
"""App keys holding whole numbers; the others are Kubernetes quantities and stay text ("1" CPU)."""


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
        self, *, load_balancer_controller: pulumi.Resource | None = None
    ) -> IngressControllerArgs:
        """ingress-nginx, serving the app's IngressClass and namespace, behind the NLB's controller."""
        return IngressControllerArgs(
            replicas=self.platform.ingress_replicas,
            ingress_class=self.app.router_class,
            namespace=self.app.router_namespace,
            load_balancer_controller=load_balancer_controller,
        )

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

    def cert_issuers_args(self) -> CertIssuersArgs:
        """cert-manager, answering HTTP-01 challenges through the app's IngressClass."""
        return CertIssuersArgs(acme_email=self.platform.acme_email, ingress_class=self.app.router_class)

    def metrics_server_args(self) -> MetricsServerArgs:
        """metrics-server, the source of the CPU utilisation the app's HorizontalPodAutoscaler scales on."""
        return MetricsServerArgs(replicas=self.platform.metrics_server_replicas)

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


class _Reader:
    """Reads typed values from raw config strings, collecting every problem instead of stopping."""

    def __init__(self, raw: Mapping[str, str | None], project: str) -> None:
        self.raw = raw
        self.project = project
        self.problems: list[str] = []

    def key(self, name: str) -> str:
        return f"{self.project}:{name}"

    def _present(self, name: str, how: str = "") -> str | None:
        value = self.raw.get(name)
        if value is None:
            how = how or f"pulumi config set {name} <value>"
            self.problems.append(f"{self.key(name)} is not set: `{how}`")
        return value

    def text(self, name: str, *, optional: bool = False) -> str:
        if optional:
            return self.raw.get(name) or ""
        value = self._present(name)
        if value is not None and not value.strip():
            self.problems.append(f"{self.key(name)} is empty: `pulumi config set {name} <value>`")
        return (value or "").strip()

    def whole(self, name: str, minimum: int = 0) -> int:
        value = self._present(name)
        if value is None:
            return minimum
        try:
            number = int(float(value)) if float(value).is_integer() else None
        except ValueError:
            number = None
        if number is None:
            self.problems.append(f"{self.key(name)} must be a whole number, got {value!r}")
            return minimum
        if number < minimum:
            self.problems.append(f"{self.key(name)} must be ≥ {minimum}, got {number}")
        return number

    def flag(self, name: str) -> bool:
        value = self._present(name)
        if value is None:
            return False
        if value.strip().lower() not in ("true", "false"):
            self.problems.append(f"{self.key(name)} must be true or false, got {value!r}")
        return value.strip().lower() == "true"

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._present(name, f"pulumi config set --path '{name}[0]' <value>")
        if value is None:
            return ()
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.problems.append(f"{self.key(name)} must be a list of strings, got {value!r}")
            return ()
        return tuple(items)

    def check(self, ok: bool, name: str, message: str) -> None:
        if not ok:
            self.problems.append(f"{self.key(name)} {message}")


def parse_settings(
    raw: Mapping[str, str | None],
    *,
    stack: str,
    region: str | None,
    ci_job: CiJob | None = None,
    allow_placeholders: bool = False,
) -> StackSettings:
    """Typed settings from raw config strings (JSON for lists); raises SettingsError listing every problem.

    `ci_job` is the GitHub Actions job running the program (`read_ci_job`), None on an operator's machine.
    `allow_placeholders` lets tests run Pulumi.yaml's placeholder domain and contact; only code can set it.
    """
    read = _Reader(raw, PROJECT)
    if not region or not _REGION.fullmatch(region):
        read.problems.append(f"aws:region {region!r} is not an AWS region: `pulumi config set aws:region eu-west-1`")
    production = read.flag("production")
    network = _network(read, production)
    cluster = _cluster(read, stack, network, production)
    platform = _platform(read, production)
    dns = _dns(read)
    ci = _ci(read)
    _registry(read)
    if not allow_placeholders:
        _placeholders(read, stack, dns, platform)
    if ci_job is not None:
        _keeps_ci_access(read, stack, ci, ci_job)
    read.problems.extend(f"stack name: {p}" for p in tag_problems(resource_tags(PROJECT, stack)))
    platform_only = _platform_only(read)
    app = _app(read, production, dns.host, platform.cluster_issuer)
    release = _release(read)
    if read.problems or app is None or release is None:
        raise SettingsError(read.problems)
    return StackSettings(
        project=PROJECT,
        stack=stack,
        region=region or "",
        production=production,
        network=network,
        cluster=cluster,
        platform=platform,
        dns=dns,
        app=app,
        ci=ci,
        release=release,
        platform_only=platform_only,
    )


def _network(read: _Reader, production: bool) -> NetworkSettings:
    vpc_cidr = read.text("vpcCidr")
    read.problems.extend(cidr.cidr_problems(read.key("vpcCidr"), vpc_cidr) if vpc_cidr else [])
    zones = read.whole("availabilityZones", cidr.MIN_ZONES)
    read.check(zones <= cidr.MAX_ZONES, "availabilityZones", f"must be ≤ {cidr.MAX_ZONES}, got {zones}")
    nat_per_zone = read.flag("natGatewayPerZone")
    if production:
        read.check(
            zones >= PRODUCTION_MIN_ZONES,
            "availabilityZones",
            f"must be ≥ {PRODUCTION_MIN_ZONES} in production (survive a zone outage), got {zones}",
        )
        read.check(nat_per_zone, "natGatewayPerZone", "must be true in production (a shared NAT is one zone's outage)")
    return NetworkSettings(cidr=vpc_cidr, zones=zones, nat_per_zone=nat_per_zone)


def _cluster(read: _Reader, stack: str, network: NetworkSettings, production: bool) -> ClusterSettings:
    version = read.text("kubernetesVersion")
    read.check(
        not version or version in SUPPORTED_KUBERNETES_VERSIONS,
        "kubernetesVersion",
        f"{version!r} is not supported; use one of {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}",
    )
    read.check(  # the cluster's add-ons are pinned per Kubernetes version
        version not in SUPPORTED_KUBERNETES_VERSIONS or version in ADDON_VERSIONS,
        "kubernetesVersion",
        f"{version!r} has no pinned EKS add-on versions; pin them in infra/addons.py first",
    )
    service_cidr = read.text("serviceCidr")
    _service_cidr_check(read, service_cidr, network.cidr)
    instance_types = read.texts("nodeInstanceTypes")
    read.check(bool(instance_types) or read.raw.get("nodeInstanceTypes") is None, "nodeInstanceTypes", "is empty")
    for unknown in (t for t in instance_types if t not in NODE_INSTANCE_TYPES):
        read.problems.append(
            f"{read.key('nodeInstanceTypes')}: unknown instance type {unknown!r}; "
            f"use one of {', '.join(sorted(NODE_INSTANCE_TYPES))} (infra/node_types.py)"
        )
    capacity_type = read.text("nodeCapacityType")
    read.check(
        not capacity_type or capacity_type in CAPACITY_TYPES,
        "nodeCapacityType",
        f"must be one of {', '.join(CAPACITY_TYPES)}, got {capacity_type!r}",
    )
    if production:
        read.check(
            capacity_type != "SPOT",
            "nodeCapacityType",
            "must be ON_DEMAND in production (spot nodes vanish at 2 min notice)",
        )
    min_nodes = read.whole("nodeMinSize", MIN_NODES)
    desired = read.whole("nodeDesiredSize", MIN_NODES)
    max_nodes = read.whole("nodeMaxSize", MIN_NODES)
    read.check(
        min_nodes <= desired <= max_nodes, "nodeDesiredSize", f"must lie in nodeMinSize..nodeMaxSize, got {desired}"
    )
    public_cidrs = read.texts("apiPublicAccessCidrs")
    for block in public_cidrs:
        try:
            ipaddress.ip_network(block, strict=True)
        except ValueError as error:
            read.problems.append(f"{read.key('apiPublicAccessCidrs')}: {block!r} is not a CIDR block ({error})")
    admin_roles = read.texts("clusterAdminRoles")
    for role in admin_roles:
        read.check(bool(_ROLE_NAME.fullmatch(role)), "clusterAdminRoles", f"{role!r} is not an IAM role name")
    retention = read.whole("logRetentionDays", 1)
    read.check(
        retention in LOG_RETENTION_DAYS,
        "logRetentionDays",
        f"must be one of CloudWatch's periods ({', '.join(map(str, LOG_RETENTION_DAYS[:12]))} …), got {retention}",
    )
    return ClusterSettings(
        name=f"{PROJECT}-{stack}",
        version=version,
        service_cidr=service_cidr,
        instance_types=instance_types,
        capacity_type=capacity_type,
        min_nodes=min_nodes,
        desired_nodes=desired,
        max_nodes=max_nodes,
        disk_gb=read.whole("nodeDiskGb", MIN_NODE_DISK_GB),
        public_access_cidrs=public_cidrs,
        admin_roles=admin_roles,
        log_retention_days=retention,
        deletion_protection=read.flag("deletionProtection"),
    )


def _service_cidr_check(read: _Reader, service_cidr: str, vpc_cidr: str) -> None:
    if not service_cidr:
        return
    try:
        network = ipaddress.ip_network(service_cidr, strict=True)
    except ValueError as error:
        read.problems.append(f"{read.key('serviceCidr')} {service_cidr!r} is not a CIDR block ({error})")
        return
    read.check(
        network.is_private and 12 <= network.prefixlen <= 24,
        "serviceCidr",
        f"{service_cidr!r} must be a private range between /12 and /24 (EKS rule)",
    )
    if not cidr.cidr_problems("vpcCidr", vpc_cidr) and cidr.overlaps(service_cidr, vpc_cidr):
        read.problems.append(
            f"{read.key('serviceCidr')} {service_cidr!r} overlaps {read.key('vpcCidr')} {vpc_cidr!r}: "
            "pods could not reach VPC addresses that look like Services; pick disjoint ranges"
        )


def _platform(read: _Reader, production: bool) -> PlatformSettings:
    replicas = read.whole("ingressReplicas", MIN_INGRESS_REPLICAS)
    metrics_server_replicas = read.whole("metricsServerReplicas", MIN_METRICS_SERVER_REPLICAS)
    email = read.text("acmeEmail")
    read.check(not email or bool(_EMAIL.fullmatch(email)), "acmeEmail", f"{email!r} is not an email address")
    server = read.text("acmeServer")
    read.check(
        not server or server in LETS_ENCRYPT_SERVERS,
        "acmeServer",
        f"must be one of {', '.join(LETS_ENCRYPT_SERVERS)}, got {server!r}",
    )
    if production:
        read.check(
            server in ("", "production"), "acmeServer", "must be production in production (staging is untrusted)"
        )
    return PlatformSettings(
        ingress_replicas=replicas,
        metrics_server_replicas=metrics_server_replicas,
        acme_email=email,
        acme_server=server or "staging",
    )


RELEASE_KEYS = {
    "releaseStrategy": "strategy",
    "canarySteps": "steps",
    "canaryStepSeconds": "step_seconds",
    "canaryMinRequests": "min_requests",
    "canaryMaxErrorRate": "max_error_rate",
    "canaryAnalysisTraffic": "analysis_traffic",
}
"""Config keys of the release policy (app/contract/canary.py CanaryPolicy), config name → field name."""
CANARY_STEP_KEYS = ("canaryTag", "canaryWeight")
"""The canary step running now: set by infra/canary_driver.py, one `pulumi up` per step."""


def _release(read: _Reader) -> CanaryRelease | None:
    policy: dict[str, Any] = {}
    for key, name in RELEASE_KEYS.items():
        value = read.raw.get(key)
        if value is None:
            continue
        if name == "steps":  # "10,50,100": Pulumi's project config has no list of numbers
            policy[name] = [_number_or_text(step.strip()) for step in value.split(",")]
        elif name == "analysis_traffic":
            policy[name] = {"true": True, "false": False}.get(value.strip().lower(), value)
        else:
            policy[name] = _number_or_text(value)
    weight = read.raw.get("canaryWeight")
    try:
        return CanaryRelease.from_config(
            policy, read.raw.get("canaryTag") or None, None if weight in (None, "") else _number_or_text(weight)
        )
    except SettingsError as error:
        read.problems.extend(_release_key_names(read, problem) for problem in error.problems)
        return None


def _release_key_names(read: _Reader, problem: str) -> str:
    """Rewrite the policy's field names in a problem to the config keys a user sets."""
    for key, name in RELEASE_KEYS.items():
        problem = problem.replace(f"release.{name}", read.key(key))
    for key in CANARY_STEP_KEYS:
        problem = re.sub(rf"(?<![:\w]){key}\b", read.key(key), problem)
    return problem


def _ci(read: _Reader) -> CiSettings:
    ci = CiSettings(
        repository=read.text("githubRepository", optional=True).strip(),
        oidc_provider_arn=read.text("ciOidcProviderArn", optional=True).strip(),
        state_bucket=read.text("ciStateBucket", optional=True).strip(),
        secrets_key_arn=read.text("ciSecretsKeyArn", optional=True).strip(),
    )
    for name, value, valid, what in (
        ("githubRepository", ci.repository, is_github_repository, "the GitHub repository as owner/name"),
        ("ciOidcProviderArn", ci.oidc_provider_arn, is_github_oidc_provider_arn, "GitHub's OIDC provider ARN"),
        ("ciStateBucket", ci.state_bucket, is_bucket_name, "an S3 bucket name"),
        ("ciSecretsKeyArn", ci.secrets_key_arn, is_kms_key_arn, "a KMS key ARN"),
    ):
        read.check(not value or valid(value), name, f"{value!r} is not {what}")
    return ci


def _registry(read: _Reader) -> None:
    # The program looks each release image up in ECR before it deploys the app (stacks/release.py), and the
    # CI roles are granted on the repository: a bare name (this stack creates it) or another stack's ECR URL.
    image_repository = read.text("imageRepository", optional=True)
    read.check(
        not image_repository or is_managed_here(image_repository) or is_ecr_repository_url(image_repository),
        "imageRepository",
        f"{image_repository!r} must be an ECR repository URL (<account>.dkr.ecr.<region>.amazonaws.com/<name>) "
        "or the bare name of the repository this stack creates; the release image is looked up there",
    )


def _placeholders(read: _Reader, stack: str, dns: DnsSettings, platform: PlatformSettings) -> None:
    if dns.domain and is_placeholder_name(dns.domain):
        read.problems.append(
            f"{read.key('domain')} {dns.domain!r} is a placeholder (a reserved example domain, RFC 2606): set your "
            f"Route53 zone with `pulumi config set -s {stack} domain <your-zone>` and commit Pulumi.{stack}.yaml"
        )
    mail_domain = platform.acme_email.rpartition("@")[2]
    if mail_domain and is_placeholder_name(mail_domain):
        read.problems.append(
            f"{read.key('acmeEmail')} {platform.acme_email!r} is a placeholder (no mailbox at a reserved domain, and "
            "Let's Encrypt may refuse it): set a real address with "
            f"`pulumi config set -s {stack} acmeEmail <you@your-domain>` and commit Pulumi.{stack}.yaml"
        )


@dataclass(frozen=True, kw_only=True)
class CiJob:
    """The GitHub Actions job running the program (read by `read_ci_job`)."""

    repository: str
    """`$GITHUB_REPOSITORY`: the `owner/name` whose workflow runs, and whose OIDC token assumed the stack's role."""


def _keeps_ci_access(read: _Reader, stack: str, ci: CiSettings, job: CiJob) -> None:
    # A deploy or preview job runs as this stack's CI roles (infra/ci_access.py). With another or no
    # githubRepository the program would plan to re-trust or delete those roles: refuse, never plan it.
    fix = (
        f"`pulumi config set -s {stack} githubRepository {job.repository or '<owner>/<name>'}` and commit "
        f"Pulumi.{stack}.yaml (the value the roles were created with)"
    )
    if not job.repository:
        read.problems.append(
            "GITHUB_REPOSITORY is empty in a GitHub Actions run: cannot tell whether this update keeps the CI roles "
            "it runs as; run it from a workflow (GitHub sets GITHUB_REPOSITORY) or outside GitHub Actions"
        )
    elif not ci.repository:
        read.problems.append(
            f"{read.key('githubRepository')} is empty, but this run is a GitHub Actions job of {job.repository}: "
            f"the CI roles this job runs as would be deleted; fix it with {fix}"
        )
    elif ci.repository != job.repository:
        read.problems.append(
            f"{read.key('githubRepository')} is {ci.repository!r}, but this run is a GitHub Actions job of "
            f"{job.repository!r}: the CI roles this job runs as would be handed to another repository; "
            f"fix it with {fix}"
        )


def _platform_only(read: _Reader) -> bool:
    # No imageTag: the platform phase (README "First deploy"). What only a release sets must not come without it.
    if read.text("imageTag", optional=True).strip():
        return False
    for key in ("imageDigest", "canaryTag", "canaryWeight"):
        read.check(
            not (read.raw.get(key) or "").strip(),
            key,
            "is set without imageTag: a stack without imageTag runs no app yet; remove it "
            f"(`pulumi config rm {key}`) or set imageTag",
        )
    return True


def _dns(read: _Reader) -> DnsSettings:
    domain = read.text("domain")
    read.check(not domain or is_hostname(domain), "domain", f"{domain!r} is not a lower-case DNS name")
    prefix = read.text("hostPrefix")
    host = f"{prefix}.{domain}" if prefix and domain else ""
    read.check(not host or is_hostname(host), "hostPrefix", f"gives {host!r}, which is not a valid DNS name")
    return DnsSettings(domain=domain, host=host)


PLATFORM_PHASE_TAG = "no-release-yet"
"""The stand-in image tag of a stack in its platform phase: it checks the other app settings and is never deployed."""


def _app(read: _Reader, production: bool, host: str, issuer: str) -> AppSettings | None:
    tag = read.text("imageTag", optional=True).strip()
    values: dict[str, Any] = {}
    for key, field in APP_KEYS.items():
        value = read.raw.get(key)
        if value is not None:
            values[field] = _number_or_text(value) if key in APP_COUNT_KEYS else value
    replicas = values.get("replicas")
    if production and isinstance(replicas, int) and replicas < PRODUCTION_MIN_REPLICAS:
        read.problems.append(
            f"{read.key('replicas')} must be ≥ {PRODUCTION_MIN_REPLICAS} in production (one per zone), got {replicas}"
        )
    try:
        return AppSettings.from_mapping(
            values,
            # Stand-ins keep the other app checks running; the missing values are already reported.
            image_tag=tag or PLATFORM_PHASE_TAG,
            image_digest=read.text("imageDigest", optional=True),
            image_repository=read.text("imageRepository", optional=True) or PROJECT,
            host=host or PROJECT,
            tls_cluster_issuer=issuer,
        )
    except SettingsError as error:
        read.problems.extend(_name_keys(read, problem) for problem in error.problems)
        return None


_FIELD_TO_KEY = {field: key for key, field in APP_KEYS.items()} | {
    "image_tag": "imageTag",
    "image_digest": "imageDigest",
}


def _name_keys(read: _Reader, problem: str) -> str:
    """Rewrite AppSettings field names in a problem to the config keys a user sets."""

    def replace(match: re.Match[str]) -> str:
        return read.key(_FIELD_TO_KEY[match.group(0)])

    return re.sub(r"\b(" + "|".join(_FIELD_TO_KEY) + r")\b", replace, problem)


def _number_or_text(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def read_config() -> tuple[dict[str, str | None], str, str | None]:
    """Raw config strings for every key the settings use, plus the stack name and AWS region."""
    config = pulumi.Config(PROJECT)
    raw = {name: config.get(name) for name in CONFIG_KEYS}
    return raw, pulumi.get_stack(), pulumi.Config("aws").get("region")


def read_ci_job(environ: Mapping[str, str]) -> CiJob | None:
    """The GitHub Actions job running the program, or None outside GitHub Actions.

    GitHub sets GITHUB_ACTIONS=true and GITHUB_REPOSITORY=<owner>/<name> in every job, and a workflow
    cannot overwrite GITHUB_* variables (docs.github.com, Actions "Variables reference").
    """
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    return CiJob(repository=environ.get("GITHUB_REPOSITORY", "").strip())


CONFIG_KEYS = [
    "production",
    "imageTag",
    "imageDigest",
    "imageRepository",
    "vpcCidr",
    "availabilityZones",
    "natGatewayPerZone",
    "serviceCidr",
    "kubernetesVersion",
    "nodeInstanceTypes",
    "nodeCapacityType",
    "nodeMinSize",
    "nodeDesiredSize",
    "nodeMaxSize",
    "nodeDiskGb",
    "apiPublicAccessCidrs",
    "clusterAdminRoles",
    "logRetentionDays",
    "deletionProtection",
    "ingressReplicas",
    "metricsServerReplicas",
    "acmeEmail",
    "acmeServer",
    "domain",
    "hostPrefix",
    "githubRepository",
    "ciOidcProviderArn",
    "ciStateBucket",
    "ciSecretsKeyArn",
    *APP_KEYS,
    *RELEASE_KEYS,
    *CANARY_STEP_KEYS,
]
"""Every `example-app:` key the program reads; Pulumi.yaml documents each with its default."""


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
