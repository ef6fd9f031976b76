"""EKS: the control plane, its IAM and KMS, an OIDC provider for IRSA, its add-ons and an ASG-backed node group.

Example::

    cluster = Cluster("prd", ClusterArgs(name="example-app-prd", version="1.35", region="eu-west-1",
                                         private_subnet_ids=network.private_subnet_ids, ...))
    k8s.core.v1.Namespace("app", opts=pulumi.ResourceOptions(provider=cluster.provider))

Node updates (AMI, version, launch template) go through EKS's managed rolling update: new nodes first, then
each old node drained through the eviction API (PodDisruptionBudgets hold), one node at a time
(infra/node_rotation.py says why, and what each tier goes through).

Networking and DNS are EKS add-ons the program manages and pins (infra/addons.py): the VPC CNI (with
NetworkPolicy enforced) and kube-proxy exist before the node group, because a node without them never
turns Ready; CoreDNS comes after it, because its pods need nodes. The cluster is created without
EKS's self-managed copies of them (`bootstrap_self_managed_addons=False`), so nothing is adopted or
overwritten and the first node already runs the configuration declared here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.addons import AFTER_NODES, BEFORE_NODES, VPC_CNI, addon_versions, configuration_values
from infra.ci_policy import EKS_ADMIN_POLICY, web_identity_trust_policy
from infra.cluster_access import api_access_problem, role_arn
from infra.node_rotation import FORCE_UPDATE_VERSION, NODE_GROUP_UPDATE_CONFIG
from infra.node_types import NODE_AMI_TYPE

CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
"""AWS managed policies every node needs: join the cluster, pull images from ECR."""
CNI_POLICY = "AmazonEKS_CNI_Policy"
"""The VPC CNI's permissions (ENIs and their addresses). EKS recommends attaching it to an IRSA role of
the `aws-node` service account rather than to the node role (EKS User Guide create-node-role,
cni-iam-role), so no other process on a node can use them."""
CNI_SERVICE_ACCOUNT = ("kube-system", "aws-node")
"""Namespace and name of the VPC CNI's service account (EKS User Guide cni-iam-role)."""


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """What the cluster and its nodes look like."""

    name: str
    """EKS cluster name (also the control-plane log group's name part)."""
    version: str = "1.35"
    """Kubernetes minor version for the control plane and the nodes."""
    region: str
    """AWS region, written into the kubeconfig's token command."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets for the control plane's network interfaces and every node; never public."""
    service_cidr: str = "172.20.0.0/16"
    """Kubernetes Service range."""
    instance_types: Sequence[str] = ("t3.large",)
    """Node instance types (several spread spot capacity over pools)."""
    capacity_type: str = "ON_DEMAND"
    """ON_DEMAND or SPOT."""
    min_nodes: int = 2
    """Nodes always running; ≥ 2 so a drain never empties the cluster."""
    desired_nodes: int = 2
    """Nodes at creation."""
    max_nodes: int = 4
    """Upper bound."""
    disk_gb: int = 40
    """Encrypted gp3 root volume per node."""
    public_access_cidrs: Sequence[str] = ()
    """Internet ranges allowed to the API endpoint; empty keeps the endpoint private only."""
    admin_roles: Sequence[str] = ()
    """IAM role names (with path) in this account that get cluster-admin through access entries."""
    log_retention_days: int = 30
    """Retention of the control-plane log group."""
    deletion_protection: bool = False
    """EKS refuses to delete the cluster while set (production); off by default so stacks can come and go."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable resource."""


class Cluster(pulumi.ComponentResource):
    """An EKS cluster with envelope-encrypted secrets, control-plane logs, IRSA and a managed node group."""

    name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    node_group: aws.eks.NodeGroup
    addons: dict[str, aws.eks.Addon]
    """The managed EKS add-ons by name (infra/addons.py)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id

        def managed_policy(policy: str) -> str:
            return f"arn:{partition}:iam::aws:policy/{policy}"

        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {args.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )
        aws.kms.Alias(f"{name}-secrets", name=f"alias/{args.name}-secrets", target_key_id=secrets_key.id, opts=child)
        # EKS would create this group itself, without retention; owning it bounds cost and keeps it tagged.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.name}/cluster",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )

        cluster_role = aws.iam.Role(
            f"{name}-cluster",
            assume_role_policy=_assume_role_policy("eks.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster",
            role=cluster_role.name,
            policy_arn=managed_policy("AmazonEKSClusterPolicy"),
            opts=child,
        )

        # The control plane encrypts and decrypts secrets with this key as the cluster role; the
        # managed AmazonEKSClusterPolicy grants no KMS use, so allow exactly this key.
        key_use = aws.iam.RolePolicy(
            f"{name}-cluster-secrets-key",
            role=cluster_role.name,
            policy=secrets_key.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.name,
            version=args.version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": list(args.private_subnet_ids),
                "endpoint_private_access": True,
                "endpoint_public_access": bool(args.public_access_cidrs),
                "public_access_cidrs": list(args.public_access_cidrs) or None,
            },
            kubernetes_network_config={"service_ipv4_cidr": args.service_cidr},
            encryption_config={"provider": {"key_arn": secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            # Access entries only (no aws-auth ConfigMap), every one of them owned by this program: no
            # entry for "whoever created it", which EKS would add outside the program and which would
            # collide with the same role in clusterAdminRoles (infra/cluster_access.py).
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            # No self-managed vpc-cni/kube-proxy/coredns at creation: the managed add-ons below are the
            # only copies (CreateCluster bootstrapSelfManagedAddons; a create-time setting).
            bootstrap_self_managed_addons=False,
            # Standard support only: extended support costs six times as much per cluster hour.
            upgrade_policy={"support_type": "STANDARD"},
            deletion_protection=args.deletion_protection,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs, cluster_policy, key_use]),
        )

        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer if ids and ids[0].oidcs else "")
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=child,
        )

        node_role = aws.iam.Role(
            f"{name}-nodes",
            assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{policy}", role=node_role.name, policy_arn=managed_policy(policy), opts=child
            )
            for policy in NODE_POLICIES
        ]

        # The VPC CNI's AWS permissions through IRSA: only the aws-node service account can assume them.
        cni_role = aws.iam.Role(
            f"{name}-vpc-cni",
            assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
                lambda parts: json.dumps(service_account_trust_policy(parts[0], parts[1], *CNI_SERVICE_ACCOUNT))
            ),
            tags=tags,
            opts=child,
        )
        cni_policy = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-cni", role=cni_role.name, policy_arn=managed_policy(CNI_POLICY), opts=child
        )
        versions = addon_versions(args.version)  # the settings refuse a version without pins first

        def addon(addon_name: str, depends_on: Sequence[pulumi.Resource]) -> aws.eks.Addon:
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=versions[addon_name],
                configuration_values=configuration_values(addon_name),
                service_account_role_arn=cni_role.arn if addon_name == VPC_CNI else None,
                # The program's configuration is the truth: on update EKS resets hand edits to it
                # (PRESERVE would keep drift), and on create it adopts whatever a preserved predecessor
                # left instead of failing (EKS User Guide creating-an-add-on, updating-an-add-on).
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                # Removing or replacing an add-on resource leaves its Kubernetes objects running, so it
                # never cuts the network or DNS of running pods; deleting the cluster removes them anyway.
                preserve=True,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )

        node_addons = [addon(a, [cni_policy] if a == VPC_CNI else []) for a in BEFORE_NODES]
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            description=f"Nodes of {args.name}: IMDSv2 only, encrypted gp3 root volume",
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only: no unauthenticated metadata reads (SSRF)
                # One hop: the node reaches the metadata service, pods (one hop further) do not; pods
                # get AWS access through IRSA instead of borrowing the node's role.
                "http_put_response_hop_limit": 1,
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": args.disk_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[
                {"resource_type": kind, "tags": {**tags, "Name": f"{args.name}-node"}}
                for kind in ("instance", "volume", "network-interface")
            ],
            update_default_version=True,
            tags=tags,
            opts=child,
        )
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=list(args.private_subnet_ids),
            instance_types=list(args.instance_types),
            capacity_type=args.capacity_type,
            ami_type=NODE_AMI_TYPE,
            launch_template={"id": launch_template.id, "version": launch_template.latest_version.apply(str)},
            scaling_config={
                "min_size": args.min_nodes,
                "desired_size": args.desired_nodes,
                "max_size": args.max_nodes,
            },
            # New nodes first, then one old node at a time, drained through the eviction API so every tier's
            # PodDisruptionBudget holds; a drain its budgets block fails the update rather than deleting pods.
            update_config=dict(NODE_GROUP_UPDATE_CONFIG),
            force_update_version=FORCE_UPDATE_VERSION,
            labels={"example-app/node-group": "general"},
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # A node joins only with its CNI and kube-proxy in place, or it never turns Ready.
                depends_on=[*node_policies, *node_addons],
                # Autoscaling (or an operator) owns the current size; Pulumi owns the bounds.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        # CoreDNS needs nodes to run on; until then EKS reports it DEGRADED and its creation waits.
        cluster_addons = [addon(a, [self.node_group]) for a in AFTER_NODES]
        self.addons = dict(zip((*BEFORE_NODES, *AFTER_NODES), (*node_addons, *cluster_addons), strict=True))

        admin_grants = [
            grant_cluster_access(
                f"{name}-admin-{role.replace('/', '-').lower()}",
                cluster_name=cluster.name,
                principal_arn=role_arn(partition, account, role),
                policy=EKS_ADMIN_POLICY,
                partition=partition,
                tags=tags,
                opts=child,
            )
            for role in args.admin_roles
        ]

        self.name = cluster.name
        self.oidc_provider_arn = oidc.arn
        self.oidc_provider_url = oidc.url
        self._api_parts = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data)
        self._region = args.region
        self.kubeconfig = self.kubeconfig_as()
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Releases and objects wait for nodes and DNS (nothing schedules or resolves before), and for
            # the admin access entries: the creator gets none of its own, so the API admits the identity
            # running `pulumi up` only once its grant exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_group, *cluster_addons, *admin_grants]),
        )
        self.register_outputs(
            {
                "name": self.name,
                "kubeconfig": self.kubeconfig,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcProviderUrl": self.oidc_provider_url,
            }
        )

    def kubeconfig_as(self, role_arn: pulumi.Input[str] = "") -> pulumi.Output[str]:
        """The cluster's kubeconfig: its tokens signed as `role_arn` (which the caller assumes), or as the caller.

        A secret like the stack's own `kubeconfig` output, though it holds no credential: it names the cluster.
        """
        return pulumi.Output.secret(
            pulumi.Output.all(self._api_parts, role_arn).apply(
                lambda parts: kubeconfig(
                    cluster_name=parts[0][0],
                    endpoint=parts[0][1],
                    ca_data=parts[0][2],
                    region=self._region,
                    role_arn=parts[1],
                )
            )
        )


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
            ],
        }
    )


def service_account_trust_policy(
    provider_arn: str, issuer_url: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """IRSA: only this Kubernetes service account, through the cluster's OIDC provider, may assume the role.

    The condition keys are the issuer without its scheme (EKS User Guide cni-iam-role's trust policy).
    """
    issuer = issuer_url.removeprefix("https://")
    return web_identity_trust_policy(
        provider_arn,
        {
            "StringEquals": {
                f"{issuer}:aud": "sts.amazonaws.com",
                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            }
        },
    )


def require_api_access(stack: str, *, admin_roles: Sequence[str], other_roles: Sequence[str] = ()) -> None:
    """Stop the program, before any resource exists, when its AWS identity could not use the cluster's API.

    GetCallerIdentity needs no IAM permission, so CI's read-only roles can run it too.
    """
    caller = aws.get_caller_identity().arn
    problem = api_access_problem(caller, admin_roles=admin_roles, other_roles=other_roles)
    if problem:
        raise pulumi.RunError(f"stack {stack!r}: {problem}")


def kubeconfig(*, cluster_name: str, endpoint: str, ca_data: str, region: str, role_arn: str = "") -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (short-lived tokens, no stored secret).

    With `role_arn` the token is signed as that role, assumed from whatever credentials run kubectl (aws/aws-cli
    2.36.7 awscli/customizations/eks/get_token.py: `--role-arn` → STS AssumeRole, then the presigned
    GetCallerIdentity is signed with the role's session); without it, as the caller itself.
    """
    assume = ["--role-arn", role_arn] if role_arn else []
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                cluster_name,
                *assume,
                "--region",
                region,
                "--output",
                "json",
            ],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        }
    )


def grant_cluster_access(
    name: str,
    *,
    cluster_name: pulumi.Input[str],
    principal_arn: pulumi.Input[str],
    policy: str,
    partition: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.eks.AccessPolicyAssociation:
    """Let an IAM role into the cluster with one EKS access policy, cluster-wide (access entries, no aws-auth).

    Returns the policy association: the role can use the API once it exists.
    """
    entry = aws.eks.AccessEntry(name, cluster_name=cluster_name, principal_arn=principal_arn, tags=tags, opts=opts)
    return aws.eks.AccessPolicyAssociation(
        name,
        cluster_name=cluster_name,
        principal_arn=entry.principal_arn,
        policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{policy}",
        access_scope={"type": "cluster"},
        opts=opts,
    )
