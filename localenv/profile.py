"""The `local` settings profile: the app's real deployment contract, scaled to one machine.

The objects come from `app.contract.render`, like on EKS; only the settings differ: a local image
name, a `.localhost` host without TLS, and `LOCAL_TIMING` (the same relations as production, in
seconds instead of tens of seconds, so a rollout of three replicas takes a few seconds).
"""

from __future__ import annotations

from typing import Any

from app.contract import AppSettings, Manifests, SettingsError, render
from app.contract.canary import LOCAL_CANARY, CanaryPolicy, CanaryStep, canary_split, render_canary
from app.contract.ingress import INGRESS_TUNING
from app.contract.routers import DEFAULT_ROUTER
from app.contract.routers.ingress_nginx import controller_config
from app.timing import LOCAL_TIMING
from localenv.control.backoff import KUBELET_BACK_OFF, CrashLoopBackOff
from localenv.control.routes import LocalRoute, RouteError, read_routes
from localenv.control.scheduling import Node
from localenv.errors import LocalEnvError
from localenv.images import APP_IMAGE

LOCAL_HOST = "example-app.localhost"
DEFAULT_REPLICAS = 3
# One worker per pod: ten replicas of two workers each would be sixty processes fighting for two cores.
LOCAL_WORKERS = 1
# The kubelet's crash-loop back-off (10 s doubling to 300 s) at a tenth of its start: a crashing release
# is restarted a few times within a local progress deadline (20 s). Capped at 8 s, not 30, so a pod
# that crashes for a while still comes back within seconds once the cause is gone.
LOCAL_BACK_OFF = CrashLoopBackOff(initial=KUBELET_BACK_OFF.initial / 10, cap=8.0)


# Three nodes over three zones, as the EKS node group spreads over three subnets: the contract's zone and
# hostname spread constraints then put one of three replicas on each node, and a drained node's pod has two
# other zones to go to. Node names count up as a node group adds nodes (node-4 replaces one of these).
LOCAL_ZONES = ("zone-a", "zone-b", "zone-c")
LOCAL_NODES = tuple(Node(name=f"node-{i}", zone=zone) for i, zone in enumerate(LOCAL_ZONES, start=1))


def local_settings(
    version: str, replicas: int = DEFAULT_REPLICAS, image_repository: str = APP_IMAGE, router: str = DEFAULT_ROUTER
) -> AppSettings:
    """Validated settings for a local run of `version`; a bad tag, count or router is one clear error."""
    try:
        return AppSettings(
            image_repository=image_repository,
            image_tag=version,
            host=LOCAL_HOST,
            replicas=replicas,
            max_replicas=max(replicas, 2),
            workers=LOCAL_WORKERS,
            timing=LOCAL_TIMING,
            router=router,
        )
    except SettingsError as error:
        raise LocalEnvError("; ".join(error.problems)) from None


def local_manifests(
    version: str, replicas: int = DEFAULT_REPLICAS, image_repository: str = APP_IMAGE, router: str = DEFAULT_ROUTER
) -> Manifests:
    """The contract's objects for the local profile."""
    return render(local_settings(version, replicas, image_repository, router))


def local_deployment(
    version: str, replicas: int = DEFAULT_REPLICAS, image_repository: str = APP_IMAGE
) -> dict[str, Any]:
    """The Deployment dict for the local profile; tests copy and modify it to build naive specs."""
    return local_manifests(version, replicas, image_repository).deployment


def local_routes(
    settings: AppSettings, step: CanaryStep | None = None, policy: CanaryPolicy = LOCAL_CANARY
) -> LocalRoute:
    """What the local nginx serves for `settings` (and a canary `step`): read from the configured router's objects.

    The objects are those the router is given on EKS: `render(...).routes` with the step's split, plus
    `render_canary(...).routes` (ingress-nginx's canary Ingress), plus ingress-nginx's ConfigMap keys.
    """
    objects = list(render(settings, None if step is None else canary_split(settings, step, policy)).routes)
    if step is not None:
        objects += render_canary(settings, step, policy).routes
    try:
        return read_routes(objects, controller_config(INGRESS_TUNING))
    except RouteError as error:
        raise LocalEnvError(f"the {settings.router} route objects cannot be served locally: {error}") from None
