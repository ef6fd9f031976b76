"""The endpoints controller, and the way its changes reach the ingress.

A pod is an endpoint while it is ready and not terminating (endpointslice util ShouldPodBeInEndpoints:
a deleted pod is left out unless terminating endpoints are asked for; it serves only while Ready). A
change reaches the ingress `endpoint_propagation` seconds later — the EndpointSlice watch plus
ingress-nginx's own sync — in order; a push the ingress refuses is tried again at the next sync.
"""

from __future__ import annotations

from collections.abc import Sequence

from localenv.control.actions import Emit, EndpointsPushed, EndpointsPushFailed, PushEndpoints
from localenv.control.events import EndpointsStage, IngressEvent, IngressStep
from localenv.control.journal import Journal
from localenv.control.objects import Cluster, EndpointsPush, Pod


def serving(pods: Sequence[Pod]) -> list[Pod]:
    """The pods the endpoints list, by name: ready, not terminating, with an address."""
    return sorted((p for p in pods if p.ready and not p.terminating and p.address is not None), key=lambda p: p.name)


def sync_endpoints(cluster: Cluster, journal: Journal) -> None:
    """Update the endpoints object; push the oldest change that is due to the ingress."""
    pods = serving(cluster.pods())
    names = tuple(p.name for p in pods)
    if names != cluster.endpoints:
        cluster.endpoints = names
        cluster.pending_pushes.append(
            EndpointsPush(
                due=journal.now + cluster.endpoint_propagation,
                names=names,
                addresses=tuple(p.address for p in pods if p.address is not None),
            )
        )
        journal.endpoints(EndpointsStage.CHANGED, names)
    _push_next(cluster, journal)


def endpoints_pushed(cluster: Cluster, pushed: EndpointsPushed, journal: Journal) -> None:
    """The ingress has the endpoints now; the next change, if due, follows."""
    if cluster.pending_pushes and cluster.pending_pushes[0] == pushed.push:
        cluster.pending_pushes.pop(0)
    cluster.push_failing = False
    cluster.applied_endpoints = pushed.push.names
    versions = sorted({p.version for p in cluster.pods() if p.name in pushed.push.names})
    journal.endpoints(EndpointsStage.APPLIED, pushed.push.names, versions)
    _push_next(cluster, journal)


def endpoints_push_failed(cluster: Cluster, failed: EndpointsPushFailed, journal: Journal) -> None:
    """nginx busy or gone: keep the change and try again next sync, as the real controller retries; say so once."""
    if not cluster.push_failing:
        unreachable = IngressEvent(step=IngressStep.UNREACHABLE, error=failed.error, alive=failed.ingress_alive)
        journal.do(Emit(event=unreachable))
    cluster.push_failing = True


def _push_next(cluster: Cluster, journal: Journal) -> None:
    if cluster.pending_pushes and cluster.pending_pushes[0].due <= journal.now:
        journal.do(PushEndpoints(push=cluster.pending_pushes[0]))
