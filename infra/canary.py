"""The canary of a release on the cluster: its Deployment, Service, NetworkPolicy and canary-only routes.

The objects come from the deployment contract (`app.contract.canary.render_canary`); this component
only creates them on the cluster's provider. A release walks its steps by successive `pulumi up`s
with the config keys `canaryTag` and `canaryWeight` (infra/canary_driver.py runs them and the
analysis in between): the stack creates this component while `canaryTag` is set and deletes it when
the key is removed.

    canary = Canary(
        "app-canary",
        CanaryArgs(app=settings.app, policy=release.policy, step=release.step, provider=cluster.provider,
                   depends_on=[workload.deployment]),
    )
    stable_routes = workload.route(after=canary.pods)   # a split of the stable routes waits for the canary's pods
    canary.route(after=stable_routes)                   # ingress-nginx's canary Ingress needs its main Ingress
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from app.contract import AppSettings
from app.contract.canary import CanaryPolicy, CanaryRelease, CanaryStep, canary_name, canary_selector, render_canary
from app.contract.manifests import CONTAINER_NAME
from infra.workload import create_object, rollout_timeouts, route_name


@dataclass(frozen=True, kw_only=True)
class CanaryArgs:
    """What a canary step needs: the stable release's settings, the policy and the step itself."""

    app: AppSettings
    """The stable release's settings; the canary differs only in its tag, names and replicas."""
    policy: CanaryPolicy
    """The release policy (strategy `canary`): header routing and the analysis thresholds."""
    step: CanaryStep
    """The canary's tag and its share of traffic."""
    image_repository: pulumi.Input[str] | None = None
    """The image repository when only known at deploy time (the ECR URL, as the Workload gets it)."""
    provider: pulumi.ProviderResource | None = None
    """The cluster's Kubernetes provider; None inherits the component's `providers` option (as stacks/ passes it)."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The stable Deployment: the canary runs beside a release that is up."""


class Canary(pulumi.ComponentResource):
    """The canary objects of one step; removing the component from the program removes the canary."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    network_policy: k8s.networking.v1.NetworkPolicy
    routes: list[pulumi.CustomResource]
    """Route objects only the canary has (ingress-nginx's canary Ingress), once `route` has created them."""

    def __init__(self, name: str, args: CanaryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("example-app:infra:Canary", name, None, opts)
        self._component, self._args = name, args
        self._objects = objects = render_canary(args.app, args.step, args.policy)
        self.routes = []
        base = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.depends_on))
        spec: Any = objects.deployment["spec"]
        if args.image_repository is not None:
            spec = pulumi.Output.from_input(args.image_repository).apply(
                lambda url: render_canary(
                    dataclasses.replace(args.app, image_repository=url), args.step, args.policy
                ).deployment["spec"]
            )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=objects.deployment["metadata"],
            spec=spec,
            # A canary that cannot start fails this `pulumi up` at its progress deadline, as the Workload does.
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(custom_timeouts=rollout_timeouts(args.app))),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service", metadata=objects.service["metadata"], spec=objects.service["spec"], opts=base
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=objects.network_policy["metadata"],
            spec=objects.network_policy["spec"],
            opts=base,
        )
        self.register_outputs(
            {
                "tag": args.step.tag,
                "weight": args.step.weight,
                "deploymentName": objects.deployment["metadata"]["name"],
            }
        )

    @property
    def pods(self) -> list[pulumi.Resource]:
        """What serves the canary's share: routes that send it requests wait for these."""
        return [self.deployment, self.service, self.network_policy]

    def route(self, *, after: Sequence[pulumi.Resource] = ()) -> list[pulumi.CustomResource]:
        """Create the canary-only routes after its pods and `after` (the stable routes), none for some routers.

        The weight changes only after the canary pods are ready and admitted: raising it first would send users
        to pods that do not exist yet. On deletion the order reverses, so the routes stop sending to the canary
        before its pods go. ingress-nginx ignores a canary Ingress whose main Ingress does not exist yet.
        """
        for manifest in self._objects.routes:
            options = pulumi.ResourceOptions(
                parent=self,
                provider=self._args.provider,
                depends_on=[*self._args.depends_on, *self.pods, *after],
            )
            self.routes.append(
                create_object(
                    route_name(self._component, manifest, canary_name(self._args.app)),
                    manifest,
                    manifest.get("spec"),
                    options,
                )
            )
        return self.routes


def release_output(app: AppSettings, release: CanaryRelease) -> dict[str, Any]:
    """The stack output `release`: what infra/canary_driver.py reads back after each `pulumi up`.

    The program is the only reader of the stack's config; the driver learns the policy as deployed,
    the step the stack is at, and where to find the canary pods from this output instead of parsing
    config files a second time.
    """
    policy = dataclasses.asdict(release.policy)
    policy["steps"] = list(release.policy.steps)
    step = release.step
    return {
        "policy": policy,
        "canary": None if step is None else {"tag": step.tag, "weight": step.weight},
        "stableTag": app.image_tag,
        "namespace": app.namespace,
        "canarySelector": ",".join(f"{key}={value}" for key, value in canary_selector(app).items()),
        "container": CONTAINER_NAME,
        "containerPort": app.container_port,
    }
