"""Component behaviour the real stack files do not switch on: admin access, a missing LB hostname, tag grammar."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s
import pytest

from harness.mocked_stack import ACCOUNT_ID, Run
from infra.platform import load_balancer_hostname
from infra.tags import resource_tags, tag_problems


def test_admin_roles_get_cluster_admin_through_access_entries(run_program: Callable[..., Run]) -> None:
    roles = ["Admin", "aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_0123"]
    run = run_program("stg", {"clusterAdminRoles": roles})
    assert run.stopped is None, run.stopped
    entries = run.graph.of_type("aws:eks/accessEntry:AccessEntry")
    grants = run.graph.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    expected = {f"arn:aws:iam::{ACCOUNT_ID}:role/{role}" for role in roles}
    # The canary analysis role has an entry too, with no access policy (tests/infra/test_canary_analysis_access.py).
    analysis = f"arn:aws:iam::{ACCOUNT_ID}:role/stg-canary-analysis-role"
    assert {e.inputs["principalArn"] for e in entries} == expected | {analysis}
    assert {g.inputs["principalArn"] for g in grants} == expected
    for grant in grants:
        assert grant.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert grant.inputs["accessScope"] == {"type": "cluster"}


def test_a_service_without_a_load_balancer_hostname_stops_with_what_to_check() -> None:
    pending = k8s.core.v1.outputs.ServiceStatus(load_balancer=k8s.core.v1.outputs.LoadBalancerStatus(ingress=[]))
    with pytest.raises(pulumi.RunError, match=r"has no load balancer hostname yet.*describe service"):
        load_balancer_hostname(pending)
    ready = k8s.core.v1.outputs.ServiceStatus(
        load_balancer=k8s.core.v1.outputs.LoadBalancerStatus(
            ingress=[k8s.core.v1.outputs.LoadBalancerIngress(hostname="a1.elb.eu-west-1.amazonaws.com")]
        )
    )
    assert load_balancer_hostname(ready) == "a1.elb.eu-west-1.amazonaws.com"


def test_tags_follow_the_aws_grammar() -> None:
    assert tag_problems(resource_tags("example-app", "prd")) == []
    assert tag_problems({"aws:owner": "me"}) == [
        "tag key 'aws:owner' must be 1–128 letters, digits, spaces or _.:/=+-@ and not start with 'aws:'"
    ]
    assert tag_problems({"team": "a" * 257})
    assert tag_problems({"team": "ops#1"})
