"""Every `example-app:` config key of a stack, declared once: type, default, bounds, production rule, description.

`StackConfig` is the one declaration (pydantic v2). A field's alias is its config key, its docstring the
description Pulumi.yaml shows; everything else derives from it:

    CONFIG_KEYS                     # the keys the program accepts; any other `example-app:` key is refused
    project_config()                # Pulumi.yaml's `config:` declarations (python -m stacks.pulumi_yaml writes them)
    validate_config(raw, run=...)   # typed config, or every problem as `example-app:<key> …` with what to run

Keys the deployment contract consumes are named like its fields (app/contract AppSettings, CanaryPolicy) and
take their defaults from it; the contract judges their bounds (`contract_keys` names its problems by key).
Rules for production stacks are `InProduction` marks on the keys they constrain, never a stack's name.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from app.contract import AppSettings
from app.contract.canary import CanaryPolicy, Strategy
from app.contract.settings import is_hostname
from infra import cidr
from infra.addons import ADDON_VERSIONS
from infra.ci_policy import (
    is_bucket_name,
    is_ecr_repository_url,
    is_github_oidc_provider_arn,
    is_github_repository,
    is_kms_key_arn,
)
from infra.helm_values import LETS_ENCRYPT_SERVERS
from infra.node_types import NODE_INSTANCE_TYPES
from infra.policy import is_placeholder_name
from infra.registry import is_managed_here

PROJECT = "example-app"
SUPPORTED_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35")
"""Inside EKS standard support, ingress-nginx 1.15 (1.31–1.35) and cert-manager 1.21 (1.33–1.36)."""
PRODUCTION_MIN_ZONES = 3
PRODUCTION_MIN_REPLICAS = 3
MIN_NODES = 2
MIN_INGRESS_REPLICAS = 2
MIN_METRICS_SERVER_REPLICAS = 2
MIN_NODE_DISK_GB = 20
CapacityType = Literal["ON_DEMAND", "SPOT"]
CAPACITY_TYPES: tuple[CapacityType, ...] = typing.get_args(CapacityType)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)
"""The retention periods CloudWatch Logs accepts."""
_HTTPS_URL = re.compile(r"https://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ROLE_NAME = re.compile(r"[\w+=,.@/-]{1,512}")


def is_https_url(value: str) -> bool:
    """An https:// URL with a dotted host and no whitespace (a chat service's incoming webhook)."""
    return bool(_HTTPS_URL.fullmatch(value))


@dataclass(frozen=True, kw_only=True)
class CiJob:
    """The GitHub Actions job running the program (read by `stacks.settings.read_ci_job`)."""

    repository: str
    """`$GITHUB_REPOSITORY`: the `owner/name` whose workflow runs, and whose OIDC token assumed the stack's role."""


@dataclass(frozen=True, kw_only=True)
class Run:
    """What besides config decides whether this run may go ahead (pydantic's validation context)."""

    stack: str
    """The stack's name, for the commands a problem names (`pulumi config set -s <stack> …`)."""
    allow_placeholders: bool = False
    """Accept Pulumi.yaml's placeholder domain and contact; only code (the tests' harness) sets it."""
    ci_job: CiJob | None = None
    """The GitHub Actions job running the program; None on an operator's machine."""


def _refused(problem: str) -> PydanticCustomError:
    """One problem with one key, worded to follow `example-app:<key> ` (see `problem_text`)."""
    return PydanticCustomError("setting", "{problem}", {"problem": problem})


@dataclass(frozen=True)
class InProduction:
    """A stricter rule for a key in stacks with `production: true`: at least `at_least`, or exactly `value`."""

    why: str
    at_least: int | None = None
    value: object = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` in production, or None."""
        if self.at_least is not None:
            return (
                None if value >= self.at_least else f"must be ≥ {self.at_least} in production ({self.why}), got {value}"
            )
        return None if value == self.value else f"must be {_shown(self.value)} in production ({self.why})"

    def describe(self) -> str:
        """The rule as Pulumi.yaml's description states it."""
        rule = f"≥ {self.at_least}" if self.at_least is not None else _shown(self.value)
        return f"Production stacks need {rule} ({self.why})."


def _shown(value: object) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------- how config strings become values


def _true_or_false(value: object) -> object:
    # Pulumi's boolean type takes only "true" and "false" (pulumi/pulumi v3.259.0 sdk/go/common/workspace/project.go
    # ValidateConfigValue); pydantic's lax bool would also take "yes", "on" and "1".
    if not isinstance(value, str):
        return value
    if value.strip() not in ("true", "false"):
        raise _refused(f"must be true or false, got {value!r}")
    return value.strip() == "true"


def _json_list(value: object) -> object:
    # The engine hands a program every array as JSON text (sdk/python/lib/pulumi/runtime/config.py get_config).
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise _refused(f"must be a list of strings, got {value!r}")
    return tuple(item.strip() for item in items)


def _comma_separated(value: object) -> object:
    # "10,50,100", as operators set it: `pulumi config set canarySteps 10,50,100`.
    if not isinstance(value, str):
        return value
    parts = tuple(part.strip() for part in value.split(","))
    wrong = [part for part in parts if not part.isdigit()]
    if wrong:
        raise _refused(f"{', '.join(map(repr, wrong))} is not a whole number; give weights like 10,50,100")
    return parts


def _empty_is_unset(value: object) -> object:
    # Pulumi.yaml's default "" stands for "not set": a declared key without a default is one the CLI requires.
    return None if isinstance(value, str) and not value.strip() else value


Flag = Annotated[bool, BeforeValidator(_true_or_false)]
Texts = Annotated[tuple[str, ...], BeforeValidator(_json_list)]
Weights = Annotated[tuple[int, ...], BeforeValidator(_comma_separated)]
Required = Annotated[str, Field(min_length=1)]
Unset = Annotated[int | None, BeforeValidator(_empty_is_unset)]


def _contract_default(model: type[AppSettings] | type[CanaryPolicy], name: str) -> Any:
    """The contract's own default for its field `name`: a key it consumes never restates it."""
    (found,) = (f for f in dataclasses.fields(model) if f.name == name)
    return found.default


# ---------------------------------------------------------------- the declaration


class StackConfig(BaseModel):
    """One stack's `example-app:` config, typed and checked (Pulumi.yaml defaults, then Pulumi.<stack>.yaml).

    Field order matters twice: it is Pulumi.yaml's order, and a check across keys sees only the keys
    declared above it (`production` first, so every production rule sees it).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",  # an unknown key is a typo: refused, naming the closest known key
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        validate_default=True,  # production rules hold for defaults too
        str_strip_whitespace=True,
        use_attribute_docstrings=True,
    )

    production: Flag = False
    """Apply production rules (≥ 3 zones and app replicas, NAT per zone, Let's Encrypt production, no spot)."""
    image_tag: str = ""
    """The release to run (the git tag the image was built from, e.g. v1.2.3), set by the deploy workflow on each up
    and never committed. Empty - the platform phase, everything but the app (README "First deploy")."""
    image_digest: str = ""
    """Optional sha256 digest of that image; when set, pods run repository@digest."""
    image_repository: str = ""
    """Release images' ECR repository - empty or a bare name (this stack creates it), else another stack's
    repository URL."""

    vpc_cidr: Required = "10.20.0.0/16"
    """VPC range (/16–/20, private). Private subnets get half of it, public a quarter."""
    availability_zones: Annotated[
        int,
        Field(ge=cidr.MIN_ZONES, le=cidr.MAX_ZONES),
        InProduction(at_least=PRODUCTION_MIN_ZONES, why="survive a zone outage"),
    ] = 2
    """Availability zones for subnets and nodes (2–4)."""
    nat_gateway_per_zone: Annotated[Flag, InProduction(value=True, why="a shared NAT is one zone's outage")] = False
    """One NAT gateway per zone (zone-outage proof) instead of one shared gateway (cheaper)."""
    service_cidr: Required = "172.20.0.0/16"
    """Kubernetes Service range (private, /12–/24, disjoint from vpcCidr)."""

    kubernetes_version: Required = "1.35"
    """EKS Kubernetes minor version (1.33–1.35)."""
    node_instance_types: Annotated[Texts, Field(min_length=1)] = ("t3.large",)
    """Node instance types (infra/node_types.py lists the supported ones)."""
    node_capacity_type: Annotated[
        CapacityType, InProduction(value="ON_DEMAND", why="spot nodes vanish at 2 min notice")
    ] = "ON_DEMAND"
    """ON_DEMAND or SPOT."""
    node_min_size: Annotated[int, Field(ge=MIN_NODES)] = 2
    """Nodes that always run (≥ 2, so a drained node never leaves the app without a home)."""
    node_max_size: Annotated[int, Field(ge=MIN_NODES)] = 4
    """Most nodes the group may grow to."""
    node_desired_size: Annotated[int, Field(ge=MIN_NODES)] = 2
    """Nodes at creation (between nodeMinSize and nodeMaxSize); later changes by the autoscaler are kept."""
    node_disk_gb: Annotated[int, Field(ge=MIN_NODE_DISK_GB)] = 40
    """Encrypted gp3 root volume per node, in GiB (≥ 20)."""
    api_public_access_cidrs: Texts = ("0.0.0.0/0",)
    """Ranges allowed to reach the Kubernetes API from the internet (GitHub-hosted runners need it open; IAM
    still authenticates)."""
    cluster_admin_roles: Texts = ()
    """IAM role names (with path, in this account) granted cluster-admin through EKS access entries; the role you
    run `pulumi up` as must be one of them (or be this stack's CI role)."""
    deletion_protection: Flag = False
    """EKS refuses to delete the cluster until this is turned off again (set it false and `pulumi up` before a
    destroy)."""
    log_retention_days: int = 30
    """Days to keep EKS control-plane logs (a CloudWatch retention period)."""

    ingress_replicas: Annotated[int, Field(ge=MIN_INGRESS_REPLICAS)] = 2
    """ingress-nginx controller pods (≥ 2)."""
    metrics_server_replicas: Annotated[int, Field(ge=MIN_METRICS_SERVER_REPLICAS)] = 2
    """metrics-server pods (≥ 2), the source of the CPU figures the app's autoscaler scales on."""
    acme_email: Required = "hostmaster@example.com"
    """Contact for Let's Encrypt expiry notices. The placeholder is refused - set a real address before the first
    deploy."""
    acme_server: Annotated[str, InProduction(value="production", why="staging is untrusted")] = "production"
    """Let's Encrypt server that signs the app's certificate, staging or production."""
    domain: Required = "example.com"
    """Route53 public hosted zone the app's host lives in. The placeholder is refused - set your zone before the
    first deploy."""
    host_prefix: Required = "example-app"
    """The app's host name inside the zone, without the zone (e.g. example-app.int)."""

    github_repository: str = ""
    """GitHub repository (owner/name) whose deploy workflows get OIDC roles here (infra/ci_access.py); empty
    creates none. Inside GitHub Actions it must be the running repository."""
    ci_oidc_provider_arn: str = ""
    """GitHub's OIDC provider if another stack in this AWS account created it; empty creates it here."""
    ci_state_bucket: str = ""
    """S3 bucket of a self-managed Pulumi backend, so the CI roles reach this stack's state; empty for Pulumi
    Cloud."""
    ci_secrets_key_arn: str = ""
    """KMS key of an awskms:// secrets provider the CI roles may use; empty for Pulumi Cloud or passphrase
    secrets."""

    alert_chat_webhook: str = ""
    """Slack-format incoming-webhook URL that Alertmanager posts every alert to - a secret: `pulumi config set
    --secret alertChatWebhook https://…`. Empty keeps alerts in Alertmanager (README "Observability")."""

    # The app: AppSettings (app/contract/settings.py) fields of the same name; the contract owns defaults and bounds.
    replicas: Annotated[int, InProduction(at_least=PRODUCTION_MIN_REPLICAS, why="one per zone")] = _contract_default(
        AppSettings, "replicas"
    )
    """App pods serving at all times (≥ 2)."""
    max_replicas: int = _contract_default(AppSettings, "max_replicas")
    """Upper bound for the app's HorizontalPodAutoscaler."""
    cpu_request: str = _contract_default(AppSettings, "cpu_request")
    """CPU reserved per app pod."""
    cpu_limit: str = _contract_default(AppSettings, "cpu_limit")
    """CPU ceiling per app pod."""
    memory_request: str = _contract_default(AppSettings, "memory_request")
    """Memory reserved per app pod."""
    memory_limit: str = _contract_default(AppSettings, "memory_limit")
    """Memory ceiling per app pod."""
    workers: int = _contract_default(AppSettings, "workers")
    """gunicorn worker processes per pod."""
    threads: int = _contract_default(AppSettings, "threads")
    """Threads per gunicorn worker."""
    router: str = _contract_default(AppSettings, "router")
    """What routes requests to the app, ingress-nginx (retired upstream, the default) or gateway-api (Envoy Gateway);
    switching a running stack is a cut-over (README "Routing")."""

    # The release policy: CanaryPolicy (app/contract/canary.py) fields of the same name, under release/canary keys.
    strategy: Strategy = Field(_contract_default(CanaryPolicy, "strategy"), alias="releaseStrategy")
    """How a new imageTag reaches users - rolling (surge rollout) or canary (infra/canary_driver.py; README
    "Canary releases")."""
    steps: Weights = Field(_contract_default(CanaryPolicy, "steps"), alias="canarySteps")
    """Canary weights in percent, rising, comma-separated; the stable Deployment is promoted after the last."""
    step_seconds: int = Field(_contract_default(CanaryPolicy, "step_seconds"), alias="canaryStepSeconds")
    """Minimum seconds each canary step is observed before it may pass."""
    min_requests: int = Field(_contract_default(CanaryPolicy, "min_requests"), alias="canaryMinRequests")
    """Canary requests a step must see before its error rate counts (analysis traffic fills a quiet step)."""
    max_error_rate: float = Field(_contract_default(CanaryPolicy, "max_error_rate"), alias="canaryMaxErrorRate")
    """Highest share of 5xx canary answers a step tolerates, as a fraction (0.01 = 1 %)."""
    analysis_traffic: Flag = Field(_contract_default(CanaryPolicy, "analysis_traffic"), alias="canaryAnalysisTraffic")
    """Send marked requests (X-Canary - always) when users send fewer than canaryMinRequests in a step."""
    canary_tag: str = ""
    """The release running as a canary beside imageTag; set and removed by infra/canary_driver.py."""
    canary_weight: Unset = None
    """Percent of requests the canary gets, a whole number (set per step by infra/canary_driver.py; empty - the
    first step)."""

    # ------------------------------------------------------------ checks of one key (and the keys above it)

    @field_validator("*")
    @classmethod
    def _production_rule(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("production") is True and info.field_name is not None:
            for rule in cls.model_fields[info.field_name].metadata:
                if isinstance(rule, InProduction) and (problem := rule.problem(value)):
                    raise _refused(problem)
        return value

    @field_validator("image_digest", "canary_tag", "canary_weight")
    @classmethod
    def _only_with_a_release(cls, value: Any, info: ValidationInfo) -> Any:
        # No imageTag: the platform phase (README "First deploy"). What only a release sets must not come without it.
        if value not in ("", None) and info.data.get("image_tag") == "":
            key = _alias(info)
            raise _refused(
                "is set without imageTag: a stack without imageTag runs no app yet; remove it "
                f"(`pulumi config rm {key}`) or set imageTag"
            )
        return value

    @field_validator("image_repository")
    @classmethod
    def _registry(cls, value: str) -> str:
        # The program looks each release image up in ECR before it deploys the app (stacks/release.py), and the
        # CI roles are granted on the repository: a bare name (this stack creates it) or another stack's ECR URL.
        if value and not is_managed_here(value) and not is_ecr_repository_url(value):
            raise _refused(
                f"{value!r} must be an ECR repository URL (<account>.dkr.ecr.<region>.amazonaws.com/<name>) "
                "or the bare name of the repository this stack creates; the release image is looked up there"
            )
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_range(cls, value: str) -> str:
        problems = [p.lstrip() for p in cidr.cidr_problems("", value)]
        if problems:
            raise _refused("; ".join(problems))
        return value

    @field_validator("service_cidr")
    @classmethod
    def _service_range(cls, value: str, info: ValidationInfo) -> str:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            raise _refused(f"{value!r} is not a CIDR block ({error})") from None
        if not (network.is_private and 12 <= network.prefixlen <= 24):
            raise _refused(f"{value!r} must be a private range between /12 and /24 (EKS rule)")
        vpc = info.data.get("vpc_cidr")
        if vpc and cidr.overlaps(value, vpc):
            raise _refused(
                f"{value!r} overlaps {PROJECT}:vpcCidr {vpc!r}: pods could not reach VPC addresses that look like "
                "Services; pick disjoint ranges"
            )
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise _refused(f"{value!r} is not supported; use one of {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}")
        if value not in ADDON_VERSIONS:  # the cluster's add-ons are pinned per Kubernetes version
            raise _refused(f"{value!r} has no pinned EKS add-on versions; pin them in infra/addons.py first")
        return value

    @field_validator("node_instance_types")
    @classmethod
    def _known_instance_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in NODE_INSTANCE_TYPES]
        if unknown:
            raise _refused(
                f"has unknown instance type {', '.join(map(repr, unknown))}; "
                f"use one of {', '.join(sorted(NODE_INSTANCE_TYPES))} (infra/node_types.py)"
            )
        return value

    @field_validator("node_desired_size")
    @classmethod
    def _between_min_and_max(cls, value: int, info: ValidationInfo) -> int:
        low, high = info.data.get("node_min_size"), info.data.get("node_max_size")
        if low is not None and high is not None and not low <= value <= high:
            raise _refused(f"must lie in nodeMinSize..nodeMaxSize ({low}..{high}), got {value}")
        return value

    @field_validator("api_public_access_cidrs")
    @classmethod
    def _cidr_blocks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for block in value:
            try:
                ipaddress.ip_network(block, strict=True)
            except ValueError as error:
                raise _refused(f"{block!r} is not a CIDR block ({error})") from None
        return value

    @field_validator("cluster_admin_roles")
    @classmethod
    def _role_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [role for role in value if not _ROLE_NAME.fullmatch(role)]
        if wrong:
            raise _refused(f"{', '.join(map(repr, wrong))} is not an IAM role name (letters, digits, +=,.@/-)")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_period(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            periods = ", ".join(map(str, LOG_RETENTION_DAYS[:12]))
            raise _refused(f"must be one of CloudWatch's periods ({periods} …), got {value}")
        return value

    @field_validator("acme_server")
    @classmethod
    def _lets_encrypt_server(cls, value: str) -> str:
        if value not in LETS_ENCRYPT_SERVERS:
            raise _refused(f"must be one of {', '.join(LETS_ENCRYPT_SERVERS)}, got {value!r}")
        return value

    @field_validator("acme_email")
    @classmethod
    def _contact(cls, value: str, info: ValidationInfo) -> str:
        if not _EMAIL.fullmatch(value):
            raise _refused(f"{value!r} is not an email address")
        run = _run(info)
        if not run.allow_placeholders and is_placeholder_name(value.rpartition("@")[2]):
            raise _refused(
                f"{value!r} is a placeholder (no mailbox at a reserved domain, and Let's Encrypt may refuse it): "
                f"set a real address with `pulumi config set -s {run.stack} acmeEmail <you@your-domain>` and commit "
                f"Pulumi.{run.stack}.yaml"
            )
        return value

    @field_validator("domain")
    @classmethod
    def _zone(cls, value: str, info: ValidationInfo) -> str:
        if not is_hostname(value):
            raise _refused(f"{value!r} is not a lower-case DNS name")
        run = _run(info)
        if not run.allow_placeholders and is_placeholder_name(value):
            raise _refused(
                f"{value!r} is a placeholder (a reserved example domain, RFC 2606): set your Route53 zone with "
                f"`pulumi config set -s {run.stack} domain <your-zone>` and commit Pulumi.{run.stack}.yaml"
            )
        return value

    @field_validator("host_prefix")
    @classmethod
    def _host(cls, value: str, info: ValidationInfo) -> str:
        domain = info.data.get("domain")
        if domain and not is_hostname(host := f"{value}.{domain}"):
            raise _refused(f"gives {host!r}, which is not a valid DNS name")
        return value

    @field_validator("github_repository", "ci_oidc_provider_arn", "ci_state_bucket", "ci_secrets_key_arn")
    @classmethod
    def _ci_names(cls, value: str, info: ValidationInfo) -> str:
        valid, what = {
            "github_repository": (is_github_repository, "the GitHub repository as owner/name"),
            "ci_oidc_provider_arn": (is_github_oidc_provider_arn, "GitHub's OIDC provider ARN"),
            "ci_state_bucket": (is_bucket_name, "an S3 bucket name"),
            "ci_secrets_key_arn": (is_kms_key_arn, "a KMS key ARN"),
        }[str(info.field_name)]
        if value and not valid(value):
            raise _refused(f"{value!r} is not {what}")
        return value

    @field_validator("alert_chat_webhook")
    @classmethod
    def _chat_webhook(cls, value: str) -> str:
        # The value is a secret: the problem never repeats it.
        if value and not is_https_url(value):
            raise _refused("is not an https:// URL; `pulumi config set --secret alertChatWebhook https://…`")
        return value

    @field_validator("github_repository")
    @classmethod
    def _keeps_ci_access(cls, value: str, info: ValidationInfo) -> str:
        # A deploy or preview job runs as this stack's CI roles (infra/ci_access.py). With another or no
        # githubRepository the program would plan to re-trust or delete those roles: refuse, never plan it.
        run = _run(info)
        job = run.ci_job
        if job is None or (job.repository and value == job.repository):
            return value
        if not job.repository:
            raise _refused(
                "cannot be checked: GITHUB_REPOSITORY is empty in a GitHub Actions run, so whether this update keeps "
                "the CI roles it runs as is unknown; run it from a workflow (GitHub sets GITHUB_REPOSITORY) or "
                "outside GitHub Actions"
            )
        fix = (
            f"`pulumi config set -s {run.stack} githubRepository {job.repository}` and commit "
            f"Pulumi.{run.stack}.yaml (the value the roles were created with)"
        )
        if not value:
            raise _refused(
                f"is empty, but this run is a GitHub Actions job of {job.repository}: the CI roles this job runs as "
                f"would be deleted; fix it with {fix}"
            )
        raise _refused(
            f"is {value!r}, but this run is a GitHub Actions job of {job.repository!r}: the CI roles this job runs "
            f"as would be handed to another repository; fix it with {fix}"
        )


def _run(info: ValidationInfo) -> Run:
    run = info.context
    return run if isinstance(run, Run) else Run(stack="<stack>")


def _alias(info: ValidationInfo) -> str:
    return str(StackConfig.model_fields[str(info.field_name)].alias)


_FIELDS: dict[str, str] = {str(field.alias): name for name, field in StackConfig.model_fields.items()}
"""Config key → field name."""
CONFIG_KEYS: tuple[str, ...] = tuple(_FIELDS)
"""Every `example-app:` key the program reads, in Pulumi.yaml's order."""
APP_FIELDS = tuple(
    name for name in StackConfig.model_fields if name in {f.name for f in dataclasses.fields(AppSettings)}
)
"""The keys' fields that are AppSettings fields of the same name."""
POLICY_FIELDS = tuple(
    name for name in StackConfig.model_fields if name in {f.name for f in dataclasses.fields(CanaryPolicy)}
)
"""The keys' fields that are CanaryPolicy fields of the same name."""


# ---------------------------------------------------------------- validation and its one message format


@dataclass(frozen=True)
class Verdict:
    """The schema's answer: typed config, and every problem (each naming its config key)."""

    config: StackConfig | None
    """The validated config; None when a problem was found."""
    problems: tuple[str, ...]
    refused: frozenset[str]
    """Keys whose values were refused (unknown keys among them)."""


def validate_config(raw: Mapping[str, str], *, run: Run) -> Verdict:
    """Check raw config strings (keys without the project's prefix) against the declaration, every key at once."""
    try:
        return Verdict(StackConfig.model_validate(raw, context=run), (), frozenset())
    except ValidationError as error:
        errors = error.errors()
        return Verdict(None, tuple(problem_text(e) for e in errors), frozenset(map(error_key, errors)))


def stand_in(raw: Mapping[str, str], refused: frozenset[str]) -> tuple[StackConfig, frozenset[str]]:
    """A whole config that keeps accepted values and takes defaults elsewhere, and the keys that took defaults.

    While some keys have problems, the deployment contract still judges the accepted app and release keys
    with it, so every problem is reported at once. It leaves out what judges the stack rather than the
    contract's inputs (`production`'s rules, placeholders, the CI job); a default that clashes with an
    accepted value (vpcCidr refused, serviceCidr inside the default range) takes that key to its default too.
    """
    dropped = {*refused, "production"}
    for _ in CONFIG_KEYS:  # each round drops at least one more key
        kept = {key: value for key, value in raw.items() if key not in dropped}
        try:
            return StackConfig.model_validate(kept, context=Run(stack="", allow_placeholders=True)), frozenset(dropped)
        except ValidationError as error:
            clashing = set(map(error_key, error.errors())) & kept.keys()
            if not clashing:
                break
            dropped |= clashing
    return StackConfig.model_validate({}, context=Run(stack="", allow_placeholders=True)), frozenset(CONFIG_KEYS)


def error_key(error: ErrorDetails) -> str:
    """The config key an error is about (pydantic names a key by field name when its default is refused)."""
    key = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "extra_forbidden" or key not in StackConfig.model_fields:
        return key
    return str(StackConfig.model_fields[key].alias)


def problem_text(error: ErrorDetails) -> str:
    """One pydantic error as our message: `example-app:<key> <what is wrong>[: <what to run>]`."""
    key = error_key(error)
    name, kind, value, ctx = f"{PROJECT}:{key}", error["type"], error["input"], error.get("ctx") or {}
    if kind == "setting":
        return f"{name} {ctx['problem']}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key, CONFIG_KEYS, n=1)
        guess = f" (did you mean {PROJECT}:{close[0]}?)" if close else ""
        return f"{name} is not a setting of this project{guess}; remove it with `pulumi config rm {key}`"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{name} must be a whole number, got {value!r}"
    if kind in ("float_parsing", "float_type"):
        return f"{name} must be a number, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = f"≥ {ctx['ge']}" if "ge" in ctx else f"≤ {ctx['le']}"
        return f"{name} must be {bound}, got {value}"
    if kind == "literal_error":
        choices = typing.get_args(StackConfig.model_fields[_FIELDS[key]].annotation)
        return f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}"
    if kind in ("string_too_short", "too_short"):
        return f"{name} is empty: `{set_command(key)}`"
    return f"{name} {error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}"


def set_command(key: str) -> str:
    """How an operator sets `key` (lists item by item)."""
    if _pulumi_type(StackConfig.model_fields[_FIELDS[key]])["type"] == "array":
        return f"pulumi config set --path '{key}[0]' <value>"
    return f"pulumi config set {key} <value>"


_CONTRACT_NAMES = {
    **{name: str(StackConfig.model_fields[name].alias) for name in APP_FIELDS},
    **{f"release.{name}": str(StackConfig.model_fields[name].alias) for name in POLICY_FIELDS},
    **{key: key for key in ("canaryTag", "canaryWeight")},  # CanaryStep and CanaryRelease name these by key
}
_CONTRACT_NAME = re.compile(r"(?<![\w.:])(" + "|".join(map(re.escape, _CONTRACT_NAMES)) + r")\b")


def contract_keys(problem: str) -> str:
    """A deployment contract problem, its field names (`image_tag`, `release.steps`) replaced by config keys."""
    return _CONTRACT_NAME.sub(lambda match: f"{PROJECT}:{_CONTRACT_NAMES[match.group(1)]}", problem)


def names_a_key(problem: str, keys: frozenset[str]) -> bool:
    """Whether a problem (already in config keys) is about one of `keys`."""
    return any(re.search(rf"{PROJECT}:{re.escape(key)}\b", problem) for key in keys)


# ---------------------------------------------------------------- Pulumi.yaml's declarations


def _pulumi_type(field: FieldInfo) -> dict[str, Any]:
    """How Pulumi.yaml declares a field (sdk/go/common/workspace/project.json: string, integer, boolean, array).

    Pulumi has no number type and no "unset": fractions, comma-separated weights and optional numbers are
    declared as strings (an optional number's default "" means unset).
    """
    annotation = field.annotation
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if typing.get_origin(annotation) is tuple and typing.get_args(annotation)[0] is str:
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def _pulumi_default(field: FieldInfo) -> Any:
    value = field.default
    kind = _pulumi_type(field)["type"]
    if kind == "array":
        return list(value)
    if kind == "string":
        if value is None:
            return ""
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return int(value) if kind == "integer" else value


def project_config() -> dict[str, dict[str, Any]]:
    """Pulumi.yaml's `config:` declarations: each key's type, description and default, all from `StackConfig`.

    Every key has a default: the CLI requires a declared key of the project's namespace that has neither a
    default nor a value in the stack (pulumi/pulumi v3.259.0 pkg/workspace/config.go mergeConfig,
    "is missing configuration value"), and merges the defaults into the config the program reads.
    """
    declared: dict[str, dict[str, Any]] = {}
    for field in StackConfig.model_fields.values():
        rules = [rule.describe() for rule in field.metadata if isinstance(rule, InProduction)]
        description = " ".join([" ".join((field.description or "").split()), *rules])
        declared[str(field.alias)] = {
            **_pulumi_type(field),
            "description": description,
            "default": _pulumi_default(field),
        }
    return declared
