"""The identity the canary driver's analysis queries Prometheus as: one IAM role per stack that can do nothing else.

Example::

    analysis = CanaryAnalysisAccess("prd-canary-analysis", settings.canary_analysis_args(
        cluster_name=cluster.name, deploy_role_arn=ci.deploy_role_arn, monitoring_release=monitoring.release),
        opts=on_cluster)
    pulumi.export("analysisKubeconfig", cluster.kubeconfig_as(analysis.role_arn))

The driver runs `pulumi up` for each step as whoever runs it (an operator's clusterAdminRoles role, or CI's deploy
role), which holds EKS's cluster-admin access policy because the program installs charts, CRDs and cluster roles.
Its queries do not need that: they read Prometheus through the API server's service proxy. So they run as this
role instead (the `analysisKubeconfig` output assumes it), which Kubernetes lets do one thing — `get` on the
Prometheus Service's proxy (infra/canary_analysis_policy.py) — and which has no AWS permission at all:

- **IAM role**: trusted by exactly the roles that run the driver, with no permission policy. An EKS token is a
  presigned STS GetCallerIdentity URL (aws/aws-cli 2.36.7 awscli/customizations/eks/get_token.py
  `TokenGenerator`), and GetCallerIdentity needs no IAM permission (STS API Reference, GetCallerIdentity).
- **EKS access entry** of type STANDARD with one Kubernetes group and no access-policy association, so EKS's own
  authorizer grants nothing and Kubernetes RBAC decides alone (EKS User Guide creating-access-entries).
- **Role and RoleBinding** in the Prometheus namespace binding that group to the one rule.

Besides that rule the role holds only what Kubernetes gives every authenticated user (discovery, reviewing its
own access): no `pods/exec`, no reads of Secrets or other objects, nothing in other namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from app.contract.manifests import METRICS_SCRAPER_NAMESPACE
from infra.canary_analysis_policy import (
    ANALYSIS_GROUP,
    ANALYSIS_ROLE,
    analysis_binding_subjects,
    analysis_rules,
    analysis_trust_policy,
)
from infra.cluster_access import role_arn


@dataclass(frozen=True, kw_only=True)
class CanaryAnalysisAccessArgs:
    """Which cluster the analysis identity enters, who may assume it, and where Prometheus runs."""

    cluster_name: pulumi.Input[str]
    """This stack's EKS cluster (the access entry's cluster)."""
    admin_roles: Sequence[str] = ()
    """IAM role names (with path) of the operators who run the driver by hand (clusterAdminRoles)."""
    deploy_role_arn: pulumi.Input[str] | None = None
    """CI's deploy role for this stack (infra/ci_access.py), which runs `pulumi up` and may run the driver; None
    without CI. The preview role is not trusted: pull-request code runs with it."""
    namespace: str = METRICS_SCRAPER_NAMESPACE
    """The Prometheus namespace: the driver's proxy path names it (infra/canary_analysis_policy.py)."""
    monitoring_release: pulumi.Resource | None = None
    """The metrics stack's release, which creates that namespace; the Role waits for it."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """AWS tags for every taggable resource."""


class CanaryAnalysisAccess(pulumi.ComponentResource):
    """An IAM role with no AWS permissions that Kubernetes lets read the Prometheus Service's proxy, and only that."""

    role_arn: pulumi.Output[str]
    """The role `aws eks get-token --role-arn` assumes in the `analysisKubeconfig` output."""

    def __init__(self, name: str, args: CanaryAnalysisAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:CanaryAnalysisAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id
        # The same ARNs infra/cluster.py gives the admin access entries: these roles exist before the program runs.
        admin_arns = [role_arn(partition, account, role) for role in args.admin_roles]
        trusted = pulumi.Output.all(*admin_arns, *([args.deploy_role_arn] if args.deploy_role_arn else []))

        role = aws.iam.Role(
            f"{name}-role",
            description="Canary analysis: reads the stack's Prometheus through the Kubernetes API, nothing else",
            assume_role_policy=trusted.apply(lambda arns: json.dumps(analysis_trust_policy(arns))),
            tags=tags,
            opts=child,
        )
        aws.eks.AccessEntry(
            f"{name}-access",
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            type="STANDARD",
            kubernetes_groups=[ANALYSIS_GROUP],
            tags=tags,
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(
            parent=self, depends_on=[args.monitoring_release] if args.monitoring_release else []
        )
        metadata = {
            "name": ANALYSIS_ROLE,
            "namespace": args.namespace,
            "labels": {"app.kubernetes.io/part-of": "example-app"},
        }
        k8s_role = k8s.rbac.v1.Role(f"{name}-rbac-role", metadata=metadata, rules=analysis_rules(), opts=in_namespace)
        k8s.rbac.v1.RoleBinding(
            f"{name}-rbac-binding",
            metadata=metadata,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": k8s_role.metadata["name"]},
            subjects=analysis_binding_subjects(),
            opts=in_namespace,
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
