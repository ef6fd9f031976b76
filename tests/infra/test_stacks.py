"""Each real stack file, run through the real program under Pulumi mocks: the graph it would create."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from app.contract.ingress import INGRESS_TUNING
from app.contract.routers.ingress_nginx import controller_config
from harness.mocked_stack import ACCOUNT_ID, RELEASE_TAG, Graph
from harness.project_files import stack_names
from infra.helm_values import (
    CERT_MANAGER_CHART,
    INGRESS_NGINX_CHART,
    LETS_ENCRYPT_SERVERS,
    METRICS_SERVER_CHART,
    METRICS_SERVER_LABELS,
)

GraphOf = Callable[[str], Graph]

# zones, NAT gateways: prd survives a zone outage; int and stg share one NAT to save ~$35/month each.
SHAPE = {"int": (2, 1), "stg": (2, 1), "prd": (3, 3)}
ISSUER = {"int": "letsencrypt-staging", "stg": "letsencrypt-production", "prd": "letsencrypt-production"}
HOST = {"int": "example-app.int.example.com", "stg": "example-app.stg.example.com", "prd": "example-app.example.com"}
OUR_COMPONENTS = (
    "Network",
    "Cluster",
    "IngressController",
    "CertIssuers",
    "MetricsServer",
    "Dns",
    "CanaryAnalysisAccess",
)

pytestmark = pytest.mark.parametrize("stack", stack_names())


def _subnets(graph: Graph, kind: str) -> list[dict[str, object]]:
    return [r.inputs for r in graph.of_type("aws:ec2/subnet:Subnet") if f"-{kind}-" in r.name]


def test_network_spans_the_stacks_zones_with_one_or_per_zone_nat(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    zones, nats = SHAPE[stack]
    counts = graph.counts()
    assert counts["aws:ec2/vpc:Vpc"] == 1
    assert counts["aws:ec2/internetGateway:InternetGateway"] == 1
    assert counts["aws:ec2/subnet:Subnet"] == 2 * zones
    assert counts["aws:ec2/natGateway:NatGateway"] == nats
    assert counts["aws:ec2/eip:Eip"] == nats
    assert counts["aws:ec2/routeTable:RouteTable"] == 1 + zones  # one public, one private per zone
    assert counts["aws:ec2/routeTableAssociation:RouteTableAssociation"] == 2 * zones
    for kind in ("public", "private"):
        placed = [s["availabilityZone"] for s in _subnets(graph, kind)]
        assert len(set(placed)) == len(placed) == zones, f"{kind} subnets share a zone: {placed}"


def test_private_subnets_leave_through_nat_and_public_ones_are_tagged_for_load_balancers(
    stack: str, stack_graph: GraphOf
) -> None:
    graph = stack_graph(stack)
    for table in graph.of_type("aws:ec2/routeTable:RouteTable"):
        (route,) = table.inputs["routes"]
        if "-private-" in table.name:
            assert route.get("natGatewayId") and not route.get("gatewayId"), table.name
        else:
            assert route.get("gatewayId"), table.name
    assert all(s["tags"]["kubernetes.io/role/elb"] == "1" for s in _subnets(graph, "public"))
    assert all(s["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in _subnets(graph, "private"))
    assert not any(s.get("mapPublicIpOnLaunch") for s in _subnets(graph, "public") + _subnets(graph, "private"))


def test_nodes_run_only_in_private_subnets(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    private_ids = {f"{r.name}-id" for r in graph.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name}
    node_group = graph.one("aws:eks/nodeGroup:NodeGroup")
    cluster = graph.one("aws:eks/cluster:Cluster")
    assert set(node_group.inputs["subnetIds"]) == private_ids
    assert set(cluster.inputs["vpcConfig"]["subnetIds"]) == private_ids


def test_node_group_keeps_capacity_through_updates(stack: str, stack_graph: GraphOf) -> None:
    inputs = stack_graph(stack).one("aws:eks/nodeGroup:NodeGroup").inputs
    scaling = inputs["scalingConfig"]
    assert scaling["minSize"] >= 2
    assert scaling["minSize"] <= scaling["desiredSize"] <= scaling["maxSize"]
    # New nodes first, one old node drained at a time, never forced past the budgets (infra/node_rotation.py).
    assert inputs["updateConfig"] == {"maxUnavailable": 1, "updateStrategy": "DEFAULT"}
    assert inputs["forceUpdateVersion"] is False
    assert inputs["capacityType"] == ("SPOT" if stack == "int" else "ON_DEMAND")
    assert inputs["launchTemplate"]["id"]


def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(stack: str, stack_graph: GraphOf) -> None:
    template = stack_graph(stack).one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (volume,) = template["blockDeviceMappings"]
    assert volume["ebs"]["encrypted"] == "true"
    assert volume["ebs"]["volumeType"] == "gp3"


def test_cluster_secrets_are_encrypted_with_a_rotating_key_and_logs_are_kept(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    key = graph.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    cluster = graph.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"].endswith(key.name)
    assert cluster.inputs["version"] == "1.35"
    assert cluster.inputs["deletionProtection"] is (stack == "prd")
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert {"api", "audit", "authenticator"} <= set(cluster.inputs["enabledClusterLogTypes"])
    log_group = graph.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == f"/aws/eks/example-app-{stack}/cluster"
    assert graph.waits_for(cluster, log_group), "EKS would create the log group itself, without retention"
    assert graph.counts()["aws:iam/openIdConnectProvider:OpenIdConnectProvider"] >= 1
    key_use = next(r for r in graph.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-secrets-key"))
    (statement,) = json.loads(key_use.inputs["policy"])["Statement"]
    assert statement["Resource"] == f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:{key.name}"  # this key only (mocked ARN)
    assert "kms:Decrypt" in statement["Action"]
    assert graph.waits_for(cluster, key_use), "the cluster role must be allowed to use the key before EKS starts"


def test_kubeconfig_reaches_the_provider_only_as_a_secret(stack: str, stack_graph: GraphOf) -> None:
    from pulumi.runtime import rpc

    provider = stack_graph(stack).one("pulumi:providers:kubernetes")
    assert rpc.is_rpc_secret(provider.raw_inputs["kubeconfig"])
    assert '"command": "aws"' in provider.inputs["kubeconfig"]  # short-lived tokens, nothing stored


def test_charts_are_pinned_and_configured_for_zero_downtime(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    releases = {r.inputs["name"]: r.inputs for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {
        "ingress-nginx",
        "cert-manager",
        "metrics-server",
        "aws-load-balancer-controller",
        "kube-prometheus-stack",
    }
    nginx, certs = releases["ingress-nginx"], releases["cert-manager"]
    assert (nginx["chart"], nginx["version"]) == (INGRESS_NGINX_CHART.name, "4.15.1")
    assert nginx["repositoryOpts"]["repo"] == INGRESS_NGINX_CHART.repository
    assert (certs["chart"], certs["version"]) == (CERT_MANAGER_CHART.name, "v1.21.1")
    assert certs["values"]["crds"]["enabled"] is True
    controller = nginx["values"]["controller"]
    assert controller_config(INGRESS_TUNING).items() <= controller["config"].items()
    assert controller["replicaCount"] == (3 if stack == "prd" else 2)
    # The chart's PodDisruptionBudget: one controller at a time, whatever the replicas.
    assert controller["maxUnavailable"] == 1 and "minAvailable" not in controller
    assert controller["affinity"]["podAntiAffinity"]
    assert controller["metrics"]["enabled"] is True
    assert controller["service"]["loadBalancerClass"] == "service.k8s.aws/nlb"  # the AWS Load Balancer Controller's
    assert controller["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    # The controller pods' namespace asks for target-health readiness gates.
    (namespace,) = [
        n for n in graph.of_type("kubernetes:core/v1:Namespace") if n.inputs["metadata"]["name"] == nginx["namespace"]
    ]
    assert namespace.inputs["metadata"]["labels"]["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    assert nginx["atomic"] is True and certs["atomic"] is True


def test_metrics_server_feeds_the_hpa_from_two_pods_behind_a_pdb(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    (hpa,) = graph.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert hpa.inputs["spec"]["metrics"][0]["resource"]["name"] == "cpu"  # what metrics-server serves
    (release,) = [r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "metrics-server"]
    metrics = release.inputs
    assert (metrics["chart"], metrics["version"]) == (METRICS_SERVER_CHART.name, "3.13.0")
    assert metrics["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/metrics-server/"
    assert metrics["atomic"] is True
    values = metrics["values"]
    assert values["replicas"] >= 2
    assert values["podDisruptionBudget"]["enabled"] is True and values["podDisruptionBudget"]["maxUnavailable"] == 1
    (term,) = values["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == METRICS_SERVER_LABELS
    assert values["resources"]["requests"]["cpu"] and values["resources"]["limits"]["memory"]
    (namespace,) = [
        r for r in graph.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "metrics-server"
    ]
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert graph.waits_for(release, namespace)
    assert graph.waits_for(hpa, release), "the HPA would exist before anything serves the CPU metrics it scales on"


def test_both_lets_encrypt_issuers_exist_and_the_app_uses_its_stacks_one(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    issuers = {
        r.inputs["metadata"]["name"]: r.inputs for r in graph.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")
    }
    assert {i["spec"]["acme"]["server"] for i in issuers.values()} == set(LETS_ENCRYPT_SERVERS.values())
    for issuer in issuers.values():
        (solver,) = issuer["spec"]["acme"]["solvers"]
        assert solver == {"http01": {"ingress": {"ingressClassName": "nginx"}}}
    ingresses = graph.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert ingresses, "the app's Ingress is not wired into stacks/__main__.py"
    for ingress in ingresses:
        assert ingress.inputs["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == ISSUER[stack]
        assert ISSUER[stack] in issuers


def test_dns_record_follows_the_ingress_load_balancer(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    record = graph.one("aws:route53/record:Record")
    service = next(r for r in graph.of_type("kubernetes:core/v1:Service") if r.read)
    assert graph.waits_for(record, service), "the record must wait for the Service's load balancer hostname"
    assert record.inputs["name"] == HOST[stack]
    (alias,) = record.inputs["aliases"]
    assert alias["name"] == graph.outputs["ingressHostname"]
    assert alias["evaluateTargetHealth"] is True


def test_app_objects_wait_for_the_platform_releases(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    releases = {r.inputs["name"]: r for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    issuer = next(
        r for r in graph.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer") if r.name.endswith(ISSUER[stack])
    )
    app_objects = [
        r
        for kind in ("apps/v1:Deployment", "networking.k8s.io/v1:Ingress", "core/v1:Service")
        for r in graph.of_type(f"kubernetes:{kind}")
        if not r.read
    ]
    assert app_objects, "the app's Deployment/Service/Ingress are not wired into stacks/__main__.py"
    for obj in app_objects:
        for platform in (releases["ingress-nginx"], releases["cert-manager"], releases["metrics-server"], issuer):
            assert graph.waits_for(obj, platform), f"{obj.name} does not wait for {platform.name}"


def test_stack_outputs(stack: str, stack_graph: GraphOf) -> None:
    outputs = stack_graph(stack).outputs
    assert outputs["url"] == f"https://{HOST[stack]}"
    assert outputs["clusterName"] == f"example-app-{stack}"
    assert outputs["imageTag"] == RELEASE_TAG
    assert outputs["ingressHostname"].endswith(".elb.eu-west-1.amazonaws.com")
    assert '"current-context"' in outputs["kubeconfig"]
    secret = stack_graph(stack).secret_outputs
    assert "kubeconfig" in secret
    assert secret.isdisjoint({"url", "clusterName", "ingressHostname", "imageTag"})  # readable by the pipeline


def test_every_resource_sits_in_a_component_and_takes_its_name(stack: str, stack_graph: GraphOf) -> None:
    graph = stack_graph(stack)
    components = {r.urn: r for r in graph.resources if r.type.startswith("example-app:infra:")}
    assert {c.type.rsplit(":", 1)[1] for c in components.values()} >= set(OUR_COMPONENTS)
    for resource in graph.resources:
        parent = components.get(resource.parent)
        if parent is None or parent.type.rsplit(":", 1)[1] not in OUR_COMPONENTS:
            continue
        assert resource.name.startswith(f"{parent.name}-"), f"{resource.name} is not named after {parent.name}"
    ours = [r for r in graph.resources if r.type.startswith(("aws:", "kubernetes:", "pulumi:providers:"))]
    orphans = [r.name for r in ours if r.parent not in components]
    assert not orphans, f"resources outside any component: {orphans}"
