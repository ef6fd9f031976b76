"""The AWS Load Balancer Controller's IAM policy, narrowed to what this cluster uses: NLBs for Services.

Derived from kubernetes-sigs/aws-load-balancer-controller v3.5.0 docs/install/iam_policy.json, statement by
statement, and narrowed:
- only NLBs (`loadbalancer/net/…`); no ALB, listener rules, certificates, WAF, Shield, ACM or Cognito: the
  chart runs with `--enable-shield=false --enable-waf=false --enable-wafv2=false` and no IngressClass;
- resources in this account and region only, not `*:*`;
- every change to an existing load balancer, target group or security group only where the controller's own
  tag `elbv2.k8s.aws/cluster` names *this* cluster (pkg/deploy/tracking/provider.go, "applied on all AWS
  resources"), where upstream accepts any cluster's tag (a Null condition).
No Pulumi import: infra/platform.py attaches it, tests/infra/test_load_balancer_controller.py reads it.
"""

from __future__ import annotations

from typing import Any

CLUSTER_TAG = "elbv2.k8s.aws/cluster"
"""Tag the controller puts on everything it creates, valued with its `--cluster-name`."""

READ_ONLY_ACTIONS = (
    # What the controller describes to reconcile an NLB (upstream's read-only statement, ALB-only reads dropped:
    # DescribeRules, DescribeListenerCertificates, DescribeSSLPolicies, DescribeTrustStores, COIP pools).
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:GetSecurityGroupsForVpc",
    "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeCapacityReservation",
)


def load_balancer_controller_policy(*, partition: str, region: str, account: str, cluster_name: str) -> dict[str, Any]:
    """The controller's policy document for one cluster: manage its own NLBs, target groups and security groups."""
    elb = f"arn:{partition}:elasticloadbalancing:{region}:{account}"
    security_groups = f"arn:{partition}:ec2:{region}:{account}:security-group/*"
    nlbs_and_target_groups = [f"{elb}:targetgroup/*/*", f"{elb}:loadbalancer/net/*/*"]
    listeners = f"{elb}:listener/net/*/*/*"
    ours = {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": cluster_name}}
    tagging_ours = {"StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": cluster_name}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # The account's first load balancer needs ELB's service-linked role.
                "Sid": "ElbServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
            },
            # Describe calls take no resource-level permissions.
            {"Sid": "Describe", "Effect": "Allow", "Action": list(READ_ONLY_ACTIONS), "Resource": "*"},
            {
                # The NLB's own security group, created tagged for this cluster.
                "Sid": "CreateSecurityGroup",
                "Effect": "Allow",
                "Action": "ec2:CreateSecurityGroup",
                "Resource": "*",  # the VPC and the new group: no tag exists yet to scope by
            },
            {
                "Sid": "TagNewSecurityGroup",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": security_groups,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **tagging_ours},
            },
            {
                "Sid": "ManageOwnSecurityGroups",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup"],
                "Resource": security_groups,
                "Condition": ours,
            },
            {
                # Backend rules: let the NLB's group into the nodes' and pods' groups (traffic and health check
                # ports), which the controller did not create and so are not tagged.
                "Sid": "BackendSecurityGroupRules",
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                "Resource": security_groups,
            },
            {
                "Sid": "CreateOwnLoadBalancers",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
                "Resource": "*",
                "Condition": tagging_ours,
            },
            {
                "Sid": "TagAtCreation",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:AddTags",
                "Resource": nlbs_and_target_groups,
                "Condition": {
                    "StringEquals": {
                        "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"],
                        f"aws:RequestTag/{CLUSTER_TAG}": cluster_name,
                    }
                },
            },
            {
                "Sid": "ManageOwnLoadBalancers",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:AddTags",
                    "elasticloadbalancing:RemoveTags",
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyCapacityReservation",
                    "elasticloadbalancing:ModifyIpPools",
                ],
                "Resource": nlbs_and_target_groups,
                "Condition": ours,
            },
            {
                # Listeners carry no cluster tag of their own; they live only on this account's NLBs.
                "Sid": "Listeners",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:ModifyListenerAttributes",
                    "elasticloadbalancing:AddTags",
                    "elasticloadbalancing:RemoveTags",
                ],
                "Resource": [f"{elb}:loadbalancer/net/*/*", listeners],
            },
            {
                # The pods behind the NLB: what readiness gates and the drain sequence turn on.
                "Sid": "Targets",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                "Resource": f"{elb}:targetgroup/*/*",
            },
        ],
    }
