"""A traffic generator that records every response, so a rollout's dropped requests cannot hide.

Concurrent client threads send GET requests to one loopback URL until a request count or a time
limit is reached. Half the picture of zero downtime is keep-alive: some clients reuse one connection
(as browsers and upstream proxies do), the others open a fresh connection per request. There are
**no client-side retries**: a reset, refused connection or timeout is recorded as status 0 with its
error text, and a retry the ingress made on our behalf is visible in the `X-Upstream-Status` header
the local nginx adds (a comma in it means more than one upstream was tried).

    plan = TrafficPlan(url="http://127.0.0.1:8080/version", keepalive_clients=4, fresh_clients=4,
                       max_requests=100_000, max_seconds=60.0)
    with Traffic(plan) as traffic:          # client threads run until exit or a limit
        traffic.mark("rollout-start"); ...; traffic.mark("rollout-end")
    report = traffic.report                 # every response, counted by status and version

Times in a report are seconds since the traffic started (`TrafficReport.started_monotonic` is that
moment on `time.monotonic()`, so events stamped with that clock can be placed on the same axis).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.serving import page_version
from localenv.ingress import UPSTREAM_STATUS_HEADER

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class TrafficError(ValueError):
    """A traffic plan that cannot be run: a bad number, or a URL that is not on this machine."""


def loopback_problem(url: str) -> str | None:
    """Why `url` must not receive generated traffic, or None when it is plain http on loopback."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http":
        return f"traffic URL {url!r} must start with http:// (the local ingress speaks plain HTTP)"
    host = parsed.hostname or ""
    if not host:
        return f"traffic URL {url!r} has no host: use e.g. http://127.0.0.1:8080/version"
    try:
        _ = parsed.port  # raises ValueError on a port like :99999
    except ValueError:
        return f"traffic URL {url!r} has an invalid port"
    refusal = (
        f"refusing to send load to {host!r}: the traffic generator only targets this machine "
        "(127.0.0.0/8, ::1 or localhost)"
    )
    if host.lower() in _LOOPBACK_NAMES:
        # A name is only as local as what it resolves to; /etc/hosts could point it anywhere.
        try:
            infos = socket.getaddrinfo(host, parsed.port or 80, type=socket.SOCK_STREAM)
        except OSError as error:
            return f"cannot resolve {host!r} ({error}): use 127.0.0.1 instead"
        addresses = {str(info[4][0]) for info in infos}
        if addresses and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
            return None
        return refusal
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return refusal
    return None if address.is_loopback else refusal


@dataclass(frozen=True, kw_only=True)
class TrafficPlan:
    """What load to send: where, how many clients of each kind, and when to stop."""

    url: str
    """Loopback http URL every client requests, e.g. http://127.0.0.1:8080/version."""
    keepalive_clients: int = 4
    """Clients that reuse one connection for request after request (reconnecting only after a failure)."""
    fresh_clients: int = 4
    """Clients that open a new connection for every request, as a new visitor does."""
    max_requests: int = 100_000
    """Stop after this many requests in total, whatever the time."""
    max_seconds: float = 60.0
    """Stop after this many seconds, whatever the count."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra request headers, e.g. a Host header the ingress routes on."""
    request_timeout: float = 5.0
    """Seconds a request may take (connect, send, answer) before it is recorded as a failure."""
    requests_per_second: float | None = None
    """Overall rate limit shared by all clients; None sends as fast as the clients can."""

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise TrafficError(problem)

    def problem(self) -> str | None:
        """The first reason this plan cannot run, as one sentence; None when it can."""
        url_problem = loopback_problem(self.url)
        if url_problem:
            return url_problem
        if self.keepalive_clients < 0 or self.fresh_clients < 0:
            return "keepalive_clients and fresh_clients must be ≥ 0"
        if self.keepalive_clients + self.fresh_clients < 1:
            return "a traffic plan needs at least one client (keepalive_clients + fresh_clients ≥ 1)"
        if self.max_requests < 1:
            return f"max_requests must be ≥ 1, not {self.max_requests}"
        if not (0 < self.max_seconds < math.inf):
            return f"max_seconds must be a positive number of seconds, not {self.max_seconds}"
        if not (0 < self.request_timeout < math.inf):
            return f"request_timeout must be a positive number of seconds, not {self.request_timeout}"
        if self.requests_per_second is not None and not (0 < self.requests_per_second < math.inf):
            return f"requests_per_second must be positive (or None for no limit), not {self.requests_per_second}"
        return None

    @property
    def clients(self) -> int:
        """Number of client threads."""
        return self.keepalive_clients + self.fresh_clients


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One request's outcome; status 0 means no HTTP answer arrived (reset, refused, timeout)."""

    t: float
    """Seconds since the traffic started, when the request was sent."""
    status: int
    latency_ms: float
    version: str | None
    """The app version that answered (from /version's JSON or the page), None when unknown."""
    upstream_status: str
    """The ingress's $upstream_status, e.g. "200" or "502, 200" (retried); empty without an ingress."""
    keepalive: bool
    """True when sent by a client that reuses its connection."""
    error: str = ""
    """Why there is no answer (status 0), or a parse note."""

    @property
    def ok(self) -> bool:
        """A 2xx or 3xx answer: what a visitor counts as success."""
        return 200 <= self.status < 400

    @property
    def retried(self) -> bool:
        """The ingress tried more than one upstream for this request."""
        return "," in self.upstream_status

    @property
    def t_end(self) -> float:
        """Seconds since the traffic started, when the answer (or the failure) arrived."""
        return self.t + self.latency_ms / 1000.0

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values."""
        return {
            "t": round(self.t, 6),
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "version": self.version,
            "upstream_status": self.upstream_status,
            "keepalive": self.keepalive,
            "error": self.error,
        }


def percentile(values: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the samples at or below it.

    No interpolation between samples, so a p99 is always a latency some request really had; NaN for
    no values.
    """
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@dataclass(frozen=True, kw_only=True)
class TrafficReport:
    """Every response of one traffic run, with counts, percentiles and the version switch."""

    plan: TrafficPlan
    responses: list[ResponseRecord]
    """All responses, ordered by the time their request was sent."""
    marks: dict[str, float]
    """Named moments (seconds since start) set with `Traffic.mark`."""
    started_monotonic: float
    """`time.monotonic()` when the traffic started: t = 0 on this report's axis."""
    started_wall: float
    """`time.time()` when the traffic started."""
    duration: float
    """Seconds from start until the last client stopped (or until this snapshot)."""
    stopped_by: str
    """Why the traffic ended: "max_requests", "max_seconds", "stopped", or "running" for a snapshot."""

    @property
    def total(self) -> int:
        """Requests sent and finished (answered or failed)."""
        return len(self.responses)

    @property
    def failed(self) -> int:
        """Requests without a 2xx/3xx answer: connection errors (status 0) and every 4xx/5xx."""
        return sum(1 for r in self.responses if not r.ok)

    @property
    def retried(self) -> int:
        """Requests the ingress sent to more than one upstream (a comma in X-Upstream-Status)."""
        return sum(1 for r in self.responses if r.retried)

    @property
    def by_status(self) -> Counter[int]:
        """Responses per HTTP status (0 = no answer)."""
        return Counter(r.status for r in self.responses)

    @property
    def by_version(self) -> Counter[str]:
        """Successful responses per app version that served them."""
        return Counter(r.version for r in self.responses if r.ok and r.version is not None)

    @property
    def errors(self) -> Counter[str]:
        """Connection-level failures by error text (status 0 only)."""
        return Counter(r.error for r in self.responses if r.status == 0)

    @property
    def rate(self) -> float:
        """Requests per second over the run."""
        return self.total / self.duration if self.duration > 0 else 0.0

    def to_traffic_time(self, monotonic: float) -> float:
        """Place a `time.monotonic()` timestamp (e.g. an endpoint event) on this report's time axis."""
        return monotonic - self.started_monotonic

    def window(self, start: float | str | None = None, end: float | str | None = None) -> list[ResponseRecord]:
        """Responses whose request was sent in [start, end) seconds; a mark name works too."""
        low = self._resolve(start, -math.inf)
        high = self._resolve(end, math.inf)
        return [r for r in self.responses if low <= r.t < high]

    def _resolve(self, moment: float | str | None, default: float) -> float:
        if moment is None:
            return default
        if isinstance(moment, str):
            if moment not in self.marks:
                raise KeyError(f"no mark named {moment!r}; marks: {sorted(self.marks)}")
            return self.marks[moment]
        return float(moment)

    def latency_percentiles(self, start: float | str | None = None, end: float | str | None = None) -> dict[str, float]:
        """p50/p90/p99/max latency in ms of answered requests sent in [start, end); NaN when there are none.

        Connection failures (status 0) are left out: their "latency" is a timeout or an instant reset
        and would say nothing about how fast the app answers; they are counted in `failed` instead.
        """
        latencies = sorted(r.latency_ms for r in self.window(start, end) if r.status != 0)
        return {
            "count": float(len(latencies)),
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else math.nan,
        }

    @property
    def versions_in_order(self) -> list[str]:
        """Versions in the order they first answered."""
        seen: dict[str, None] = {}
        for r in self.responses:
            if r.ok and r.version is not None:
                seen.setdefault(r.version, None)
        return list(seen)

    def switch_window(self, old: str | None = None, new: str | None = None) -> tuple[float, float] | None:
        """(first `new` answer, last `old` answer) in seconds; defaults: first and last version seen.

        None when one of the two versions never answered.
        """
        order = self.versions_in_order
        if len(order) < 2 and (old is None or new is None):
            return None
        old = old if old is not None else order[0]
        new = new if new is not None else order[-1]
        first_new = next((r.t for r in self.responses if r.ok and r.version == new), None)
        last_old = next((r.t for r in reversed(self.responses) if r.ok and r.version == old), None)
        if first_new is None or last_old is None:
            return None
        return first_new, last_old

    @property
    def switch_time(self) -> float | None:
        """Seconds during which both versions answered (first new → last old); 0 for a clean cut."""
        window = self.switch_window()
        if window is None:
            return None
        return max(0.0, window[1] - window[0])

    def served_after(self, t: float, version: str) -> list[ResponseRecord]:
        """Successful answers from `version` to requests sent at or after `t` seconds.

        The one-way-switch check: with t = the moment every endpoint was new (on this axis, see
        `to_traffic_time`) and the old version, this must be empty.
        """
        return [r for r in self.responses if r.t >= t and r.ok and r.version == version]

    def last_old_after_all_new(self, all_new_at: float, new: str | None = None) -> ResponseRecord | None:
        """The last answer from any version other than `new` to a request sent after `all_new_at`.

        None means the switch was one-way. `new` defaults to the last version seen.
        """
        order = self.versions_in_order
        if not order:
            return None
        new = new if new is not None else order[-1]
        late = [r for r in self.responses if r.t >= all_new_at and r.ok and r.version not in (None, new)]
        return late[-1] if late else None

    def summary(self) -> dict[str, Any]:
        """Headline numbers without the per-response list."""

        def clean(values: dict[str, float]) -> dict[str, float | None]:
            return {k: (None if math.isnan(v) else round(v, 3)) for k, v in values.items()}

        switch = self.switch_time
        return {
            "url": self.plan.url,
            "total": self.total,
            "failed": self.failed,
            "retried": self.retried,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_version": dict(self.by_version),
            "errors": dict(self.errors),
            "duration_s": round(self.duration, 3),
            "rate_per_s": round(self.rate, 1),
            "stopped_by": self.stopped_by,
            "switch_time_s": None if switch is None else round(switch, 3),
            "latency_ms": clean(self.latency_percentiles()),
            "marks": {k: round(v, 6) for k, v in self.marks.items()},
        }

    def to_dict(self, include_responses: bool = True) -> dict[str, Any]:
        """Everything as JSON-ready values (for --json); the response list can be left out."""
        data = self.summary()
        if include_responses:
            data["responses"] = [r.to_dict() for r in self.responses]
        return data


def _served_version(content_type: str, body: bytes) -> str | None:
    if "json" in content_type:
        try:
            value = json.loads(body).get("version")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    return page_version(body.decode("utf-8", "replace"))


class Traffic:
    """Runs a `TrafficPlan`'s clients in threads; use as a context manager, read `.report` after."""

    def __init__(self, plan: TrafficPlan) -> None:
        self.plan = plan
        parsed = urllib.parse.urlsplit(plan.url)
        self._host = parsed.hostname or ""
        self._port = parsed.port or 80
        self._target = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
        self._headers = {"Accept": "application/json", **dict(plan.headers)}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._claimed = 0
        self._marks: dict[str, float] = {}
        self._per_client: list[list[ResponseRecord]] = []
        self._threads: list[threading.Thread] = []
        self._started_monotonic = 0.0
        self._started_wall = 0.0
        self._ended: float | None = None
        self._stopped_by = "running"
        self._final: TrafficReport | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Traffic:
        """Start every client thread; returns self."""
        if self._threads:
            raise RuntimeError("this Traffic was already started; make a new one for another run")
        self._started_monotonic = time.monotonic()
        self._started_wall = time.time()
        for index in range(self.plan.clients):
            keepalive = index < self.plan.keepalive_clients
            records: list[ResponseRecord] = []
            self._per_client.append(records)
            thread = threading.Thread(
                target=self._run_client,
                args=(keepalive, records),
                name=f"traffic-{'keepalive' if keepalive else 'fresh'}-{index}",
                daemon=True,  # a crashed caller must never leave load running behind it
            )
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> TrafficReport:
        """Stop the clients (each finishes its request in flight) and return the final report."""
        self._finish("stopped")
        for thread in self._threads:
            thread.join(timeout=self.plan.request_timeout + 2.0)
        if self._final is None:
            self._ended = self._ended or time.monotonic()
            self._final = self._build(self._stopped_by)
        return self._final

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the plan's limits stop the clients; True when they have stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
            if thread.is_alive():
                return False
        return True

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while any client is still sending."""
        return any(thread.is_alive() for thread in self._threads)

    # -- while running ---------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the traffic started."""
        return time.monotonic() - self._started_monotonic

    def to_traffic_time(self, monotonic: float) -> float:
        """Place a `time.monotonic()` timestamp (e.g. when a rollout started) on this run's time axis."""
        return monotonic - self._started_monotonic

    def mark(self, name: str, at: float | None = None) -> float:
        """Name a moment (now, or `at` seconds since start) so reports and charts can refer to it."""
        moment = self.now() if at is None else at
        self._marks[name] = moment
        return moment

    def snapshot(self) -> TrafficReport:
        """A report of everything answered so far (for a live display); the run continues."""
        return self._final if self._final is not None else self._build("running")

    @property
    def report(self) -> TrafficReport:
        """The final report once stopped (after the `with` block), else a snapshot so far."""
        return self.snapshot()

    # -- internals -------------------------------------------------------------------------------

    def _finish(self, reason: str) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._stop.set()
                self._stopped_by = reason
                self._ended = time.monotonic()

    def _claim(self) -> bool:
        """Take one request from the plan's budget; False once a limit is reached."""
        if self._stop.is_set():
            return False
        with self._lock:
            if self._claimed >= self.plan.max_requests:
                over = True
            else:
                self._claimed += 1
                over = False
        if over:
            self._finish("max_requests")
            return False
        if time.monotonic() - self._started_monotonic >= self.plan.max_seconds:
            with self._lock:
                self._claimed -= 1
            self._finish("max_seconds")
            return False
        return True

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self.plan.request_timeout)

    def _run_client(self, keepalive: bool, records: list[ResponseRecord]) -> None:
        interval = self.plan.clients / self.plan.requests_per_second if self.plan.requests_per_second else 0.0
        next_send = time.monotonic()
        connection: http.client.HTTPConnection | None = None
        try:
            while True:
                if interval:
                    # Pace first, then take from the budget: a limit reached while waiting stops cleanly.
                    delay = next_send - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    next_send = max(next_send + interval, time.monotonic() - interval)
                if not self._claim():
                    break
                if connection is None:
                    connection = self._connection()
                records.append(self._one_request(connection, keepalive))
                if not keepalive or connection.sock is None:
                    # A fresh client never reuses; a keep-alive client reconnects only after the
                    # server (or a failure) closed its connection — the next request, not a retry.
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    def _one_request(self, connection: http.client.HTTPConnection, keepalive: bool) -> ResponseRecord:
        headers = dict(self._headers)
        if not keepalive:
            headers["Connection"] = "close"
        sent = time.monotonic()
        try:
            connection.request("GET", self._target, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as error:
            done = time.monotonic()
            connection.close()
            return ResponseRecord(
                t=sent - self._started_monotonic,
                status=0,
                latency_ms=(done - sent) * 1000.0,
                version=None,
                upstream_status="",
                keepalive=keepalive,
                error=f"{type(error).__name__}: {error}".rstrip(": "),
            )
        done = time.monotonic()
        status = answer.status
        version = _served_version(answer.getheader("Content-Type", ""), body) if 200 <= status < 300 else None
        return ResponseRecord(
            t=sent - self._started_monotonic,
            status=status,
            latency_ms=(done - sent) * 1000.0,
            version=version,
            upstream_status=answer.getheader(UPSTREAM_STATUS_HEADER, ""),
            keepalive=keepalive,
        )

    def _build(self, stopped_by: str) -> TrafficReport:
        responses = sorted(_chain(list(records) for records in self._per_client), key=lambda r: r.t)
        end = self._ended if self._ended is not None else time.monotonic()
        return TrafficReport(
            plan=self.plan,
            responses=responses,
            marks=dict(self._marks),
            started_monotonic=self._started_monotonic,
            started_wall=self._started_wall,
            duration=max(0.0, end - self._started_monotonic) if self._started_monotonic else 0.0,
            stopped_by=stopped_by,
        )


def _chain(groups: Iterable[list[ResponseRecord]]) -> list[ResponseRecord]:
    return [record for group in groups for record in group]
