"""The app on the cluster: every object of the deployment contract, created with pulumi_kubernetes.

Nothing here describes the app: `app.contract.render(settings)` does, and this component hands each
object to the cluster's provider unchanged (one exception: `cluster_deployment_spec`). Names are the
contract's (metadata.name is always set), so Pulumi never adds a random suffix and a new image tag is
an in-place update of the Deployment's pod template — never a delete-and-create.

    workload = Workload("int-app", WorkloadArgs(
        settings=settings.app, provider=cluster.provider,
        image_repository=registry.repository_url,
        depends_on=[router.release, *certs.resources, dns],
    ))
    routes = workload.route(after=canary.pods if canary else [])   # the routes come last (see `route`)

The route objects are whatever the stack's router renders (app/contract/routers/): an Ingress, or HTTPRoutes and
Envoy Gateway policies, created as CustomResources when pulumi_kubernetes has no class for their kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from app.contract import AppSettings, render
from app.contract.manifests import Manifest, Manifests
from app.contract.routing import CanarySplit

ResourceClass = Callable[..., pulumi.CustomResource]

# The contract's kinds and the pulumi_kubernetes class that manages each.
RESOURCE_CLASSES: dict[tuple[str, str], ResourceClass] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
}

CUSTOM_RESOURCE_GROUPS = ("gateway.networking.k8s.io", "gateway.envoyproxy.io")
"""API groups of route objects created as CustomResources (their CRDs come with the router's chart)."""


def rollout_timeouts(settings: AppSettings) -> pulumi.CustomTimeouts:
    """How long `pulumi up` waits for the Deployment: its progress deadline plus one pod's shutdown.

    pulumi-kubernetes waits for Available and NewReplicaSetAvailable (default 10 minutes); a rollout
    stuck longer than the progress deadline has failed, so `pulumi up` should fail then too, with the
    pods' errors, instead of hanging.
    """
    seconds = f"{settings.timing.rollout_timeout}s"
    return pulumi.CustomTimeouts(create=seconds, update=seconds)


def cluster_deployment_spec(manifests: Manifests) -> dict[str, Any]:
    """The Deployment's spec as the cluster gets it: without `replicas` when the autoscaler owns the count.

    The HorizontalPodAutoscaler (minReplicas = replicas) sets the count through the scale subresource.
    Were `replicas` applied too, server-side apply would fail the next `pulumi up` with a field conflict
    once the autoscaler has scaled (pulumi-kubernetes #2491), or, forced, shrink a scaled-up app to its
    floor in the middle of a release. Kubernetes' advice for autoscaled Deployments: leave it out.
    A new Deployment starts at 1 pod and the autoscaler raises it to the floor within seconds.
    """
    spec = dict(manifests.deployment["spec"])
    target = manifests.autoscaler["spec"]["scaleTargetRef"]
    if target["kind"] == "Deployment" and target["name"] == manifests.deployment["metadata"]["name"]:
        spec.pop("replicas", None)
    return spec


def child_name(component: str, manifest: Manifest) -> str:
    """The Pulumi name of one object: the component's name and the object's kind, e.g. `app-deployment`."""
    return f"{component}-{manifest['kind'].lower()}"


def route_name(component: str, manifest: Manifest, base: str) -> str:
    """The Pulumi name of a route object: its kind, plus what its name adds to `base` (`-https-redirect`)."""
    return f"{child_name(component, manifest)}{manifest['metadata']['name'].removeprefix(base)}"


@dataclass(frozen=True, kw_only=True)
class WorkloadArgs:
    """What the app's objects are made from and where they go."""

    settings: AppSettings
    """The deployment contract's settings for this stack."""
    provider: pulumi.ProviderResource
    """The cluster's pulumi_kubernetes provider."""
    image_repository: pulumi.Input[str] | None = None
    """The image repository when only known at deploy time (the ECR URL); None uses the settings' own."""
    depends_on: Sequence[pulumi.Resource] = ()
    """The router and cert-manager (Releases, ClusterIssuers): their webhooks and CRDs must exist first."""
    split: CanarySplit | None = None
    """While a canary runs, its share of requests (routers that split the stable routes render it there)."""


class Workload(pulumi.ComponentResource):
    """The app's Namespace, Service, Deployment, PDB, HPA, NetworkPolicy and, through `route`, its routes."""

    deployment: pulumi.CustomResource
    """The Deployment: the smoke test runs after it (and the routes) is ready."""
    routes: list[pulumi.CustomResource]
    """The router's objects for the stack's host, once `route` has created them."""

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:Workload", name, None, opts)
        self._component, self._args = name, args
        self._manifests = manifests = render(args.settings, args.split)
        self.resources: dict[str, pulumi.CustomResource] = {}
        self.routes = []
        namespace: pulumi.CustomResource | None = None
        for manifest in manifests.all()[: -len(manifests.routes) or None]:
            kind = manifest["kind"]
            after: list[pulumi.Resource] = [*args.depends_on]
            if namespace is not None:
                after.append(namespace)
            options = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=after)
            spec: Any = manifest.get("spec")
            if kind == "Deployment":
                options = pulumi.ResourceOptions.merge(
                    options, pulumi.ResourceOptions(custom_timeouts=rollout_timeouts(args.settings))
                )
                spec = cluster_deployment_spec(manifests)
                if args.image_repository is not None:
                    spec = _spec_with_repository(args.settings, args.image_repository)
            resource = create_object(child_name(name, manifest), manifest, spec, options)
            self.resources[kind] = resource
            if kind == "Namespace":
                namespace = resource
        self.deployment = self.resources["Deployment"]
        scheme = "https" if args.settings.tls_cluster_issuer else "http"
        self.url = pulumi.Output.from_input(f"{scheme}://{args.settings.host}")
        self.register_outputs({"url": self.url})

    def route(self, *, after: Sequence[pulumi.Resource] = ()) -> list[pulumi.CustomResource]:
        """Create the routes, after the Service and `after` — the canary's pods while a canary runs.

        A router that splits the stable routes (Gateway API weights) must not send a share to canary pods that
        are not ready yet, so the routes are created only once the caller has the canary's pods to wait for; a
        router that leaves them alone during a canary (ingress-nginx) sees no change. Called once, by the program.
        """
        for manifest in self._manifests.routes:
            waits = [*self._args.depends_on, self.resources["Namespace"], self.resources["Service"], *after]
            options = pulumi.ResourceOptions(parent=self, provider=self._args.provider, depends_on=waits)
            self.routes.append(
                create_object(
                    route_name(self._component, manifest, self._args.settings.name),
                    manifest,
                    manifest.get("spec"),
                    options,
                )
            )
        return self.routes


def _spec_with_repository(settings: AppSettings, repository: pulumi.Input[str]) -> pulumi.Output[Any]:
    """The Deployment spec rendered with the real repository URL once it is known (still the contract's)."""

    def spec_for(url: str) -> Any:
        return cluster_deployment_spec(render(dataclasses.replace(settings, image_repository=url)))

    return pulumi.Output.from_input(repository).apply(spec_for)


def create_object(name: str, manifest: Manifest, spec: Any, options: pulumi.ResourceOptions) -> pulumi.CustomResource:
    fields = {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind", "metadata", "spec")}
    if spec is not None:
        fields["spec"] = spec
    resource_class = RESOURCE_CLASSES.get((manifest["apiVersion"], manifest["kind"]))
    if resource_class is None:
        group = manifest["apiVersion"].partition("/")[0]
        if group not in CUSTOM_RESOURCE_GROUPS:
            raise ValueError(
                f"the contract renders {manifest['apiVersion']} {manifest['kind']}, which Workload cannot create"
            )
        # A router's own kinds (Gateway API, Envoy Gateway policies): pulumi_kubernetes has no class for them.
        custom: pulumi.CustomResource = k8s.apiextensions.CustomResource(
            name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            **fields,
            opts=options,
        )
        return custom
    return resource_class(name, metadata=manifest["metadata"], **fields, opts=options)
