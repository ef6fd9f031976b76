"""Crash-loop back-off tables: kubernetes staging/src/k8s.io/client-go/util/flowcontrol/backoff_test.go (04791b4).

TestSlowBackoff, TestBackoffReset and TestBackoffHighWaterMark with their own numbers (a 1 s step),
then the kubelet's use of it for a container that keeps crashing, at the kubelet's and the local scale.
"""

from __future__ import annotations

import pytest

from localenv.control.backoff import (
    KUBELET_BACK_OFF,
    BackOffEntry,
    CrashLoopBackOff,
    get,
    in_back_off_since,
    next_back_off,
)
from localenv.profile import LOCAL_BACK_OFF


def test_slow_backoff() -> None:
    # TestSlowBackoff: step 1 s, max 50 s; Get before each Next, the clock one step on each time.
    policy = CrashLoopBackOff(initial=1.0, cap=50.0)
    entry: BackOffEntry | None = None
    seen = []
    for tick in range(1, 11):
        seen.append(get(entry))
        entry = next_back_off(policy, entry, float(tick), float(tick))
    assert seen == [0, 1, 2, 4, 8, 16, 32, 50, 50, 50]


def _at_cap(policy: CrashLoopBackOff) -> tuple[BackOffEntry, float]:
    entry: BackOffEntry | None = None
    now = 0.0
    for _ in range(int(policy.cap / policy.initial) + 1):
        now += policy.initial
        entry = next_back_off(policy, entry, now, now)
    assert entry is not None and entry.backoff == policy.cap
    return entry, now


def test_backoff_reset() -> None:
    # TestBackoffReset: max 5 s; in back-off at the cap, and not any more 2 × max + 1 s after the last update.
    policy = CrashLoopBackOff(initial=1.0, cap=5.0)
    entry, now = _at_cap(policy)
    assert in_back_off_since(policy, entry, now, now)
    later = now + 2 * policy.cap + 1
    assert not in_back_off_since(policy, entry, now + 2 * policy.cap + 1, later)


def test_backoff_high_water_mark() -> None:
    # TestBackoffHighWaterMark: max + 1 s after reaching the cap (less than 2 × max), Next stays at the cap.
    policy = CrashLoopBackOff(initial=1.0, cap=5.0)
    entry, now = _at_cap(policy)
    later = now + policy.cap + 1
    assert next_back_off(policy, entry, later, later).backoff == policy.cap


def restart_delays(policy: CrashLoopBackOff, crashes: int, runs_for: float) -> list[float]:
    """The kubelet's doBackOff for a container that exits `runs_for` s after each start: wait before each restart."""
    entry: BackOffEntry | None = None
    now, delays = 0.0, []
    for _ in range(crashes):
        now += runs_for  # the container exits
        finished = now
        while in_back_off_since(policy, entry, finished, now):
            now += policy.initial / 2  # the kubelet looks again at every sync
        delays.append(now - finished)
        entry = next_back_off(policy, entry, finished, now)  # restarted
    return delays


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (KUBELET_BACK_OFF, [0, 10, 20, 40, 80, 160, 300, 300]),
        (LOCAL_BACK_OFF, [0, 1, 2, 4, 8, 8, 8, 8]),
    ],
)
def test_a_crash_looping_container_waits_10_s_doubling_to_300_s_and_locally_1_s_to_8_s(
    policy: CrashLoopBackOff, expected: list[float]
) -> None:
    assert restart_delays(policy, len(expected), runs_for=0.0) == expected


def test_a_container_that_ran_for_twice_the_cap_restarts_at_once_again() -> None:
    policy = LOCAL_BACK_OFF
    assert restart_delays(policy, 4, runs_for=2 * policy.cap + 1) == [0, 0, 0, 0]
