"""The event log: every pod phase change, probe result, endpoint change and rollout step, as JSON lines.

Each event carries three clocks — `t` (seconds since the environment started), `monotonic`
(`time.monotonic()`, the clock the traffic generator stamps responses with) and `time` (wall clock,
ISO 8601) — and a snapshot of the counts the rollout invariants are stated in, so a test can check
"pods ≤ replicas + surge" at every single event.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

Event = dict[str, Any]

POD = "pod"
PROBE = "probe"
ENDPOINTS = "endpoints"
ROLLOUT = "rollout"
INGRESS = "ingress"
# Steps of the INGRESS events a canary release emits (localenv/canary.py), read back by the CLI.
CANARY_ROUTE = "canary-route"
CANARY_ANALYSIS = "canary-analysis"


class EventLog:
    """Append-only events: kept in memory for the Python API, written to `events.jsonl`, fanned out to watchers."""

    def __init__(self, path: Path | None) -> None:
        self.started = time.monotonic()
        self._path = path
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._watchers: list[queue.Queue[Event]] = []
        self._file = path.open("a", encoding="utf-8") if path else None

    def emit(self, kind: str, **fields: Any) -> Event:
        """Record one event of `kind` (pod, probe, endpoints, rollout, ingress) now."""
        now = time.monotonic()
        event: Event = {
            "t": round(now - self.started, 4),
            "monotonic": now,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "kind": kind,
            **fields,
        }
        with self._lock:
            self._events.append(event)
            if self._file:
                self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
                self._file.flush()
            for watcher in self._watchers:
                watcher.put(event)
        return event

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
    """Events from an `events.jsonl` file (e.g. written by the supervisor daemon)."""
    events: list[Event] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return events
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
