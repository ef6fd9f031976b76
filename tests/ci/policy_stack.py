"""The tiny stack .ci/policy-pack.sh previews: the policy pack on the real engine, no cloud, no cluster.

It renders a restricted Namespace and a NetworkPolicy as YAML files instead of sending them to a
cluster; with `enforceNetworkPolicy` it adds the EKS vpc-cni add-on that enforces NetworkPolicy, through
an AWS provider configured to call nothing (a preview of an add-on needs no AWS call). Config keys:
`renderDirectory` (where the YAML would go) and `enforceNetworkPolicy` (true adds the add-on).
"""

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

config = pulumi.Config()

# pulumi_kubernetes 4.34.2 Provider(render_yaml_to_directory=…): objects are written to files, never to a
# cluster, and rendering proceeds when no cluster is reachable (provider docs, generated from its schema).
renderer = k8s.Provider("rendered", render_yaml_to_directory=config.require("renderDirectory"))
namespace = k8s.core.v1.Namespace(
    "app",
    metadata={"name": "app", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    opts=pulumi.ResourceOptions(provider=renderer),
)
k8s.networking.v1.NetworkPolicy(
    "app",
    metadata={"name": "app", "namespace": "app"},
    spec={"podSelector": {}, "policyTypes": ["Ingress"]},  # admits nothing: every pod of `app` is closed
    opts=pulumi.ResourceOptions(provider=renderer, depends_on=[namespace]),
)

if config.get_bool("enforceNetworkPolicy"):
    # No credential check (STS), account lookup or instance metadata: the script's credentials are fake.
    offline = aws.Provider(
        "offline",
        region="eu-west-1",
        skip_credentials_validation=True,
        skip_requesting_account_id=True,
        skip_metadata_api_check=True,
    )
    aws.eks.Addon(
        "vpc-cni",
        cluster_name="policy-check",
        addon_name="vpc-cni",
        addon_version="v1.20.4-eksbuild.1",  # previewed, never created: exact, as versions-pinned asks
        configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
        tags={"project": pulumi.get_project(), "stack": pulumi.get_stack()},
        opts=pulumi.ResourceOptions(provider=offline),
    )
