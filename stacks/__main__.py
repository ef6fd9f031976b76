"""The Pulumi program: load settings, build one component per concern, export what others read."""

import pulumi

from infra.canary import Canary, CanaryArgs, release_output
from infra.ci_access import CiAccess
from infra.cluster import Cluster
from infra.dns import Dns
from infra.network import Network
from infra.platform import CertIssuers, IngressController, MetricsServer
from infra.registry import ImageRegistry
from infra.smoke_test import SmokeTest, smoke_test_args
from infra.workload import Workload, WorkloadArgs
from stacks.settings import load_settings

settings = load_settings()  # validates everything before any resource exists
env = settings.stack

network = Network(env, settings.network_args())
cluster = Cluster(env, settings.cluster_args(private_subnet_ids=network.private_subnet_ids))
on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
ingress = IngressController(env, settings.ingress_controller_args(), opts=on_cluster)
certs = CertIssuers(env, settings.cert_issuers_args(), opts=on_cluster)
metrics = MetricsServer(env, settings.metrics_server_args(), opts=on_cluster)  # the HPA reads CPU from it
dns = Dns(env, settings.dns_args(target_hostname=ingress.hostname))
registry = ImageRegistry(env, settings.registry_args()) if settings.owns_registry else None
registry_url = registry.repository_url if registry else None  # None: pods pull from the configured repository

workload = Workload(
    f"{env}-app",
    WorkloadArgs(
        settings=settings.app,
        provider=cluster.provider,
        image_repository=registry_url,
        depends_on=[ingress.release, *certs.resources, metrics.release, dns],  # the app's objects wait for the platform
    ),
)
released = [workload.deployment, workload.ingress]  # what the smoke test and a canary step wait for
SmokeTest(  # `pulumi up` is done only when the release answers at its URL
    f"{env}-smoke", smoke_test_args(settings.app, workload.url), opts=pulumi.ResourceOptions(depends_on=released)
)
if settings.release.step is not None:  # a canary step, driven by infra/canary_driver.py (README "Canary releases")
    Canary(
        f"{env}-canary",
        CanaryArgs(
            app=settings.app,
            policy=settings.release.policy,
            step=settings.release.step,
            provider=cluster.provider,
            image_repository=registry_url,
            depends_on=released,
        ),
    )
if settings.ci.repository:  # the GitHub workflows' OIDC roles (README "Releases")
    ci = CiAccess(f"{env}-ci", settings.ci_access_args(cluster_name=cluster.name, registry_url=registry_url))
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
pulumi.export("imageRepository", registry_url if registry_url is not None else settings.app.image_repository)
