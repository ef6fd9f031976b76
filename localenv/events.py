"""The event log: every typed event (localenv/control/events.py), stamped, kept, written as JSON lines.

Each event is stamped with three clocks — `t` (seconds since the environment started), `monotonic`
(the loop's clock: `time.monotonic()`, the one the traffic generator stamps responses with) and `time`
(wall clock, ISO 8601) — kept in memory for the Python API, written to `events.jsonl` and handed to
every watcher (the supervisor streams them to `watch` and to rollout commands).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from localenv.control.events import (
    Counts,
    EndpointsEvent,
    EndpointsStage,
    Event,
    EventKind,
    IngressEvent,
    IngressStep,
    PodChange,
    PodEvent,
    ProbeEvent,
    RolloutEvent,
    RolloutStep,
    parse_event,
)

__all__ = [
    "Counts",
    "EndpointsEvent",
    "EndpointsStage",
    "Event",
    "EventKind",
    "EventLog",
    "IngressEvent",
    "IngressStep",
    "PodChange",
    "PodEvent",
    "ProbeEvent",
    "RolloutEvent",
    "RolloutStep",
    "parse_event",
    "read_events",
]


class EventLog:
    """Append-only events: kept in memory for the Python API, written to `events.jsonl`, fanned out to watchers."""

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._watchers: list[queue.Queue[Event]] = []
        self._file = path.open("a", encoding="utf-8") if path else None

    def emit(self, event: Event) -> Event:
        """Stamp `event` with the time now and record it; returns the stamped event."""
        now = self._clock()
        stamped = dataclasses.replace(
            event,
            t=round(now - self.started, 4),
            monotonic=now,
            time=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        )
        with self._lock:
            self._events.append(stamped)
            if self._file:
                self._file.write(json.dumps(stamped.to_json(), separators=(",", ":")) + "\n")
                self._file.flush()
            for watcher in self._watchers:
                watcher.put(stamped)
        return stamped

    def snapshot(self, since: int = 0) -> list[Event]:
        """A copy of the events from index `since` on."""
        with self._lock:
            return list(self._events[since:])

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def watch(self) -> queue.Queue[Event]:
        """A queue that receives every event emitted from now on (call `unwatch` when done)."""
        watcher: queue.Queue[Event] = queue.Queue()
        with self._lock:
            self._watchers.append(watcher)
        return watcher

    def unwatch(self, watcher: queue.Queue[Event]) -> None:
        """Stop delivering events to `watcher`."""
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None


def read_events(path: Path) -> list[Event]:
    """Events from an `events.jsonl` file (e.g. written by the supervisor daemon); unreadable lines are skipped."""
    events: list[Event] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return events
    for line in lines:
        try:
            events.append(parse_event(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return events
