"""progress.go tables: the cases of TestSyncRolloutStatus in kubernetes pkg/controller/deployment/progress_test.go.

Each row gives the Deployment's status at the last sync, its status now (upstream derives it from the
listed ReplicaSets: replicas = their pods, updated = the new ReplicaSet's pods, available = theirs;
ready stays 0 as upstream's helpers leave it), the Progressing condition before, and the condition
expected after — reason, and whether LastUpdateTime moved. Upstream's testTime is "long ago" here.
"""

from __future__ import annotations

import pytest

from localenv.control.objects import DeploymentStatus, ProgressCondition, ProgressReason
from localenv.control.progress import rollout_state, sync_rollout_status

LONG_AGO, NOW, DEADLINE = 0.0, 10_000.0, 60.0
UPDATED = ProgressReason.REPLICA_SET_UPDATED
AVAILABLE = ProgressReason.NEW_REPLICA_SET_AVAILABLE
TIMED_OUT = ProgressReason.TIMED_OUT


def status(replicas: int, updated: int, available: int) -> DeploymentStatus:
    return DeploymentStatus(replicas=replicas, updated=updated, available=available)


SYNC_ROLLOUT_STATUS = [
    # name, deadline, desired, last status, status now, condition before, reason after, moved
    (
        "General: remove Progressing condition and do not estimate progress if deployment has no Progress Deadline",
        None, 3, status(2, 2, 2), status(3, 2, 3), UPDATED, None, False,
    ),
    (
        "General: do not estimate progress of deployment with only one active ReplicaSet",
        DEADLINE, 3, status(3, 3, 3), status(3, 0, 3), AVAILABLE, AVAILABLE, False,
    ),
    (
        "DeploymentProgressing: dont update lastTransitionTime if deployment already has Progressing=True",
        DEADLINE, 3, status(2, 2, 2), status(3, 2, 3), UPDATED, UPDATED, True,
    ),
    (
        "DeploymentProgressing: update everything if deployment has Progressing=False",
        DEADLINE, 3, status(2, 2, 2), status(3, 2, 3), TIMED_OUT, UPDATED, True,
    ),
    (
        "DeploymentProgressing: create Progressing condition if it does not exist",
        DEADLINE, 3, status(2, 2, 2), status(3, 2, 3), None, UPDATED, True,
    ),
    (
        "DeploymentComplete: dont update lastTransitionTime if deployment already has Progressing=True",
        DEADLINE, 3, status(3, 3, 3), status(3, 3, 3), UPDATED, AVAILABLE, True,
    ),
    (
        "DeploymentComplete: update everything if deployment has Progressing=False",
        DEADLINE, 3, status(3, 3, 3), status(3, 3, 3), TIMED_OUT, AVAILABLE, True,
    ),
    (
        "DeploymentComplete: create Progressing condition if it does not exist",
        DEADLINE, 3, status(3, 3, 3), status(3, 3, 3), None, AVAILABLE, True,
    ),
    (
        "DeploymentComplete: defend against NPE when newRS=nil",
        DEADLINE, 0, status(3, 3, 3), status(0, 0, 0), UPDATED, AVAILABLE, True,
    ),
    (
        "DeploymentTimedOut: update status if rollout exceeds Progress Deadline",
        DEADLINE, 3, status(2, 2, 2), status(2, 2, 2), UPDATED, TIMED_OUT, True,
    ),
    (
        "DeploymentTimedOut: do not update status if deployment has existing timedOut condition",
        DEADLINE, 3, status(2, 2, 2), status(2, 2, 2), TIMED_OUT, TIMED_OUT, False,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "deadline", "desired", "last", "now", "before", "after", "moved"), SYNC_ROLLOUT_STATUS
)
def test_sync_rollout_status(
    *,
    name: str,
    deadline: float | None,
    desired: int,
    last: DeploymentStatus,
    now: DeploymentStatus,
    before: ProgressReason | None,
    after: ProgressReason | None,
    moved: bool,
) -> None:
    condition = None if before is None else ProgressCondition(reason=before, last_update=LONG_AGO)
    result = sync_rollout_status(
        desired=desired, progress_deadline=deadline, previous=last, current=now, condition=condition, now=NOW
    )
    assert (result.reason if result else None) is after, name
    if result is not None:
        assert result.last_update == (NOW if moved else LONG_AGO), name


def test_progress_within_the_deadline_keeps_the_rollout_going_and_its_absence_fails_it() -> None:
    started = ProgressCondition(reason=ProgressReason.NEW_REPLICA_SET_CREATED, last_update=100.0)
    still = sync_rollout_status(
        desired=3, progress_deadline=20, previous=status(3, 1, 3), current=status(3, 1, 3), condition=started, now=120
    )
    assert still is started and rollout_state(still).value == "progressing"  # 20 s without progress: not yet over
    late = sync_rollout_status(
        desired=3, progress_deadline=20, previous=status(3, 1, 3), current=status(3, 1, 3), condition=started, now=120.5
    )
    assert late is not None and late.reason is TIMED_OUT and rollout_state(late).value == "failed"
