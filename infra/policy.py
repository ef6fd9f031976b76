"""Rules every resource of a stack must satisfy, checked over the registered graph before anything ships.

Pure Python over plain data: a `Resource` is a type token, a name and its inputs, with secret inputs
wrapped in `Secret`. tests/infra runs every rule over each real stack's graph (under Pulumi mocks)
and proves each rule catches a deliberately bad resource::

    violations = check([Resource(type="aws:kms/key:Key", name="k", inputs={})], project="p", stack="s")
    # [Violation(rule='kms-rotation', resource='aws:kms/key:Key k', message='…')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.tags import PROJECT_TAG, STACK_TAG


@dataclass(frozen=True)
class Secret:
    """An input Pulumi treats as secret (encrypted in state, masked in output)."""

    value: Any


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One registered resource: its type token, logical name and inputs (camelCase, as the engine sees them)."""

    type: str
    name: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Violation:
    """A broken rule on one resource."""

    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"


Rule = Callable[[Resource, str, str], Iterator[str]]

# AWS types that carry tags, and those whose API has none. An AWS type in neither set is a violation
# too, so a new kind of resource is classified deliberately instead of slipping by untagged.
TAGGABLE = frozenset(
    {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ecr/repository:Repository",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }
)
UNTAGGABLE = frozenset(
    {
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:route53/record:Record",
    }
)
PUBLIC_PORTS = frozenset({80, 443})
"""The only ports the internet may reach: the load balancer's HTTP (redirect/ACME) and HTTPS."""
_ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|kubeconfig|credentials?)$")
_SECRET_TEXT = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
)
_EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")


def no_open_ingress(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Security groups admit the whole internet only on the load balancer's ports 80 and 443."""
    for rule in _ingress_rules(resource):
        sources = {str(c) for c in (rule.get("cidrBlocks") or []) + (rule.get("ipv6CidrBlocks") or [])}
        sources |= {str(rule[k]) for k in ("cidrIpv4", "cidrIpv6") if rule.get(k)}
        if not sources & _ANYWHERE:
            continue
        low, high = int(rule.get("fromPort", 0) or 0), int(rule.get("toPort", 65535) or 0)
        protocol = str(rule.get("protocol", rule.get("ipProtocol", "-1")))
        if protocol == "-1" or low != high or low not in PUBLIC_PORTS:
            opened = sorted(sources & _ANYWHERE)
            yield f"admits {opened} on {protocol} {low}-{high}; only ports 80 and 443 may be public"


def _ingress_rules(resource: Resource) -> list[Mapping[str, Any]]:
    if resource.type == "aws:ec2/securityGroup:SecurityGroup":
        return list(resource.inputs.get("ingress") or [])
    if resource.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and resource.inputs.get("type") == "ingress":
        return [resource.inputs]
    if resource.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        return [resource.inputs]
    return []


def tagged(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Every taggable AWS resource names its project and stack (cost and ownership per environment)."""
    if not resource.type.startswith("aws:") or resource.type in UNTAGGABLE:
        return
    if resource.type not in TAGGABLE:
        yield "AWS type not classified as taggable or not; add it to TAGGABLE or UNTAGGABLE in infra/policy.py"
        return
    expected = {PROJECT_TAG: project, STACK_TAG: stack}
    tags = resource.inputs.get("tags") or {}
    for key, value in expected.items():
        if tags.get(key) != value:
            yield f"tag {key}={value!r} missing (tags: {dict(tags)})"
    # Instances and volumes of an auto scaling group get their tags from the launch template only.
    if resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
        specs = {s.get("resourceType"): s.get("tags") or {} for s in resource.inputs.get("tagSpecifications") or []}
        for kind in ("instance", "volume"):
            if any(specs.get(kind, {}).get(k) != v for k, v in expected.items()):
                yield f"instances' {kind}s launched from it are not tagged with project and stack"


def no_plain_secrets(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Nothing that looks like a credential travels as a plain (unencrypted, unmasked) input."""
    for path, value in _leaves(resource.inputs, ""):
        if isinstance(value, Secret) or not isinstance(value, str) or not value:
            continue
        last = path.rsplit(".", 1)[-1]
        if _SECRET_KEY.search(last):
            yield f"input {path} looks like a credential but is not a secret; wrap it with pulumi.Output.secret"
            continue
        for what, pattern in _SECRET_TEXT:
            if pattern.search(value):
                yield f"input {path} contains {what} in plain text; use `pulumi config set --secret`"


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def imds_v2_only(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Machines answer metadata requests only with a session token (IMDSv2), closing SSRF credential theft."""
    if resource.type in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"):
        options = resource.inputs.get("metadataOptions") or {}
        if options.get("httpTokens") != "required":
            yield "metadataOptions.httpTokens must be 'required' (IMDSv2 only)"


def encrypted_at_rest(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """KMS keys rotate, EKS secrets are envelope-encrypted, node volumes are encrypted."""
    if resource.type == "aws:kms/key:Key" and resource.inputs.get("enableKeyRotation") is not True:
        yield "enableKeyRotation must be true"
    if resource.type == "aws:eks/cluster:Cluster":
        configs = resource.inputs.get("encryptionConfig") or {}
        if "secrets" not in (configs.get("resources") or []) or not (configs.get("provider") or {}).get("keyArn"):
            yield "Kubernetes secrets must be envelope-encrypted with a KMS key (encryptionConfig)"
    if resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
        for mapping in resource.inputs.get("blockDeviceMappings") or []:
            if str((mapping.get("ebs") or {}).get("encrypted")).lower() != "true":
                yield f"volume {mapping.get('deviceName')} must be encrypted"


def charts_pinned(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Helm releases name one exact chart version, so every platform upgrade is a visible change."""
    if resource.type == "kubernetes:helm.sh/v3:Release":
        version = str(resource.inputs.get("version") or "")
        if not _EXACT_VERSION.fullmatch(version):
            yield f"chart version {version!r} must be exact (e.g. 4.15.1), not a range or empty"


def pod_security_enforced(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Every namespace enforces a Pod Security Standard, so a privileged pod is refused at admission."""
    if resource.type == "kubernetes:core/v1:Namespace":
        labels = (resource.inputs.get("metadata") or {}).get("labels") or {}
        level = labels.get("pod-security.kubernetes.io/enforce")
        if level not in ("baseline", "restricted"):
            yield f"label pod-security.kubernetes.io/enforce must be baseline or restricted, got {level!r}"


def no_admin_policies(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """No IAM policy allows every action on every resource."""
    if resource.type not in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy", "aws:iam/role:Role"):
        return
    documents = [resource.inputs.get("policy")]
    documents += [inline.get("policy") for inline in resource.inputs.get("inlinePolicies") or []]
    for document in documents:
        for statement in _statements(document):
            actions = _as_list(statement.get("Action"))
            targets = _as_list(statement.get("Resource"))
            if statement.get("Effect") == "Allow" and "*" in actions and "*" in targets:
                yield "a statement allows Action '*' on Resource '*'"


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


RULES: dict[str, Rule] = {
    "no-open-ingress": no_open_ingress,
    "tagged": tagged,
    "no-plain-secrets": no_plain_secrets,
    "imds-v2-only": imds_v2_only,
    "encrypted-at-rest": encrypted_at_rest,
    "charts-pinned": charts_pinned,
    "pod-security-enforced": pod_security_enforced,
    "no-admin-policies": no_admin_policies,
}
"""Every rule by name; `check` applies all of them."""


def check(resources: Iterable[Resource], *, project: str, stack: str) -> list[Violation]:
    """Every violation of every rule over `resources`; empty when the stack may ship."""
    return [
        Violation(rule=name, resource=f"{resource.type} {resource.name}", message=message)
        for resource in resources
        for name, rule in RULES.items()
        for message in rule(resource, project, stack)
    ]
