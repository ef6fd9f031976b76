"""The rules every stack must satisfy, as pure decisions over what the Pulumi engine hands a policy.

The CrossGuard policy pack (`infra/policy_pack`) runs them on every real `pulumi preview` and
`pulumi up`; tests/infra runs the same pack over each stack under Pulumi's mocks. A rule sees a
`Resource`: type token, logical name and properties, camelCase as the engine sees them::

    list(encrypted_at_rest(Resource(type="aws:kms/key:Key", name="k", props={}), project="p", stack="s"))
    # ['enableKeyRotation must be true']

During a preview some values cannot be known yet (an ARN of a resource not created); they arrive
as `UNKNOWN`, and a rule that needs one passes over it: the same rule runs again on `pulumi up`,
where every input is known before the resource is created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from infra.tags import PROJECT_TAG, STACK_TAG


class Unknown:
    """A value a preview cannot know yet (it depends on a resource not created)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()


@dataclass(frozen=True)
class Secret:
    """An input Pulumi treats as secret; only the mock harness can tell (see `no_plain_secrets`)."""

    value: Any


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One resource as a policy sees it: type token, logical name, URN and properties (camelCase)."""

    type: str
    name: str
    props: Mapping[str, Any] = field(default_factory=dict)
    urn: str = ""


ResourceRule = Callable[[Resource, str, str], Iterator[str]]
"""(resource, project, stack) -> one message per violation."""
StackRule = Callable[[Sequence[Resource]], Iterator[tuple[Resource | None, str]]]
"""(every resource of the stack) -> (the resource at fault, or None for the stack; message) per violation."""


def _get(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]…; None where a key is missing, UNKNOWN where a value is not known yet."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _items(value: Any) -> list[Any]:
    """A list property as a list; empty when missing or not known yet (nothing to judge)."""
    return list(value) if isinstance(value, list | tuple) else []


# ---------------------------------------------------------------- rules over one resource

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
_EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
EKS_ADDON = "aws:eks/addon:Addon"


def no_open_ingress(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Security groups admit the whole internet only on the load balancer's ports 80 and 443."""
    for rule in _ingress_rules(resource):
        sources = {str(c) for c in _items(rule.get("cidrBlocks")) + _items(rule.get("ipv6CidrBlocks"))}
        sources |= {str(rule[k]) for k in ("cidrIpv4", "cidrIpv6") if isinstance(rule.get(k), str)}
        if not sources & _ANYWHERE:
            continue
        ports = (rule.get("fromPort", 0), rule.get("toPort", 65535), rule.get("protocol", rule.get("ipProtocol", "-1")))
        if UNKNOWN in ports:
            continue
        low, high, protocol = int(ports[0] or 0), int(ports[1] or 0), str(ports[2])
        if protocol == "-1" or low != high or low not in PUBLIC_PORTS:
            opened = sorted(sources & _ANYWHERE)
            yield f"admits {opened} on {protocol} {low}-{high}; only ports 80 and 443 may be public"


def _ingress_rules(resource: Resource) -> list[Mapping[str, Any]]:
    if resource.type == "aws:ec2/securityGroup:SecurityGroup":
        return [r for r in _items(resource.props.get("ingress")) if isinstance(r, Mapping)]
    if resource.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and resource.props.get("type") == "ingress":
        return [resource.props]
    if resource.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        return [resource.props]
    return []


def tagged(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Every taggable AWS resource names its project and stack (cost and ownership per environment)."""
    if not resource.type.startswith("aws:") or resource.type in UNTAGGABLE:
        return
    if resource.type not in TAGGABLE:
        yield "AWS type not classified as taggable or not; add it to TAGGABLE or UNTAGGABLE in infra/policy.py"
        return
    expected = {PROJECT_TAG: project, STACK_TAG: stack}
    tags = resource.props.get("tags") or {}
    if tags is UNKNOWN:
        return
    for key, value in expected.items():
        if tags.get(key) not in (value, UNKNOWN):
            yield f"tag {key}={value!r} missing (tags: {dict(tags)})"
    # Instances and volumes of an auto scaling group get their tags from the launch template only.
    if resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
        specs = {
            _get(s, "resourceType"): _get(s, "tags") or {} for s in _items(resource.props.get("tagSpecifications"))
        }
        for kind in ("instance", "volume"):
            kind_tags = specs.get(kind, {})
            if kind_tags is not UNKNOWN and any(kind_tags.get(k) not in (v, UNKNOWN) for k, v in expected.items()):
                yield f"instances' {kind}s launched from it are not tagged with project and stack"


def imds_v2_only(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Machines answer metadata requests only with a session token (IMDSv2), closing SSRF credential theft."""
    machines = ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance")
    if resource.type in machines and _get(resource.props, "metadataOptions", "httpTokens") not in ("required", UNKNOWN):
        yield "metadataOptions.httpTokens must be 'required' (IMDSv2 only)"


def encrypted_at_rest(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """KMS keys rotate, EKS secrets are envelope-encrypted, node volumes are encrypted."""
    props = resource.props
    if resource.type == "aws:kms/key:Key" and props.get("enableKeyRotation") not in (True, UNKNOWN):
        yield "enableKeyRotation must be true"
    if resource.type == "aws:eks/cluster:Cluster":
        kinds = _get(props, "encryptionConfig", "resources")
        # The key's ARN is unknown until the key exists; any value there names a key.
        key = _get(props, "encryptionConfig", "provider", "keyArn")
        if kinds is not UNKNOWN and ("secrets" not in _items(kinds) or not key):
            yield "Kubernetes secrets must be envelope-encrypted with a KMS key (encryptionConfig)"
    if resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
        for mapping in _items(props.get("blockDeviceMappings")):
            encrypted = _get(mapping, "ebs", "encrypted")
            if encrypted is not UNKNOWN and str(encrypted).lower() != "true":
                yield f"volume {_get(mapping, 'deviceName')} must be encrypted"


def versions_pinned(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Helm releases and EKS add-ons name one exact version, so every platform upgrade is a visible change."""
    # Without addonVersion EKS installs its default for the cluster version, which changes under us.
    field_of = {"kubernetes:helm.sh/v3:Release": ("version", "chart version"), EKS_ADDON: ("addonVersion", "add-on")}
    if resource.type not in field_of:
        return
    key, what = field_of[resource.type]
    version = resource.props.get(key)
    if version is not UNKNOWN and not _EXACT_VERSION.fullmatch(str(version or "")):
        yield f"{what} version {version or ''!r} must be exact (e.g. 4.15.1, v1.20.4-eksbuild.1), not a range or empty"


def pod_security_enforced(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Every namespace enforces a Pod Security Standard, so a privileged pod is refused at admission."""
    if resource.type == "kubernetes:core/v1:Namespace":
        level = _get(resource.props, "metadata", "labels", "pod-security.kubernetes.io/enforce")
        if level not in ("baseline", "restricted", UNKNOWN):
            yield f"label pod-security.kubernetes.io/enforce must be baseline or restricted, got {level!r}"


def no_admin_policies(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """No IAM policy allows every action on every resource."""
    if resource.type not in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy", "aws:iam/role:Role"):
        return
    documents = [resource.props.get("policy")]
    documents += [_get(inline, "policy") for inline in _items(resource.props.get("inlinePolicies"))]
    for document in documents:
        for statement in _statements(document):
            actions = _as_list(statement.get("Action"))
            targets = _as_list(statement.get("Resource"))
            if statement.get("Effect") == "Allow" and "*" in actions and "*" in targets:
                yield "a statement allows Action '*' on Resource '*'"


RBAC_ROLES = frozenset(
    {"kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"}
)
INTO_PODS = frozenset({"pods/exec", "pods/attach"})
"""Subresources that run a command in, or attach to, a running container: the paths `kubectl proxy` refuses by
default (kubernetes/kubectl v0.35.7 pkg/proxy/proxy_server.go DefaultPathRejectRE)."""


def no_broad_rbac(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Roles the program writes grant no wildcard and no way into a container (pods/exec, pods/attach).

    The charts' own roles travel inside their Helm releases and are the charts' business; this holds the roles
    the program writes itself — the canary analysis Role (infra/canary_analysis_access.py) — to naming exactly
    what they allow. RBAC matches `*` in verbs, apiGroups and resources, and `*/<subresource>` in resources
    (kubernetes/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go); nonResourceURLs end in `*` as a prefix.
    """
    if resource.type not in RBAC_ROLES:
        return
    for index, rule in enumerate(_items(resource.props.get("rules"))):
        for key in ("verbs", "apiGroups", "resources", "nonResourceURLs"):
            wild = [v for v in _items(_get(rule, key)) if isinstance(v, str) and "*" in v]
            if wild:
                yield f"rules[{index}].{key} has the wildcard {', '.join(wild)}; name what the role needs"
        into = sorted(INTO_PODS.intersection(v for v in _items(_get(rule, "resources")) if isinstance(v, str)))
        if into:
            yield f"rules[{index}] grants {', '.join(into)}, a way into running containers"


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []  # also UNKNOWN: a policy built from ARNs not known during a preview
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# Names no one can own: RFC 2606 §2 and RFC 6761 §6.2–6.5 reserve the top-level domains, RFC 2606 §3
# and RFC 6761 §6.5 the three second-level example domains. Mail there goes nowhere and no public DNS
# zone for them exists, so a host or ACME contact under one is a placeholder left in the settings.
RESERVED_TOP_LEVEL = frozenset({"example", "test", "invalid", "localhost"})
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})


def is_placeholder_name(name: str) -> bool:
    """True for a DNS name under a reserved example or special-use domain (RFC 2606, RFC 6761)."""
    labels = name.strip().rstrip(".").lower().split(".")
    return labels[-1] in RESERVED_TOP_LEVEL or ".".join(labels[-2:]) in RESERVED_DOMAINS


def _registered_names(resource: Resource) -> Iterator[tuple[str, Any]]:
    """(where, value) for every DNS name or e-mail address the resource publishes or registers."""
    props = resource.props
    if resource.type == "aws:route53/record:Record":
        yield "name", props.get("name")
    elif resource.type == "kubernetes:networking.k8s.io/v1:Ingress":
        for i, rule in enumerate(_items(_get(props, "spec", "rules"))):
            yield f"spec.rules[{i}].host", _get(rule, "host")
        for i, tls in enumerate(_items(_get(props, "spec", "tls"))):
            for j, host in enumerate(_items(_get(tls, "hosts"))):
                yield f"spec.tls[{i}].hosts[{j}]", host
    elif resource.type in ("kubernetes:cert-manager.io/v1:ClusterIssuer", "kubernetes:cert-manager.io/v1:Issuer"):
        yield "spec.acme.email", _get(props, "spec", "acme", "email")


def no_placeholder_domains(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """No DNS record, Ingress host or ACME contact lies under a reserved example domain (a placeholder)."""
    for where, value in _registered_names(resource):
        if isinstance(value, str) and value and is_placeholder_name(value.rsplit("@", 1)[-1]):
            yield (
                f"{where} {value!r} is under a reserved example domain (RFC 2606/6761) that no one can own; "
                "set the stack's `domain` and `acmeEmail` to your own zone and address"
            )


# ---------------------------------------------------------------- rules over the whole stack

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def network_policy_enforcement(resources: Iterable[Resource]) -> bool | Unknown:
    """Whether an EKS `vpc-cni` add-on among `resources` turns NetworkPolicy enforcement on; UNKNOWN in a preview.

    The EKS User Guide (awsdocs/amazon-eks-user-guide latest/ug/networking/cni-network-policy-configure.adoc)
    turns it on with the add-on's configuration values `{"enableNetworkPolicy": "true"}` (a JSON object,
    the value the string "true"); without them EKS leaves enforcement off.
    """
    verdict: bool | Unknown = False
    for addon in (r for r in resources if r.type == EKS_ADDON):
        name, values = addon.props.get("addonName"), addon.props.get("configurationValues")
        if name is UNKNOWN or (name == "vpc-cni" and values is UNKNOWN):
            verdict = UNKNOWN  # decided on `pulumi up`, when both are known
        elif name == "vpc-cni" and isinstance(values, str):
            try:
                config = json.loads(values)
            except json.JSONDecodeError:
                continue
            if isinstance(config, Mapping) and config.get("enableNetworkPolicy") == "true":
                return True
    return verdict


def network_policy_enforced(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    """A stack that renders a NetworkPolicy also turns on its enforcement in the EKS VPC CNI add-on."""
    policies = [r for r in resources if r.type == NETWORK_POLICY]
    if not policies or network_policy_enforcement(resources) is not False:
        return
    for policy in policies:
        where = f"{_get(policy.props, 'metadata', 'namespace')}/{_get(policy.props, 'metadata', 'name')}"
        yield (
            policy,
            f"NetworkPolicy {where} would be accepted but not enforced: the stack has no EKS add-on `vpc-cni` "
            'whose configurationValues set "enableNetworkPolicy": "true" (EKS leaves it off by default)',
        )


def _trusts_forwarded_headers(deployment: Resource) -> bool:
    containers = _items(_get(deployment.props, "spec", "template", "spec", "containers"))
    return any(
        _get(env, "name") == "FORWARDED_ALLOW_IPS" and _get(env, "value") == "*"
        for container in containers
        for env in _items(_get(container, "env"))
    )


def _admits_only_selected_pods(policy: Resource, namespace: Any, labels: Mapping[str, Any]) -> bool:
    """The policy selects these pods and lets in only pods picked by selectors (no address range, no 'from all').

    Field meanings from the Kubernetes API docs (pulumi_kubernetes 4.34.2 networking/v1): without
    policyTypes every policy affects Ingress; an ingress rule whose `from` is empty or missing admits all
    sources. A matchExpressions selector is not evaluated here, so such a policy does not count.
    """
    spec = _get(policy.props, "spec")
    selector = _get(spec, "podSelector", "matchLabels") or {}
    if _get(policy.props, "metadata", "namespace") != namespace or spec is UNKNOWN or selector is UNKNOWN:
        return False
    if any(labels.get(k) != v for k, v in selector.items()) or _get(spec, "podSelector", "matchExpressions"):
        return False
    if "Ingress" not in (_items(_get(spec, "policyTypes")) or ["Ingress"]):
        return False
    return all(
        _items(_get(rule, "from")) and not any(_get(peer, "ipBlock") for peer in _items(_get(rule, "from")))
        for rule in _items(_get(spec, "ingress"))
    )


def forwarded_headers_trusted_only_behind_policy(
    resources: Sequence[Resource],
) -> Iterator[tuple[Resource | None, str]]:
    """Pods that trust every sender's X-Forwarded-* headers are reachable only by pods a NetworkPolicy selects."""
    # gunicorn's FORWARDED_ALLOW_IPS="*" is safe only while nothing but the ingress can connect.
    policies = [r for r in resources if r.type == NETWORK_POLICY]
    for deployment in (r for r in resources if r.type == DEPLOYMENT and _trusts_forwarded_headers(r)):
        namespace = _get(deployment.props, "metadata", "namespace")
        labels = _get(deployment.props, "spec", "template", "metadata", "labels") or {}
        if labels is UNKNOWN or any(_admits_only_selected_pods(p, namespace, labels) for p in policies):
            continue
        name = _get(deployment.props, "metadata", "name")
        yield (
            deployment,
            f'Deployment {namespace}/{name} sets FORWARDED_ALLOW_IPS="*" but no NetworkPolicy in its namespace '
            "selects its pods and admits only selected pods; any pod could forge X-Forwarded-For",
        )


RESOURCE_RULES: dict[str, ResourceRule] = {
    "no-open-ingress": no_open_ingress,
    "tagged": tagged,
    "imds-v2-only": imds_v2_only,
    "encrypted-at-rest": encrypted_at_rest,
    "versions-pinned": versions_pinned,
    "pod-security-enforced": pod_security_enforced,
    "no-admin-policies": no_admin_policies,
    "no-broad-rbac": no_broad_rbac,
    "no-placeholder-domains": no_placeholder_domains,
}
"""Rules over one resource's inputs (CrossGuard resource validation)."""

STACK_RULES: dict[str, StackRule] = {
    "network-policy-enforced": network_policy_enforced,
    "forwarded-headers-trusted-only-behind-policy": forwarded_headers_trusted_only_behind_policy,
}
"""Rules over every resource of the stack together (CrossGuard stack validation)."""


def description(rule: ResourceRule | StackRule) -> str:
    """The rule's one-line description: the first line of its docstring."""
    return (rule.__doc__ or "").strip().splitlines()[0]


# ---------------------------------------------------------------- checked under mocks only

_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|kubeconfig|credentials?)$")
_SECRET_TEXT = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
)


def no_plain_secrets(resource: Resource, project: str, stack: str) -> Iterator[str]:
    """Nothing that looks like a credential travels as a plain (unencrypted, unmasked) input.

    Not in the policy pack: pulumi-policy 1.21.0 unwraps secrets before a validation sees them
    (pulumi_policy/policy.py `Analyze` deserializes without `proxy_secrets`, deserialize.py returns the
    bare value), so a pack cannot tell a secret from plain text. tests/infra runs it under mocks, where
    secrets arrive wrapped in `Secret`.
    """
    for path, value in _leaves(resource.props, ""):
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
