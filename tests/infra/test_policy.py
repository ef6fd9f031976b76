"""Each policy of the pack catches a deliberately bad resource and lets the good version through.

The policies run as pulumi-policy runs them (tests/harness/crossguard.py); one test starts the pack the
way the engine does and talks to it over the analyzer's gRPC protocol.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel

from harness.crossguard import UNKNOWN_ARRAY, UNKNOWN_OBJECT, UNKNOWN_STRING, pack_props, run_pack, wire
from infra.canary_analysis_policy import analysis_rules
from infra.policy import (
    RESOURCE_RULES,
    STACK_RULES,
    Resource,
    Secret,
    is_placeholder_name,
    no_plain_secrets,
)
from infra.policy_pack import POLICIES

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "infra" / "policy_pack"
TAGS = {"project": "example-app", "stack": "int"}
LABELS = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web"}


def _rbac_role(*rules: dict[str, Any], kind: str = "Role") -> Resource:
    return Resource(type=f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", name="reader", props={"rules": list(rules)})


def _sg(ingress: list[dict[str, Any]]) -> Resource:
    return Resource(type="aws:ec2/securityGroup:SecurityGroup", name="sg", props={"tags": TAGS, "ingress": ingress})


def _template(**overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "tags": TAGS,
        "metadataOptions": {"httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
        "tagSpecifications": [{"resourceType": kind, "tags": TAGS} for kind in ("instance", "volume")],
    }
    props.update(overrides)
    return Resource(type="aws:ec2/launchTemplate:LaunchTemplate", name="nodes", props=props)


def _addon(name: str, configuration: str | None = None, version: str | None = "v1.20.4-eksbuild.1") -> Resource:
    props: dict[str, Any] = {"tags": TAGS, "clusterName": "int", "addonName": name}
    if version is not None:
        props["addonVersion"] = version
    if configuration is not None:
        props["configurationValues"] = configuration
    return Resource(type="aws:eks/addon:Addon", name=f"int-{name}", props=props)


ENFORCING_CNI = _addon("vpc-cni", json.dumps({"enableNetworkPolicy": "true"}))


def _network_policy(namespace: str = "web", ingress: list[dict[str, Any]] | None = None) -> Resource:
    from_ingress = [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}]}]
    spec = {"podSelector": {"matchLabels": LABELS}, "policyTypes": ["Ingress"], "ingress": ingress or from_ingress}
    return Resource(
        type="kubernetes:networking.k8s.io/v1:NetworkPolicy",
        name=f"{namespace}-policy",
        props={
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": spec,
        },
    )


def _deployment(forwarded_allow_ips: str = "*") -> Resource:
    container = {
        "name": "web",
        "image": "web:v1",
        "env": [{"name": "FORWARDED_ALLOW_IPS", "value": forwarded_allow_ips}],
    }
    return Resource(
        type="kubernetes:apps/v1:Deployment",
        name="web",
        props={
            "metadata": {"name": "web", "namespace": "web"},
            "spec": {
                "template": {"metadata": {"labels": {**LABELS, "tier": "web"}}, "spec": {"containers": [container]}}
            },
        },
    )


def _ingress(host: str, tls_host: str | None = None) -> Resource:
    spec = {"rules": [{"host": host}], "tls": [{"hosts": [tls_host or host], "secretName": "tls"}]}
    return Resource(
        type="kubernetes:networking.k8s.io/v1:Ingress", name="web", props={"metadata": {"name": "web"}, "spec": spec}
    )


def _issuer(email: str) -> Resource:
    spec = {"acme": {"email": email, "server": "https://acme-v02.api.letsencrypt.org/directory"}}
    return Resource(type="kubernetes:cert-manager.io/v1:ClusterIssuer", name="issuer", props={"spec": spec})


def _record(name: str) -> Resource:
    return Resource(type="aws:route53/record:Record", name="app", props={"name": name, "type": "A"})


# (rule, bad resources, good resources): each bad set breaks exactly its rule, the good set none.
CASES: list[tuple[str, list[Resource], list[Resource]]] = [
    (
        "no-open-ingress",
        [_sg([{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}])],
        [_sg([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}])],
    ),
    (
        "no-open-ingress",
        [
            Resource(
                type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                name="all",
                props={"tags": TAGS, "ipProtocol": "-1", "cidrIpv6": "::/0"},
            )
        ],
        [
            Resource(
                type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                name="vpc-only",
                props={"tags": TAGS, "ipProtocol": "-1", "cidrIpv4": "10.20.0.0/16"},
            )
        ],
    ),
    (
        "no-open-ingress",
        [_sg([{"protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}])],  # 81–442 too
        [_sg([{"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"]}])],
    ),
    (
        "tagged",
        [Resource(type="aws:ec2/vpc:Vpc", name="vpc", props={"tags": {"project": "example-app"}})],
        [Resource(type="aws:ec2/vpc:Vpc", name="vpc", props={"tags": TAGS})],
    ),
    (
        "tagged",
        [Resource(type="aws:ec2/vpc:Vpc", name="vpc", props={"tags": {**TAGS, "stack": "prd"}})],  # wrong stack
        [Resource(type="aws:ec2/vpc:Vpc", name="vpc", props={"tags": {**TAGS, "Name": "vpc"}})],
    ),
    (
        "tagged",
        [_template(tagSpecifications=[{"resourceType": "instance", "tags": TAGS}])],  # volumes untagged
        [_template()],
    ),
    (
        "tagged",
        [Resource(type="aws:sqs/queue:Queue", name="unclassified", props={"tags": TAGS})],
        [Resource(type="aws:kms/alias:Alias", name="alias", props={})],
    ),
    ("imds-v2-only", [_template(metadataOptions={"httpTokens": "optional"})], [_template()]),
    (
        "encrypted-at-rest",
        [Resource(type="aws:kms/key:Key", name="key", props={"tags": TAGS})],
        [Resource(type="aws:kms/key:Key", name="key", props={"tags": TAGS, "enableKeyRotation": True})],
    ),
    (
        "encrypted-at-rest",
        [Resource(type="aws:eks/cluster:Cluster", name="eks", props={"tags": TAGS})],
        [
            Resource(
                type="aws:eks/cluster:Cluster",
                name="eks",
                props={"tags": TAGS, "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:k"}}},
            )
        ],
    ),
    (
        "encrypted-at-rest",
        [_template(blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}])],
        [_template()],
    ),
    (
        "versions-pinned",
        [Resource(type="kubernetes:helm.sh/v3:Release", name="nginx", props={"chart": "ingress-nginx"})],
        [Resource(type="kubernetes:helm.sh/v3:Release", name="nginx", props={"version": "4.15.1"})],
    ),
    (
        "versions-pinned",
        [Resource(type="kubernetes:helm.sh/v3:Release", name="certs", props={"version": "^1.21.0"})],
        [Resource(type="kubernetes:helm.sh/v3:Release", name="certs", props={"version": "v1.21.1"})],
    ),
    ("versions-pinned", [_addon("coredns", version=None)], [_addon("coredns", version="v1.12.4-eksbuild.1")]),
    (
        "pod-security-enforced",
        [Resource(type="kubernetes:core/v1:Namespace", name="ns", props={"metadata": {"name": "tools"}})],
        [
            Resource(
                type="kubernetes:core/v1:Namespace",
                name="ns",
                props={"metadata": {"name": "tools", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
            )
        ],
    ),
    (
        "pod-security-enforced",
        [
            Resource(
                type="kubernetes:core/v1:Namespace",
                name="ns",
                props={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
            )
        ],
        [
            Resource(
                type="kubernetes:core/v1:Namespace",
                name="ns",
                props={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}},
            )
        ],
    ),
    (
        "no-admin-policies",
        [
            Resource(
                type="aws:iam/policy:Policy",
                name="admin",
                props={
                    "tags": TAGS,
                    "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                },
            )
        ],
        [
            Resource(
                type="aws:iam/policy:Policy",
                name="pull",
                props={
                    "tags": TAGS,
                    "policy": json.dumps(
                        {"Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}]}
                    ),
                },
            )
        ],
    ),
    ("no-placeholder-domains", [_record("app.int.example.com")], [_record("app.int.apps.acme-corp.internal")]),
    (
        "no-placeholder-domains",
        [_ingress("app.acme-corp.internal", tls_host="app.shop.test")],
        [_ingress("app.acme-corp.internal")],
    ),
    ("no-placeholder-domains", [_issuer("hostmaster@example.org")], [_issuer("platform@acme-corp.internal")]),
    # A stack that renders a NetworkPolicy needs the vpc-cni add-on to enforce it.
    ("network-policy-enforced", [_network_policy()], [_network_policy(), ENFORCING_CNI]),
    (
        "network-policy-enforced",  # a JSON boolean is not what EKS documents (the string "true")
        [_network_policy(), _addon("vpc-cni", json.dumps({"enableNetworkPolicy": True}))],
        [_network_policy(), _addon("vpc-cni", json.dumps({"enableNetworkPolicy": "true", "env": {"X": "1"}}))],
    ),
    (
        "network-policy-enforced",  # the setting on another add-on does nothing
        [_network_policy(), _addon("coredns", json.dumps({"enableNetworkPolicy": "true"})), _addon("vpc-cni")],
        [_network_policy(), _addon("coredns"), ENFORCING_CNI],
    ),
    (
        "forwarded-headers-trusted-only-behind-policy",
        [_deployment()],
        [_deployment(forwarded_allow_ips="10.0.0.0/8")],
    ),
    (
        "forwarded-headers-trusted-only-behind-policy",  # an ingress rule without `from` admits every pod
        [_deployment(), _network_policy(ingress=[{"ports": [{"port": 8080}]}]), ENFORCING_CNI],
        [_deployment(), _network_policy(), ENFORCING_CNI],
    ),
    (
        "forwarded-headers-trusted-only-behind-policy",  # a policy in another namespace selects other pods
        [_deployment(), _network_policy(namespace="other"), ENFORCING_CNI],
        [_deployment(), _network_policy(), _network_policy(namespace="other"), ENFORCING_CNI],
    ),
    (
        "no-broad-rbac",
        [_rbac_role({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]})],
        [_rbac_role({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})],
    ),
    (
        "no-broad-rbac",  # `*/exec` matches the exec subresource of every resource
        [_rbac_role({"apiGroups": [""], "resources": ["*/exec"], "verbs": ["get"]}, kind="ClusterRole")],
        [_rbac_role(*analysis_rules(), kind="ClusterRole")],
    ),
    (
        "no-broad-rbac",
        [_rbac_role({**analysis_rules()[0], "verbs": ["*"]})],
        [_rbac_role(*analysis_rules())],
    ),
    (
        "no-broad-rbac",
        [_rbac_role({"nonResourceURLs": ["/metrics*"], "verbs": ["get"]}, kind="ClusterRole")],
        [_rbac_role({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}, kind="ClusterRole")],
    ),
]


def _broken(resources: list[Resource]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in run_pack(resources):
        found.setdefault(violation.policy, []).append(violation.message)
    return found


@pytest.mark.parametrize(("rule", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_policy_catches_the_bad_resource_only(rule: str, bad: list[Resource], good: list[Resource]) -> None:
    assert list(_broken(bad)) == [rule], _broken(bad)
    assert _broken(good) == {}


def test_every_rule_is_a_mandatory_policy_with_a_case_that_breaks_it() -> None:
    rules = set(RESOURCE_RULES) | set(STACK_RULES)
    assert {case[0] for case in CASES} == rules
    assert {policy.name for policy in POLICIES} == rules
    assert {policy.enforcement_level for policy in POLICIES} == {EnforcementLevel.MANDATORY}


def test_a_stack_violation_names_the_resource_at_fault() -> None:
    policy = _network_policy()
    (violation,) = run_pack([Resource(type=policy.type, name=policy.name, props=policy.props, urn="urn:np")])
    assert violation.resource == "urn:np"
    assert "NetworkPolicy web/web would be accepted but not enforced" in violation.message


# ---------------------------------------------------------------- what a preview hands the pack


def test_a_preview_judges_what_is_known_and_leaves_unknown_values_to_the_update() -> None:
    # First preview of a stack: the KMS key's ARN, the IAM policy (built from ARNs), the node template's
    # tags and disks and the add-on's settings are not known yet. Nothing unknown is reported, nothing
    # raises, and what is known still counts.
    cluster = Resource(
        type="aws:eks/cluster:Cluster",
        name="eks",
        props={"tags": TAGS, "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN_STRING}}},
    )
    role = Resource(type="aws:iam/role:Role", name="ci", props={"tags": TAGS, "inlinePolicies": UNKNOWN_ARRAY})
    template = _template(
        tags=UNKNOWN_OBJECT, blockDeviceMappings=UNKNOWN_ARRAY, metadataOptions={"httpTokens": "optional"}
    )
    cni = _addon("vpc-cni", UNKNOWN_STRING)
    violations = run_pack([cluster, role, template, cni, _network_policy()])
    assert [(v.policy, v.resource.rsplit("::", 1)[-1]) for v in violations] == [("imds-v2-only", "nodes")]


def test_the_pack_cannot_tell_a_secret_from_plain_text() -> None:
    # Why no-plain-secrets runs only under mocks: pulumi-policy unwraps secrets before a validation.
    sent = {"stringData": rpc.wrap_rpc_secret({"key": "hunter2"})}
    assert wire(sent)["stringData"] != {"key": "hunter2"}  # the engine does send it marked as a secret
    assert pack_props(sent)["stringData"] == {"key": "hunter2"}


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("name", "placeholder"),
    [
        ("example.com", True),
        ("app.int.example.com", True),
        ("EXAMPLE.NET.", True),
        ("mail.example.org", True),
        ("shop.example", True),
        ("app.test", True),
        ("x.invalid", True),
        ("localhost", True),
        ("example-app.acme-corp.internal", False),
        ("example.co", False),
        ("myexample.com", False),
        ("example.com.au", False),
        ("testing.dev", False),
    ],
)
def test_placeholder_names_are_those_under_reserved_domains(name: str, placeholder: bool) -> None:
    assert is_placeholder_name(name) is placeholder


@pytest.mark.parametrize(
    ("bad", "good"),
    [
        ({"apiToken": "hunter2"}, {"apiToken": Secret("hunter2")}),
        ({"stringData": {"AWS": "AKIAABCDEFGHIJKLMNOP"}}, {"stringData": Secret({"AWS": "AKIAABCDEFGHIJKLMNOP"})}),
        ({"kubeconfig": "apiVersion: v1"}, {"kubeconfig": Secret("apiVersion: v1")}),
    ],
)
def test_no_plain_secrets_under_mocks(bad: dict[str, Any], good: dict[str, Any]) -> None:
    def violations(props: dict[str, Any]) -> list[str]:
        return list(no_plain_secrets(Resource(type="kubernetes:core/v1:Secret", name="s", props=props), "p", "s"))

    assert violations(bad)
    assert violations(good) == []


# ---------------------------------------------------------------- the pack as the engine starts it


def _pack_python() -> Path:
    """The interpreter the engine runs the pack with, resolved from PulumiPolicy.yaml as the engine does.

    pulumi/pulumi v3.259.0: ExecPlugin makes the PulumiPolicy.yaml directory the program's root, and the
    pip toolchain joins a relative `virtualenv` onto it (sdk/python/toolchain/pip.go
    resolveVirtualEnvironmentPath); the policy pack then runs as `<venv>/bin/python -u -m pulumi.policy`.
    """
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    options = project["runtime"]["options"]
    assert project["runtime"]["name"] == "python"
    assert options["toolchain"] == "pip"
    venv = Path(PACK / options["virtualenv"]).resolve()
    assert venv == (ROOT / ".venv").resolve(), "the pack must run in the program's one virtualenv"
    return Path(PACK / options["virtualenv"]) / "bin" / "python"


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(wire(props), struct_pb2.Struct())


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    # pulumi-language-python RunPlugin for kind=analyzer: `python -u -m pulumi.policy <engine> <pack dir>`
    # in the pack's directory, with PULUMI_PROJECT/PULUMI_STACK/PULUMI_DRY_RUN from the stack; the pack
    # prints the port it serves the Analyzer gRPC service on (pulumi_policy/policy.py PolicyPack).
    env = {"PULUMI_PROJECT": "example-app", "PULUMI_STACK": "int", "PULUMI_DRY_RUN": "true", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [str(_pack_python()), "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)],
        cwd=PACK,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the pack did not start: {port!r} {process.stderr.read() if process.stderr else ''}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_engine_sees_every_rule_as_a_mandatory_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(analyzer_pb2.google_dot_protobuf_dot_empty__pb2.Empty())
    assert info.name == "example-app"
    assert {p.name: p.enforcementLevel for p in info.policies} == dict.fromkeys(
        set(RESOURCE_RULES) | set(STACK_RULES), analyzer_pb2.MANDATORY
    )


def test_the_engine_gets_a_mandatory_violation_for_a_bad_resource(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    namespace = {"metadata": {"name": "tools", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    request = analyzer_pb2.AnalyzeRequest(
        type="kubernetes:core/v1:Namespace", name="tools", urn="urn:ns", properties=_struct(namespace)
    )
    (diagnostic,) = analyzer.Analyze(request).diagnostics
    assert (diagnostic.policyName, diagnostic.enforcementLevel) == ("pod-security-enforced", analyzer_pb2.MANDATORY)
    assert "got 'privileged'" in diagnostic.message


def test_the_engine_gets_a_mandatory_violation_for_a_bad_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    policy = _network_policy()
    resources = [
        analyzer_pb2.AnalyzerResource(
            type=policy.type, name=policy.name, urn="urn:np", properties=_struct(dict(policy.props))
        )
    ]
    (diagnostic,) = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources)).diagnostics
    assert (diagnostic.policyName, diagnostic.urn) == ("network-policy-enforced", "urn:np")
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
