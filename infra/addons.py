"""The cluster's EKS add-ons as plain data: which ones, which version per Kubernetes version, what configuration.

No Pulumi import: infra/cluster.py turns these into `aws.eks.Addon` resources, tests read them directly,
and `python -m infra.addon_check` compares them with what AWS offers today::

    ADDON_VERSIONS["1.35"]["vpc-cni"]          # "v1.21.1-eksbuild.7"
    configuration_values(VPC_CNI)              # '{"enableNetworkPolicy": "true"}'

Why these add-ons:

- **vpc-cni** gives every pod a VPC address and, with `enableNetworkPolicy`, enforces NetworkPolicy.
  EKS leaves enforcement off by default (EKS User Guide cni-network-policy-configure: the add-on's
  configuration `{"enableNetworkPolicy": "true"}`, VPC CNI ≥ 1.14). The app trusts forwarded headers
  (`FORWARDED_ALLOW_IPS="*"`) only because its NetworkPolicy admits nothing but the ingress, so the
  policy has to be enforced, not just accepted.
- **kube-proxy** programs the Service addresses on every node; the VPC CNI reaches the API server
  through one of them (aws/amazon-vpc-cni-k8s v1.21.1 README, `CLUSTER_ENDPOINT`: without it the CNI
  waits for kube-proxy's cluster IP routes), so it is needed before a node can turn Ready.
- **coredns** answers the cluster's DNS.

Not installed: **eks-pod-identity-agent**. Nothing here uses EKS Pod Identity: the cluster has an IAM
OIDC provider, and the VPC CNI gets its AWS permissions through IRSA (infra/cluster.py). A later
workload that wants Pod Identity (e.g. the AWS Load Balancer Controller) adds the agent as one more row
per version here; until then an unused host-network DaemonSet on every node is surface without use.
Without `bootstrap_self_managed_addons`, EKS installs nothing itself, so these three are the cluster's
whole networking and DNS, all of it managed and pinned here.

The live check: `aws eks describe-addon-versions --kubernetes-version <v> --addon-name <name>` lists
what AWS offers for a version now, and `aws eks describe-addon-configuration --addon-name <name>
--addon-version <version>` the configuration schema; `python -m infra.addon_check` runs both for every
pin and key below (needs AWS credentials, read-only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from app.contract.disruption import DRAIN_MAX_UNAVAILABLE, spread_constraints

VPC_CNI = "vpc-cni"
KUBE_PROXY = "kube-proxy"
COREDNS = "coredns"

BEFORE_NODES = (VPC_CNI, KUBE_PROXY)
"""DaemonSets a node needs before it turns Ready: without a CNI (which reaches the API server through
kube-proxy's Service routes) a node never becomes Ready and the node group's creation fails
(NodeCreationFailure). A DaemonSet with no node to run on has nothing to wait for, so the add-on can turn
ACTIVE first (terraform-aws-modules/terraform-aws-eks v21.19.0 README creates the vpc-cni and
eks-pod-identity-agent DaemonSets `before_compute`; kube-proxy is a DaemonSet the same way)."""
AFTER_NODES = (COREDNS,)
"""Deployments that need nodes to schedule on: EKS reports coredns DEGRADED (and its creation waits until
it times out) while no node can run its pods."""
ADDONS = (*BEFORE_NODES, *AFTER_NODES)

# Versions: the EKS User Guide's tables of the latest add-on version per Kubernetes version, read from the
# newest stored copies (check them live with `python -m infra.addon_check` before changing a pin):
# - vpc-cni: managing-vpc-cni.md ("Amazon VPC CNI versions"; stored copy docs.amazonaws.cn/eks/latest/
#   userguide/managing-vpc-cni.md): v1.21.1-eksbuild.7 for every Kubernetes version 1.29–1.35. Upstream
#   tag aws/amazon-vpc-cni-k8s v1.21.1 (2025-12-17): network policy agent v1.3.1, `enableNetworkPolicy` in
#   charts/aws-vpc-cni/values.yaml.
# - kube-proxy: managing-kube-proxy.md ("kube-proxy versions"; stored copy docs.aws.amazon.com/ja_jp/eks/
#   latest/userguide/managing-kube-proxy.md, the table that already lists 1.36). Its minor is the cluster's.
# - coredns: managing-coredns.md ("CoreDNS versions"; stored copy docs.aws.amazon.com/ja_jp/eks/latest/
#   userguide/managing-coredns.md, same date). One CoreDNS minor per Kubernetes minor, so an upgrade of
#   the cluster moves CoreDNS one minor at a time.
ADDON_VERSIONS: Mapping[str, Mapping[str, str]] = {
    "1.33": {VPC_CNI: "v1.21.1-eksbuild.7", KUBE_PROXY: "v1.33.10-eksbuild.13", COREDNS: "v1.12.4-eksbuild.18"},
    "1.34": {VPC_CNI: "v1.21.1-eksbuild.7", KUBE_PROXY: "v1.34.6-eksbuild.13", COREDNS: "v1.13.2-eksbuild.11"},
    "1.35": {VPC_CNI: "v1.21.1-eksbuild.7", KUBE_PROXY: "v1.35.3-eksbuild.13", COREDNS: "v1.14.3-eksbuild.3"},
}
"""Kubernetes minor version → add-on name → exact EKS add-on version (never "latest": a preview shows
every add-on upgrade)."""

NETWORK_POLICY_MIN_VPC_CNI = (1, 14)
"""VPC CNI versions that can enforce NetworkPolicy (EKS User Guide cni-network-policy-configure)."""

COREDNS_LABELS = {"k8s-app": "kube-dns"}
"""The CoreDNS pods' labels (EKS User Guide managing-coredns: its default topologySpreadConstraints)."""
COREDNS_REPLICAS = 2
"""Two DNS servers, on different nodes and, where there are nodes in several, different zones."""
COREDNS_MAX_UNAVAILABLE = DRAIN_MAX_UNAVAILABLE
"""The PodDisruptionBudget: a drain or add-on update takes at most one of the two at a time. The add-on's
configuration offers `enabled`, `maxUnavailable` and `minAvailable` (EKS User Guide eks-networking-add-ons, CoreDNS
"PodDisruptionBudget"), no `unhealthyPodEvictionPolicy`: its budget keeps Kubernetes' default, IfHealthyBudget."""


def vpc_cni_configuration() -> dict[str, Any]:
    """The VPC CNI's configuration: NetworkPolicy enforced.

    `enableNetworkPolicy` is a string in the add-on's schema and the chart's values
    (aws/amazon-vpc-cni-k8s v1.21.1 charts/aws-vpc-cni/values.yaml: `enableNetworkPolicy: "false"`; it
    feeds the `enable-network-policy-controller` ConfigMap key and the node agent's
    `--enable-network-policy`). The DaemonSet's update strategy stays upstream's (config/master/
    aws-k8s-cni.yaml at v1.21.1: `maxUnavailable: 10%`, which the DaemonSet controller rounds up —
    kubernetes pkg/controller/daemon/util UnavailableCount — so one node at a time up to 10 nodes), and
    running pods keep their network while aws-node restarts (v1.21.1 README, "Version Upgrade").

    Enforcement is the VPC CNI's default "standard" mode: a new pod's policy is applied while it starts
    (EKS User Guide cni-network-policy-configure, step 1). "strict" would need a policy for every pod in
    the cluster, CoreDNS included.
    """
    return {"enableNetworkPolicy": "true"}


def coredns_configuration() -> dict[str, Any]:
    """CoreDNS: two replicas spread over zones and nodes, a PodDisruptionBudget so a drain keeps DNS up.

    Every key is in the coredns add-on's documented schema (EKS User Guide): `replicaCount`
    (coredns-add-on-update), `podDisruptionBudget` with `enabled`/`maxUnavailable` and
    `topologySpreadConstraints`, whose value replaces EKS's default zone spread (managing-coredns,
    "Important CoreDNS upgrade considerations"). Both constraints are soft (`ScheduleAnyway`): DNS pods
    must always find a node, and a hard hostname spread can leave a pod Pending while a cordoned node
    still counts as a domain during a drain (app/contract/disruption.py, every tier's spread).
    """
    return {
        "replicaCount": COREDNS_REPLICAS,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": COREDNS_MAX_UNAVAILABLE},
        "topologySpreadConstraints": spread_constraints(COREDNS_LABELS),
    }


CONFIGURATIONS = {VPC_CNI: vpc_cni_configuration, COREDNS: coredns_configuration}
"""Add-ons with configuration of ours; kube-proxy runs with EKS's defaults."""


def configuration_values(addon: str) -> str | None:
    """The add-on's configuration as the JSON string `aws.eks.Addon` takes, or None for EKS's defaults."""
    configure = CONFIGURATIONS.get(addon)
    return json.dumps(configure(), sort_keys=True) if configure else None


class AddonVersionError(ValueError):
    """A Kubernetes version without a pinned version of every add-on."""


def addon_versions(kubernetes_version: str) -> Mapping[str, str]:
    """The pinned add-on versions for a Kubernetes minor version; refuses a version without a full row."""
    row = ADDON_VERSIONS.get(kubernetes_version, {})
    missing = [addon for addon in ADDONS if addon not in row]
    if missing:
        raise AddonVersionError(
            f"Kubernetes {kubernetes_version} has no pinned EKS add-on version for {', '.join(missing)}; "
            f"pin them in infra/addons.py (pinned: {', '.join(ADDON_VERSIONS) or 'none'})"
        )
    return row


_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)-eksbuild\.(\d+)")


def parse_version(version: str) -> tuple[int, int, int, int]:
    """(major, minor, patch, build) of an EKS add-on version like v1.21.1-eksbuild.7."""
    match = _VERSION.fullmatch(version)
    if not match:
        raise AddonVersionError(f"{version!r} is not an EKS add-on version (vMAJOR.MINOR.PATCH-eksbuild.N)")
    major, minor, patch, build = (int(part) for part in match.groups())
    return major, minor, patch, build
