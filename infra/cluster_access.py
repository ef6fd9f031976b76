"""Who may reach the cluster's Kubernetes API, decided before anything is built.

The cluster is created with `bootstrap_cluster_creator_admin_permissions` off, and every principal
that may use the Kubernetes API gets an access entry the program owns: the admin roles
(`clusterAdminRoles`) and, with CI configured, the workflows' deploy and preview roles.

Why not EKS's bootstrap entry for the creator: EKS creates that entry outside the program, and an IAM
principal can be in only one access entry (EKS User Guide creating-access-entries), so listing the
creator's role in `clusterAdminRoles` as well made CreateAccessEntry fail. Which identity is "the
creator" is also history the program cannot see on a later run (an operator creates the cluster, CI
updates it), so skipping "the caller's" entry would flip between runs. With every entry explicit the
set is the same whoever runs `pulumi up`. The bootstrap flag is a create-time setting (CloudFormation
AWS::EKS::Cluster AccessConfig: "Update requires: Replacement"; terraform-aws-modules/terraform-aws-eks
v21 hardcodes it to false for the same reason); nothing had been deployed when it was turned off.

What keeps the deploying identity able to reach the API it installs charts through: the program
refuses to run as an identity that none of these entries would let in, before any resource exists::

    api_access_problem("arn:aws:sts::111122223333:assumed-role/Admin/alice", admin_roles=["Admin"])  # None
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ASSUMED_ROLE = re.compile(r"arn:[\w-]+:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[^/]+")


def role_arn(partition: str, account: str, role: str) -> str:
    """The ARN of a role of this account given as `clusterAdminRoles` lists it (path included, no account)."""
    return f"arn:{partition}:iam::{account}:role/{role}"


def role_name(role: str) -> str:
    """The role's name without its path ("aws-reserved/sso.amazonaws.com/X" → "X")."""
    return role.rsplit("/", 1)[-1]


def api_access_problem(caller_arn: str, *, admin_roles: Sequence[str], other_roles: Sequence[str] = ()) -> str | None:
    """Why the identity running the program could not use the cluster's Kubernetes API; None when it can.

    `caller_arn` is what STS GetCallerIdentity returns: for a role session
    `arn:aws:sts::<account>:assumed-role/<role name>/<session>`, which carries the role's name but not
    its path. IAM role names are unique within an account whatever their path, and case-insensitive
    (IAM CreateRole, RoleName), so the name alone identifies the role; `admin_roles` (clusterAdminRoles)
    and `other_roles` (the CI roles, which get their entries elsewhere) may carry paths.
    """
    match = _ASSUMED_ROLE.fullmatch(caller_arn)
    granted_roles = [*admin_roles, *other_roles]
    granted = ", ".join(granted_roles) or "none"
    if not match:
        return (
            f"this program runs as {caller_arn}, not as an IAM role; the cluster's Kubernetes API admits "
            f"only the roles in example-app:clusterAdminRoles (and CI's roles), currently: {granted}. "
            "Assume one of them (e.g. `aws sso login` or `aws sts assume-role`) and run again"
        )
    name = match.group(2)
    if any(role_name(role).lower() == name.lower() for role in granted_roles):
        return None
    return (
        f"this program runs as role {name}, which would have no access to the cluster's Kubernetes API "
        f"(EKS access entries, granted to: {granted}), so installing the charts would fail after the cluster "
        f"exists. Add the role with its path (`aws iam get-role --role-name {name} --query Role.Arn`): "
        f"`pulumi config set --path 'clusterAdminRoles[{len(admin_roles)}]' <path/>{name}`"
    )
