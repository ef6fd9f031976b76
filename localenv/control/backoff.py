"""Crash-loop back-off, mirroring client-go util/flowcontrol/backoff.go as the kubelet uses it.

The kubelet keeps one entry per container (kuberuntime_manager.go doBackOff): when a container has
exited, it is restarted only once `backoff` seconds have passed since it finished; each restart doubles
the back-off up to the cap; an entry not moved for twice the cap starts again from the initial value.
Upstream the kubelet uses 10 s up to 300 s (pkg/kubelet/kubelet.go: `NewBackOff(backOffPeriod,
MaxContainerBackOff)`, read at kubernetes/kubernetes commit d830264); the first restart of a container
is immediate, because there is no entry yet. backoff.go read at commit 5667ebd — no jitter in the
kubelet's Backoff.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BackOffEntry:
    """One container's back-off (flowcontrol.Backoff's backoffEntry): the current wait and when it last moved."""

    backoff: float
    last_update: float


@dataclass(frozen=True, kw_only=True)
class CrashLoopBackOff:
    """A back-off policy: the first delay and the cap it doubles up to."""

    initial: float
    cap: float

    def expired(self, event_time: float, last_update: float) -> bool:
        """hasExpired: no move for more than twice the cap — the container counts as stable again."""
        return event_time - last_update > 2 * self.cap


# The kubelet's own numbers (pkg/kubelet/kubelet.go: backOffPeriod 10 s, MaxContainerBackOff 300 s).
KUBELET_BACK_OFF = CrashLoopBackOff(initial=10.0, cap=300.0)


def get(entry: BackOffEntry | None) -> float:
    """Get: the current back-off (0 without an entry)."""
    return entry.backoff if entry is not None else 0.0


def next_back_off(policy: CrashLoopBackOff, entry: BackOffEntry | None, event_time: float, now: float) -> BackOffEntry:
    """Next: move the back-off on (initial for a new or expired entry, else doubled up to the cap)."""
    if entry is None or policy.expired(event_time, entry.last_update):
        return BackOffEntry(backoff=policy.initial, last_update=now)
    return BackOffEntry(backoff=min(entry.backoff * 2, policy.cap), last_update=now)


def in_back_off_since(policy: CrashLoopBackOff, entry: BackOffEntry | None, event_time: float, now: float) -> bool:
    """IsInBackOffSince: less than the back-off has passed since `event_time` (a container's exit)."""
    if entry is None or policy.expired(event_time, entry.last_update):
        return False
    return now - event_time < entry.backoff
