"""The Pulumi program: load settings, build one component per concern, export what others read."""

import pulumi

from app.contract.canary import canary_split
from infra.canary import Canary, CanaryArgs, release_output
from infra.canary_analysis_access import CanaryAnalysisAccess
from infra.ci_access import CiAccess
from infra.cluster import Cluster, require_api_access
from infra.dns import Dns
from infra.monitoring import AppMonitoring, AppMonitoringArgs
from infra.network import Network
from infra.platform import CertIssuers, LoadBalancerController, MetricsServer, Monitoring, router_platform
from infra.registry import EcrImages, ImageRegistry
from infra.smoke_test import SmokeTest, smoke_test_args
from infra.stack_outputs import OwnStackOutputs
from infra.workload import Workload, WorkloadArgs
from stacks.release import next_step, require_app_kept, require_release_images
from stacks.settings import load_settings

settings = load_settings()  # validates everything before any resource exists
require_app_kept(settings, OwnStackOutputs())  # no imageTag on a stack that runs the app: stops here, names its tag
require_release_images(settings, EcrImages())  # the app's image is in ECR, or the program stops here
env = settings.stack
# The identity running this must reach the cluster's API it installs charts through (infra/cluster_access.py).
require_api_access(env, admin_roles=settings.cluster.admin_roles, other_roles=settings.ci_roles)

network = Network(env, settings.network_args())
cluster = Cluster(env, settings.cluster_args(private_subnet_ids=network.private_subnet_ids))
on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
load_balancers = LoadBalancerController(  # turns the router's Service into an NLB with IP targets
    env,
    settings.load_balancer_controller_args(
        vpc_id=network.vpc_id, oidc_provider_arn=cluster.oidc_provider_arn, oidc_provider_url=cluster.oidc_provider_url
    ),
    opts=on_cluster,
)
monitoring = Monitoring(env, settings.monitoring_args(), opts=on_cluster)  # Prometheus, Alertmanager, Grafana
ingress = router_platform(  # ingress-nginx or Envoy Gateway, by the `router` setting
    env,
    settings.router_args(load_balancer_controller=load_balancers.release, monitoring=monitoring.release),
    opts=on_cluster,
)
certs = CertIssuers(env, settings.cert_issuers_args(router_release=ingress.release), opts=on_cluster)
metrics = MetricsServer(env, settings.metrics_server_args(), opts=on_cluster)  # the HPA reads CPU from it
dns = Dns(env, settings.dns_args(target_hostname=ingress.hostname))
registry = ImageRegistry(env, settings.registry_args()) if settings.owns_registry else None
registry_url = registry.repository_url if registry else None  # None: pods pull from the configured repository
if settings.ci.repository:  # the GitHub workflows' OIDC roles (README "Releases")
    ci = CiAccess(f"{env}-ci", settings.ci_access_args(cluster_name=cluster.name, registry_url=registry_url))
    pulumi.export("ciDeployRoleArn", ci.deploy_role_arn)
    pulumi.export("ciPreviewRoleArn", ci.preview_role_arn)
    pulumi.export("ciOidcProviderArn", ci.oidc_provider_arn)
analysis = CanaryAnalysisAccess(  # the canary driver's Prometheus queries run as this role, not as an admin
    f"{env}-canary-analysis",
    settings.canary_analysis_args(
        cluster_name=cluster.name,
        deploy_role_arn=ci.deploy_role_arn if settings.ci.repository else None,
        monitoring_namespace=monitoring.namespace,
        monitoring_release=monitoring.release,
    ),
    opts=on_cluster,
)

if settings.platform_only:  # no imageTag and no app running yet: a new stack's first `pulumi up`
    pulumi.log.info(next_step(settings))
    pulumi.export("nextStep", next_step(settings))
else:
    step, policy = settings.release.step, settings.release.policy  # a canary step: infra/canary_driver.py
    workload = Workload(
        f"{env}-app",
        WorkloadArgs(
            settings=settings.app,
            provider=cluster.provider,
            image_repository=registry_url,
            depends_on=[ingress.release, *certs.resources, metrics.release, dns],  # the app waits for the platform
            split=canary_split(settings.app, step, policy) if step else None,  # routers that weight stable routes
        ),
    )
    AppMonitoring(  # what Prometheus scrapes and alerts on, and the release dashboard
        f"{env}-observability",
        AppMonitoringArgs(
            app=settings.app, monitoring_namespace=monitoring.namespace, monitoring_release=monitoring.release
        ),
        opts=on_cluster,
    )
    canary = None
    if step is not None:  # README "Canary releases"
        canary = Canary(
            f"{env}-canary",
            CanaryArgs(
                app=settings.app,
                policy=policy,
                step=step,
                provider=cluster.provider,
                image_repository=registry_url,
                depends_on=[workload.deployment],
            ),
        )
    released = [workload.deployment, *workload.route(after=canary.pods if canary else [])]  # routes last
    if canary is not None:
        canary.route(after=released)  # canary-only routes (ingress-nginx's canary Ingress) after the stable ones
    SmokeTest(  # `pulumi up` is done only when the release answers at its URL
        f"{env}-smoke", smoke_test_args(settings.app, workload.url), opts=pulumi.ResourceOptions(depends_on=released)
    )
    pulumi.export("imageTag", settings.app.image_tag)  # present only once the app runs: the deploy's rollback target
    pulumi.export("imageDigest", settings.app.image_digest)  # with imageTag: what an operator's `pulumi up` keeps
    pulumi.export("release", release_output(settings.app, settings.release))  # what the canary driver reads

pulumi.export("url", settings.url)
pulumi.export("clusterName", cluster.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export(
    "analysisKubeconfig", cluster.kubeconfig_as(analysis.role_arn)
)  # what infra/canary_driver.py queries with
pulumi.export("ingressHostname", ingress.hostname)
pulumi.export("imageRepository", registry_url if registry_url is not None else settings.app.image_repository)
