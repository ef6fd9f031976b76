"""The ReplicaSet controller's choice of pods to delete: TestSortingActivePods in kubernetes
pkg/controller/controller_utils_test.go (read at kubernetes/kubernetes commit 1f8996f).

Upstream sorts nine pods shuffled twenty times and expects them back in one order; the rows it has for
unscheduled pods, the Unknown phase and a Ready condition without a time do not exist locally.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from localenv.control.objects import Pod, PodPhase, ReplicaSet
from localenv.control.replica_set import get_pods_to_delete, manage_replicas
from localenv.spec import PodTemplate

NOW, THEN = 1_000_000.0, 1_000_000.0 - 30 * 24 * 3600  # upstream: now and a month before


def pod(name: str, template: PodTemplate, **fields: object) -> Pod:
    values: dict[str, object] = {"created": NOW}
    values.update(fields)
    return Pod(name=name, revision=1, template=template, **values)  # type: ignore[arg-type]


def test_pods_are_deleted_in_the_active_pods_order(make_template: Callable[..., PodTemplate]) -> None:
    t = make_template()
    expected = [
        pod("pending", t, phase=PodPhase.PENDING),
        pod("running-not-ready", t, phase=PodPhase.RUNNING),
        pod("ready-now", t, phase=PodPhase.RUNNING, ready=True, ready_since=NOW, restarts=3),
        pod("ready-then-more-restarts", t, phase=PodPhase.RUNNING, ready=True, ready_since=THEN, restarts=3),
        pod("ready-then-newer", t, phase=PodPhase.RUNNING, ready=True, ready_since=THEN, restarts=2, created=NOW),
        pod("ready-then-older", t, phase=PodPhase.RUNNING, ready=True, ready_since=THEN, restarts=2, created=THEN),
    ]
    for shuffled in itertools.permutations(expected):  # upstream shuffles 20 times; every order here
        assert [p.name for p in get_pods_to_delete(shuffled, len(shuffled))] == [p.name for p in expected]


def test_a_crash_looping_pod_ranks_as_running_but_not_ready(make_template: Callable[..., PodTemplate]) -> None:
    t = make_template()
    looping = pod("crash-looping", t, phase=PodPhase.CRASH_LOOP_BACK_OFF, restarts=4)
    ready = pod("ready", t, phase=PodPhase.RUNNING, ready=True, ready_since=NOW)
    pending = pod("pending", t, phase=PodPhase.PENDING)
    assert get_pods_to_delete([ready, looping, pending], 2) == [pending, looping]
    assert get_pods_to_delete([ready, looping, pending], -1) == []  # a ReplicaSet short of pods deletes none


def test_manage_replicas_counts_only_pods_not_yet_terminating(make_template: Callable[..., PodTemplate]) -> None:
    t = make_template()
    rs = ReplicaSet(revision=1, template=t, created=1, replicas=2)
    assert manage_replicas(rs) == 2
    rs.pods = [pod("a", t), pod("b", t), pod("c", t, deleted_at=NOW)]
    assert manage_replicas(rs) == 0
    rs.replicas = 1
    assert manage_replicas(rs) == -1
