"""Each policy rule catches a deliberately bad resource and lets the good version through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.policy import RULES, Resource, Secret, check

TAGS = {"project": "example-app", "stack": "int"}


def _violations(resource: Resource) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in check([resource], project="example-app", stack="int"):
        found.setdefault(violation.rule, []).append(violation.message)
    return found


def _sg(ingress: list[dict[str, Any]]) -> Resource:
    return Resource(type="aws:ec2/securityGroup:SecurityGroup", name="sg", inputs={"tags": TAGS, "ingress": ingress})


def _template(**overrides: Any) -> Resource:
    inputs: dict[str, Any] = {
        "tags": TAGS,
        "metadataOptions": {"httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
        "tagSpecifications": [{"resourceType": kind, "tags": TAGS} for kind in ("instance", "volume")],
    }
    inputs.update(overrides)
    return Resource(type="aws:ec2/launchTemplate:LaunchTemplate", name="nodes", inputs=inputs)


# (rule, bad resource, good resource): each bad one breaks exactly its rule.
CASES: list[tuple[str, Resource, Resource]] = [
    (
        "no-open-ingress",
        _sg([{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]),
        _sg([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]),
    ),
    (
        "no-open-ingress",
        Resource(
            type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            name="all",
            inputs={"tags": TAGS, "ipProtocol": "-1", "cidrIpv6": "::/0"},
        ),
        Resource(
            type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            name="vpc-only",
            inputs={"tags": TAGS, "ipProtocol": "-1", "cidrIpv4": "10.20.0.0/16"},
        ),
    ),
    (
        "no-open-ingress",
        _sg([{"protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]),  # 81–442 too
        _sg([{"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"]}]),
    ),
    (
        "tagged",
        Resource(type="aws:ec2/vpc:Vpc", name="vpc", inputs={"tags": {"project": "example-app"}}),
        Resource(type="aws:ec2/vpc:Vpc", name="vpc", inputs={"tags": TAGS}),
    ),
    (
        "tagged",
        Resource(type="aws:ec2/vpc:Vpc", name="vpc", inputs={"tags": {**TAGS, "stack": "prd"}}),  # wrong stack
        Resource(type="aws:ec2/vpc:Vpc", name="vpc", inputs={"tags": {**TAGS, "Name": "vpc"}}),
    ),
    (
        "tagged",
        _template(tagSpecifications=[{"resourceType": "instance", "tags": TAGS}]),  # volumes untagged
        _template(),
    ),
    (
        "tagged",
        Resource(type="aws:sqs/queue:Queue", name="unclassified", inputs={"tags": TAGS}),
        Resource(type="aws:kms/alias:Alias", name="alias", inputs={}),
    ),
    (
        "no-plain-secrets",
        Resource(type="pulumi-python:dynamic:Resource", name="hook", inputs={"apiToken": "hunter2"}),
        Resource(type="pulumi-python:dynamic:Resource", name="hook", inputs={"apiToken": Secret("hunter2")}),
    ),
    (
        "no-plain-secrets",
        Resource(
            type="kubernetes:core/v1:Secret",
            name="keys",
            inputs={"stringData": {"AWS": "AKIAABCDEFGHIJKLMNOP"}},
        ),
        Resource(
            type="kubernetes:core/v1:Secret",
            name="keys",
            inputs={"stringData": Secret({"AWS": "AKIAABCDEFGHIJKLMNOP"})},
        ),
    ),
    (
        "no-plain-secrets",
        Resource(type="pulumi:providers:kubernetes", name="k8s", inputs={"kubeconfig": "apiVersion: v1"}),
        Resource(type="pulumi:providers:kubernetes", name="k8s", inputs={"kubeconfig": Secret("apiVersion: v1")}),
    ),
    ("imds-v2-only", _template(metadataOptions={"httpTokens": "optional"}), _template()),
    (
        "encrypted-at-rest",
        Resource(type="aws:kms/key:Key", name="key", inputs={"tags": TAGS}),
        Resource(type="aws:kms/key:Key", name="key", inputs={"tags": TAGS, "enableKeyRotation": True}),
    ),
    (
        "encrypted-at-rest",
        Resource(type="aws:eks/cluster:Cluster", name="eks", inputs={"tags": TAGS}),
        Resource(
            type="aws:eks/cluster:Cluster",
            name="eks",
            inputs={"tags": TAGS, "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:k"}}},
        ),
    ),
    (
        "encrypted-at-rest",
        _template(blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]),
        _template(),
    ),
    (
        "charts-pinned",
        Resource(type="kubernetes:helm.sh/v3:Release", name="nginx", inputs={"chart": "ingress-nginx"}),
        Resource(type="kubernetes:helm.sh/v3:Release", name="nginx", inputs={"version": "4.15.1"}),
    ),
    (
        "charts-pinned",
        Resource(type="kubernetes:helm.sh/v3:Release", name="certs", inputs={"version": "^1.21.0"}),
        Resource(type="kubernetes:helm.sh/v3:Release", name="certs", inputs={"version": "v1.21.1"}),
    ),
    (
        "pod-security-enforced",
        Resource(type="kubernetes:core/v1:Namespace", name="ns", inputs={"metadata": {"name": "tools"}}),
        Resource(
            type="kubernetes:core/v1:Namespace",
            name="ns",
            inputs={"metadata": {"name": "tools", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        ),
    ),
    (
        "pod-security-enforced",
        Resource(
            type="kubernetes:core/v1:Namespace",
            name="ns",
            inputs={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
        ),
        Resource(
            type="kubernetes:core/v1:Namespace",
            name="ns",
            inputs={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}},
        ),
    ),
    (
        "no-admin-policies",
        Resource(
            type="aws:iam/policy:Policy",
            name="admin",
            inputs={
                "tags": TAGS,
                "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            },
        ),
        Resource(
            type="aws:iam/policy:Policy",
            name="pull",
            inputs={
                "tags": TAGS,
                "policy": json.dumps(
                    {"Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}]}
                ),
            },
        ),
    ),
]


@pytest.mark.parametrize(("rule", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_catches_the_bad_resource_only(rule: str, bad: Resource, good: Resource) -> None:
    assert list(_violations(bad)) == [rule], _violations(bad)
    assert _violations(good) == {}


def test_every_rule_has_a_case_that_breaks_it() -> None:
    assert {case[0] for case in CASES} == set(RULES)


def test_violations_name_the_resource_and_the_fix() -> None:
    (violation,) = check([_template(metadataOptions={})], project="example-app", stack="int")
    assert str(violation) == (
        "[imds-v2-only] aws:ec2/launchTemplate:LaunchTemplate nodes: "
        "metadataOptions.httpTokens must be 'required' (IMDSv2 only)"
    )
