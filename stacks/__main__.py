"""The Pulumi program: load settings, build one component per concern, export what others read."""

import sys
from dataclasses import asdict
from pathlib import Path

# Pulumi runs this file from inside stacks/ (pulumi/pulumi#7360); app/ and infra/ live one level up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.canary import Canary, CanaryArgs, release_output
from infra.ci_access import CiAccess, CiAccessArgs
from infra.ci_policy import repository_arn
from infra.cluster import Cluster, ClusterArgs
from infra.dns import Dns, DnsArgs
from infra.network import Network, NetworkArgs
from infra.platform import CertIssuers, CertIssuersArgs, IngressController, IngressControllerArgs
from infra.registry import ImageRegistry, ImageRegistryArgs, is_managed_here
from infra.smoke_test import SmokeTest, smoke_test_args
from infra.workload import Workload, WorkloadArgs
from stacks.settings import load_settings

settings = load_settings()  # validates everything before any resource exists
env, net, cl = settings.stack, settings.network, settings.cluster

# Network and cluster settings carry exactly their components' Args fields (tests/infra/test_settings.py).
network = Network(env, NetworkArgs(**asdict(net), cluster_name=cl.name, tags=settings.tags))
cluster = Cluster(
    env,
    ClusterArgs(
        **asdict(cl), region=settings.region, private_subnet_ids=network.private_subnet_ids, tags=settings.tags
    ),
)
on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
ingress = IngressController(
    env,
    IngressControllerArgs(
        replicas=settings.platform.ingress_replicas,
        ingress_class=settings.app.ingress_class,
        namespace=settings.app.ingress_namespace,
    ),
    opts=on_cluster,
)
certs = CertIssuers(
    env,
    CertIssuersArgs(acme_email=settings.platform.acme_email, ingress_class=ingress.ingress_class),
    opts=on_cluster,
)
dns = Dns(
    env,
    DnsArgs(
        domain=settings.dns.domain, host=settings.dns.host, target_hostname=ingress.hostname, region=settings.region
    ),
)
platform_ready = [ingress.release, *certs.resources, dns]  # what the app's objects wait for
# A bare repository name means the shared ECR repository is created here (infra/registry.py).
registry = (
    ImageRegistry(env, ImageRegistryArgs(name=settings.app.image_repository, tags=settings.tags))
    if is_managed_here(settings.app.image_repository)
    else None
)
workload = Workload(
    f"{env}-app",
    WorkloadArgs(
        settings=settings.app,
        provider=cluster.provider,
        image_repository=registry.repository_url if registry else None,
        depends_on=platform_ready,
    ),
)
SmokeTest(  # `pulumi up` is done only when the release answers at its URL
    f"{env}-smoke",
    smoke_test_args(settings.app, workload.url),
    opts=pulumi.ResourceOptions(depends_on=[workload.deployment, workload.ingress]),
)
if settings.release.step is not None:  # a canary step, driven by infra/canary_driver.py (README "Canary releases")
    Canary(
        f"{env}-canary",
        CanaryArgs(
            app=settings.app,
            policy=settings.release.policy,
            step=settings.release.step,
            provider=cluster.provider,
            image_repository=registry.repository_url if registry else None,
            depends_on=[workload.deployment, workload.ingress],
        ),
    )
if settings.ci.repository:  # the GitHub workflows' OIDC roles (README "Releases")
    ci = CiAccess(
        f"{env}-ci",
        CiAccessArgs(
            repository=settings.ci.repository,
            environment=env,
            project=settings.project,
            cluster_name=cluster.name,
            image_repository_arn=(
                registry.repository_url.apply(repository_arn)
                if registry
                else repository_arn(settings.app.image_repository)
            ),
            publishes_images=registry is not None,  # the build job pushes with the registry owner's role
            oidc_provider_arn=settings.ci.oidc_provider_arn,
            state_bucket=settings.ci.state_bucket,
            secrets_key_arn=settings.ci.secrets_key_arn,
            tags=settings.tags,
        ),
    )
    pulumi.export("ciDeployRoleArn", ci.deploy_role_arn)
    pulumi.export("ciPreviewRoleArn", ci.preview_role_arn)
    pulumi.export("ciOidcProviderArn", ci.oidc_provider_arn)

pulumi.export("url", settings.url)
pulumi.export("clusterName", cluster.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("ingressHostname", ingress.hostname)
pulumi.export("imageTag", settings.app.image_tag)
pulumi.export("imageDigest", settings.app.image_digest)  # with imageTag: what an operator's `pulumi up` keeps
pulumi.export("release", release_output(settings.app, settings.release))  # what the canary driver reads
pulumi.export("imageRepository", registry.repository_url if registry else settings.app.image_repository)
