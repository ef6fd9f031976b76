"""The core's entry points on their own: what comes back of an effect for a pod that is gone, `apply` refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localenv.control import cluster
from localenv.control.actions import ContainerStarted, KillContainer, Observation, RemoveContainer, StartContainer
from localenv.control.objects import Cluster
from localenv.errors import RolloutInProgressError
from localenv.spec import DeploymentSpec


def test_a_container_started_for_a_pod_that_is_gone_is_killed_at_once() -> None:
    started = ContainerStarted(pod="gone", container="gone/1", pid=4242, address="127.0.0.1:1")
    effects = cluster.handle(Cluster(), started, now=0.0)
    assert effects == [KillContainer(container="gone/1"), RemoveContainer(container="gone/1")]


def test_apply_creates_a_revision_and_the_next_sync_creates_and_starts_its_pods(
    make_spec: Callable[..., DeploymentSpec],
) -> None:
    state = Cluster()
    spec = make_spec(replicas=2, max_surge=1, max_unavailable=0)
    rollout, _ = cluster.apply(state, spec, now=0.0)
    assert (rollout.revision, state.replica_sets[0].replicas) == (1, 0)
    cluster.sync(state, Observation(), now=0.02)  # scaled up, pods created
    effects = cluster.sync(state, Observation(), now=0.04)  # the kubelet starts them
    assert [e.pod for e in effects if isinstance(e, StartContainer)] == ["app-1-1", "app-1-2"]
    with pytest.raises(RolloutInProgressError, match="refused, not queued"):
        cluster.apply(state, make_spec(replicas=2, max_surge=1, max_unavailable=0, name="other"), now=0.1)
