"""The service-level indicator, its objectives and their PromQL, written once.

"Users are being served" is measured twice, each where it is seen best, and both are named after a
convention other tools already read:

- At the ingress, every request a user sends and the status they got back, including the 502/503/504
  nginx answers itself when a pod is gone (the app never sees those). ingress-nginx's controller
  exports these as `nginx_ingress_controller_requests`; the local nginx exports the same names.
- In the app, each request's route, method, status and duration: OpenTelemetry's HTTP server
  conventions as exported to Prometheus (`http_server_request_duration_seconds`), plus the build
  (`target_info`). The app's /metrics sums them over gunicorn's workers (app/metrics.py).

Why OpenTelemetry's names rather than a progressive-delivery tool's: Flagger's built-in checks do not
read the app at all — for ingress-nginx they query the controller's `nginx_ingress_controller_requests`
and `..._response_duration_seconds` (fluxcd/flagger v1.44.0 pkg/metrics/observers/nginx.go), which we
query too; Argo Rollouts ships no metric names, only templates a user fills in. For the app's own
series the one recognised, stable convention is OpenTelemetry's (`http.server.request.duration`,
Stable in open-telemetry/semantic-conventions v1.44.0 docs/http/http-metrics.md), and its Prometheus
mapping is specified (open-telemetry/opentelemetry-specification v1.60.0
specification/compatibility/prometheus_and_openmetrics.md) and implemented by the OpenTelemetry
Python exporter (open-telemetry/opentelemetry-python v1.44.0
exporter/opentelemetry-exporter-prometheus: dots become `_`, unit `s` becomes the `_seconds`
suffix, resource attributes go to `target_info`). Any dashboard or tool written for OpenTelemetry
HTTP servers reads ours unchanged, and switching to the OpenTelemetry SDK later keeps every query.

The objectives, their error ratios over any window, the burn-rate alert windows (the SRE workbook's
pairs, scaled by a `Profile` so the local environment runs them in seconds) and the queries the canary
analysis, the alert rules (app/contract/rules.py) and the dashboard (app/contract/dashboard.py) ask are
all built here. Standard library only: the image carries this file, because app/metrics.py declares
its metrics from the names below.

    AVAILABILITY.error_ratio(Scope(namespace="example-app", ingress="example-app"), "5m")
    CLUSTER.window(FAST_BURN.long_window)   # "1h"; LOCAL.window(FAST_BURN.long_window) == "1m"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.serving import LIVENESS_PATH, METRICS_PATH, PAGE_PATH, READINESS_PATH

# --- the app's metrics: OpenTelemetry HTTP server conventions, as exported to Prometheus ------------
# `http.server.request.duration` (unit s) → the histogram below; its `_count` is the request count, so
# no separate counter is kept (the convention defines none).
REQUEST_DURATION = "http_server_request_duration_seconds"
"""Histogram of the time to answer each request, in seconds."""
REQUEST_COUNT = f"{REQUEST_DURATION}_count"
"""Requests answered (the histogram's count): the request counter every query reads."""
REQUEST_BUCKET = f"{REQUEST_DURATION}_bucket"
"""Requests answered within each bucket's upper bound `le` (cumulative)."""
# Attribute keys with `.` turned into `_` (opentelemetry-python v1.44.0 _mapping.py sanitize_attribute).
ROUTE_LABEL = "http_route"
"""`http.route`: the matched route template (Flask's rule), never the raw path: bounded cardinality."""
METHOD_LABEL = "http_request_method"
"""`http.request.method` (Required)."""
STATUS_LABEL = "http_response_status_code"
"""`http.response.status_code` (Conditionally Required: whenever a response was sent, i.e. always here)."""
SCHEME_LABEL = "url_scheme"
"""`url.scheme` (Required): http or https as the client asked (X-Forwarded-Proto behind the ingress)."""
ERROR_TYPE_LABEL = "error_type"
"""`error.type` (Conditionally Required on errors): the 5xx status as a string, empty (absent) otherwise."""
REQUEST_LABELS = (METHOD_LABEL, ROUTE_LABEL, STATUS_LABEL, SCHEME_LABEL, ERROR_TYPE_LABEL)
# The methods the convention knows (RFC 9110's, plus PATCH); any other is recorded as `_OTHER`, so a
# client inventing methods cannot create series (docs/http/http-metrics.md, note on http.request.method).
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
OTHER_METHOD = "_OTHER"
UNMATCHED_ROUTE = "<unmatched>"
"""`http_route` of a request no route matched: one value, so scanners cannot blow up cardinality."""
# The convention's advisory bucket boundaries for this histogram (semantic-conventions v1.44.0
# docs/http/http-metrics.md, ExplicitBucketBoundaries). Chosen on purpose: it has an edge at the
# latency objective's bound (0.1 s, asserted below and in tests/contract/test_slo.py), fine steps around
# our page's 2-25 ms, and it is what an OpenTelemetry SDK would emit, so percentiles compare across apps.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

# Resource attributes go to one gauge named `target_info`, value 1, when the client library has no
# info type in this mode (specification v1.60.0 prometheus_and_openmetrics.md, "target" info metric;
# prometheus_client's multiprocess mode has no Info). Joined to a pod's series on (job, instance).
BUILD_INFO = "target_info"
"""Gauge fixed at 1 whose labels say what this process serves."""
SERVICE_NAME_LABEL = "service_name"
"""`service.name`: which service this is."""
VERSION_LABEL = "service_version"
"""`service.version`: the image tag the pod runs — the label every by-version query groups on."""
REVISION_LABEL = "vcs_ref_head_revision"
"""`vcs.ref.head.revision`: the commit the image was built from."""
SERVICE_NAME = "example-app"
"""Our `service.name`: the image's name (app/Dockerfile's title), whatever a stack calls its Deployment."""
TARGET_LABELS = ("job", "instance")
"""The labels a scrape adds that identify one pod's /metrics: what `target_info` is joined on."""

# Kubelet probes and Prometheus scrapes reach every pod whether users do or not: never user traffic.
NON_USER_ROUTES = (LIVENESS_PATH, READINESS_PATH, METRICS_PATH)
FAILED_STATUS = "5.."
"""Statuses that count against availability: a 5xx is the service's fault; a 4xx is the client's."""

# --- the ingress: ingress-nginx controller metrics ---------------------------------------------------
# kubernetes/ingress-nginx controller-v1.15.1 internal/ingress/metric/collectors/socket.go: namespace
# "nginx_ingress_controller" (main.go), counter `requests` with the request labels status, method, path,
# namespace, ingress, service, canary, plus `host` (--metrics-per-host, default true; pkg/flags/flags.go)
# and the constant controller_namespace, controller_class, controller_pod. `namespace`/`ingress`/
# `service` name the Ingress the location belongs to (a canary Ingress is merged into the main one's
# locations as an alternative backend: internal/ingress/controller/controller.go mergeAlternativeBackends);
# `canary` is $proxy_alternative_upstream_name, set by the Lua balancer (rootfs/etc/nginx/lua/
# balancer.lua get_balancer) only when a request went to the canary backend, empty otherwise; `status`
# is what the client got, including the 5xx nginx produces when an upstream fails.
# The scrape must keep these labels as they are (ServiceMonitor `honorLabels: true`, the chart's
# controller.metrics.serviceMonitor.honorLabels): otherwise the target's own `namespace` renames
# ours to `exported_namespace`. Flagger's nginx queries assume the same.
INGRESS_REQUESTS = "nginx_ingress_controller_requests"
"""Counter of requests the ingress answered, by status and the Ingress/backend they went to."""
INGRESS_REQUEST_LABELS = ("status", "method", "path", "namespace", "ingress", "service", "canary")
"""The per-request labels of every ingress request series (the queries read namespace, ingress, status
and canary); the local nginx must export at least these."""
INGRESS_BACKEND_LABEL = "canary"
"""Empty for the stable Service; the canary's upstream name (namespace-service-port) otherwise."""

# --- Kubernetes object state: kube-state-metrics --------------------------------------------------
# Checked at kubernetes/kube-state-metrics v2.20.0 (also present in v2.18.0 and v2.19.1):
# internal/store/deployment.go, pod.go, poddisruptionbudget.go; all STABLE.
DEPLOYMENT_CONDITION = "kube_deployment_status_condition"
"""{namespace, deployment, condition, status=true|false|unknown, reason}: 1 for the condition's status."""
DEPLOYMENT_AVAILABLE = "kube_deployment_status_replicas_available"
"""{namespace, deployment}: available replicas (ready for at least minReadySeconds)."""
POD_READY = "kube_pod_status_ready"
"""{namespace, pod, condition=true|false|unknown}: 1 for the pod's Ready condition."""
PDB_CURRENT_HEALTHY = "kube_poddisruptionbudget_status_current_healthy"
"""{namespace, poddisruptionbudget}: pods the budget counts as healthy now."""
PDB_DESIRED_HEALTHY = "kube_poddisruptionbudget_status_desired_healthy"
"""{namespace, poddisruptionbudget}: the fewest healthy pods the budget allows."""
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
"""The Progressing condition's reason once a rollout made no progress for progressDeadlineSeconds."""

# --- time --------------------------------------------------------------------------------------
MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR
LOOKBACK = 5 * MINUTE
"""How far back an instant query looks for a series' latest sample (Prometheus' default lookback delta)."""
_DURATION_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def duration(seconds: float) -> str:
    """A Prometheus duration for `seconds` in its largest exact unit: 3600 → "1h", 0.5 → "500ms"."""
    millis = round(seconds * 1000)
    if millis <= 0:
        raise ValueError(f"a Prometheus duration must be positive, got {seconds} s")
    for unit, size in _DURATION_UNITS:
        if millis % size == 0:
            return f"{millis // size}{unit}"
    raise AssertionError("every whole number of milliseconds has a unit")  # pragma: no cover


@dataclass(frozen=True, kw_only=True)
class BurnRateAlert:
    """One pair of the multi-window, multi-burn-rate scheme: fire while both windows burn this fast.

    The Site Reliability Workbook, ch. 5 "Alerting on SLOs", recommends for a 30-day objective:
    page at 14.4× over 1 h and 5 min (2 % of the budget spent in an hour) and at 6× over 6 h and
    30 min (5 % in six hours). The long window says the burn matters; the short one (1/12 of it) that
    it is still going on, so the alert stops soon after the burn does.
    """

    name: str
    """Part of the alert's name: FastBurn or SlowBurn."""
    burn_rate: float
    """How many times faster than 'exactly spent at the period's end' the budget goes."""
    long_window: float
    """Seconds (at full scale) over which the burn must hold."""
    short_window: float
    """Seconds (at full scale) over which it must still hold now."""
    severity: str = "page"
    """Alertmanager routes on this label."""

    def budget_spent(self, period: float) -> float:
        """Share of the period's error budget spent by the time this alert fires: burn × long / period."""
        return self.burn_rate * self.long_window / period


FAST_BURN = BurnRateAlert(name="FastBurn", burn_rate=14.4, long_window=HOUR, short_window=5 * MINUTE)
SLOW_BURN = BurnRateAlert(name="SlowBurn", burn_rate=6.0, long_window=6 * HOUR, short_window=30 * MINUTE)
BURN_RATE_ALERTS = (FAST_BURN, SLOW_BURN)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """How fast the objectives' clock runs: full scale on EKS, shrunk for the local environment.

    Every window and `for` duration is multiplied by `scale`, so the relations between them (short =
    long / 12, budget spent per alert) hold at any scale, as app/timing.py's LOCAL_TIMING keeps the
    rollout's relations at a human scale.
    """

    name: str
    scale: float = 1.0
    """Multiplier applied to every window and duration below."""
    period: float = 30 * DAY
    """The objectives' compliance period at full scale: the error budget is spent over this."""
    scrape_interval: float = 30.0
    """Seconds between two scrapes (not scaled: it is what this profile's Prometheus does)."""
    evaluation_interval: float = 30.0
    """Seconds between two evaluations of the rules (not scaled)."""
    unavailable_for: float = 5 * MINUTE
    """How long pods may stay below the disruption budget's floor at full scale: a replacement pod is
    scheduled, started and ready within this unless something is wrong (a new node can take minutes)."""

    def window(self, seconds: float) -> str:
        """`seconds` of full-scale time as a Prometheus duration at this profile's scale."""
        return duration(seconds * self.scale)

    def alert_windows(self) -> tuple[str, ...]:
        """Every window an alert reads, shortest first: each pair's short and long one."""
        spans = sorted({w for a in BURN_RATE_ALERTS for w in (a.short_window, a.long_window)})
        return tuple(self.window(span) for span in spans)

    @property
    def budget_window(self) -> str:
        """The whole period, over which the error budget is spent."""
        return self.window(self.period)

    @property
    def budget_interval(self) -> float:
        """Seconds between two evaluations of the period's error ratio (not scaled).

        That rule reads the whole period at each evaluation; every fourth evaluation is fresh enough
        for a budget measured in days, and it must stay within Prometheus' 5-minute lookback, or the
        recorded series would look stale between evaluations.
        """
        return 4 * self.evaluation_interval

    def problems(self) -> list[str]:
        """Every broken relation between the profile's numbers, each naming its field; empty when sound."""
        found: list[str] = []
        # rate() needs two samples in its window; four scrapes per window tolerate a missed one
        # (the same floor as Grafana's $__rate_interval: 4 × the scrape interval).
        shortest = min(a.short_window for a in BURN_RATE_ALERTS) * self.scale
        if shortest < 4 * self.scrape_interval:
            found.append(
                f"slo profile {self.name}: the shortest window ({shortest:g} s) must be ≥ 4 scrape intervals "
                f"({4 * self.scrape_interval:g} s), or rate() sees too few samples"
            )
        if self.budget_interval >= LOOKBACK:
            found.append(
                f"slo profile {self.name}: the budget's evaluation interval ({self.budget_interval:g} s) must stay "
                f"below Prometheus' lookback ({LOOKBACK:g} s)"
            )
        if self.evaluation_interval > shortest:
            found.append(
                f"slo profile {self.name}: evaluation_interval ({self.evaluation_interval:g} s) must not exceed "
                f"the shortest window ({shortest:g} s)"
            )
        return found


CLUSTER = Profile(name="cluster")
"""EKS: the workbook's windows as written, scraped every 30 s (kube-prometheus-stack's and the ingress-nginx
chart's ServiceMonitor default)."""
# Hours become minutes and minutes seconds: 1 h & 5 min → 1 min & 5 s, 6 h & 30 min → 6 min & 30 s,
# the 30-day period → 12 h. Scraped and evaluated every second: 5 scrapes in the shortest window.
LOCAL = Profile(name="local", scale=1 / 60, scrape_interval=1.0, evaluation_interval=1.0)
PROFILES = {profile.name: profile for profile in (CLUSTER, LOCAL)}


# --- PromQL ------------------------------------------------------------------------------------
Matcher = tuple[str, str, str]
"""(label, operator, value) with operator one of = != =~ !~."""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _any_of(values: Sequence[str]) -> str:
    """A regular expression matching exactly one of `values` (PromQL anchors it; RE2 syntax)."""
    return "|".join(_REGEX_SPECIAL.sub(r"\\\1", v) for v in values)


def series(metric: str, matchers: Sequence[Matcher] = ()) -> str:
    """`metric{label="value", …}` with every value quoted and escaped."""
    inner = ", ".join(f"{label}{op}{_quote(value)}" for label, op, value in matchers)
    return f"{metric}{{{inner}}}" if inner else metric


def _by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def rate_sum(metric: str, matchers: Sequence[Matcher], window: str, by: Sequence[str] = ()) -> str:
    """`sum by (…) (rate(metric{…}[window]))`: events per second over the window, summed over pods."""
    return f"sum{_by(by)} (rate({series(metric, matchers)}[{window}]))"


def ratio(bad: str, total: str) -> str:
    """bad / total, 0 (not empty) when nothing was bad, empty when there was no traffic at all.

    `bad or total * 0` fills the groups with no bad series (a healthy service exports no 5xx series),
    so a dashboard shows 0 % rather than no data; without traffic the ratio stays empty and no alert
    compares it.
    """
    return f"({bad} or {total} * 0) / {total}"


@dataclass(frozen=True, kw_only=True)
class Scope:
    """Which series are this deployment's: its namespace and the names of its objects."""

    namespace: str
    """Namespace of the app's pods and objects (the scrape adds it as `namespace`; prometheus-operator
    v0.93.0 pkg/prometheus/promcfg.go generatePodMonitorConfig relabels namespace, pod and container)."""
    ingress: str
    """The app's Ingress: ingress-nginx labels a canary's requests with the main Ingress it merges into."""
    deployments: tuple[str, ...] = ()
    """Deployments whose rollouts are watched (the stable one and the canary's)."""
    disruption_budget: str = ""
    """The PodDisruptionBudget that says how many pods may be unavailable."""

    def app(self, *extra: Matcher) -> tuple[Matcher, ...]:
        """Matchers for the app's own series (its pods' /metrics)."""
        return (("namespace", "=", self.namespace), *extra)

    def edge(self, *extra: Matcher) -> tuple[Matcher, ...]:
        """Matchers for the ingress's series about the app's Ingress."""
        return (("namespace", "=", self.namespace), ("ingress", "=", self.ingress), *extra)


def user_requests(*extra: Matcher) -> tuple[Matcher, ...]:
    """Matchers that leave out probes and scrapes (the canary analysis counts the same requests)."""
    return ((ROUTE_LABEL, "!~", _any_of(NON_USER_ROUTES)), *extra)


# The two indicators. Each is "bad events / all events" over a window, grouped by `by`.
Events = Callable[[Scope, str, Sequence[str]], str]


def _edge_failed(scope: Scope, window: str, by: Sequence[str]) -> str:
    return rate_sum(INGRESS_REQUESTS, scope.edge(("status", "=~", FAILED_STATUS)), window, by)


def _edge_all(scope: Scope, window: str, by: Sequence[str]) -> str:
    return rate_sum(INGRESS_REQUESTS, scope.edge(), window, by)


LATENCY_THRESHOLD = 0.1
"""Seconds within which the page must be answered (p99): a bucket edge of LATENCY_BUCKETS."""


def le_label(bound: float) -> str:
    """The `le` value prometheus_client writes for a bucket bound (Python's repr: 0.1 → "0.1").

    A non-integer bound reads the same in Prometheus 2 (stored as exposed) and 3 (normalised floats).
    """
    return repr(float(bound))


def _page(*extra: Matcher) -> tuple[Matcher, ...]:
    return ((ROUTE_LABEL, "=", PAGE_PATH), *extra)


def _page_slow(scope: Scope, window: str, by: Sequence[str]) -> str:
    everything = rate_sum(REQUEST_COUNT, scope.app(*_page()), window, by)
    fast = rate_sum(REQUEST_BUCKET, scope.app(*_page(("le", "=", le_label(LATENCY_THRESHOLD)))), window, by)
    return f"({everything} - {fast})"


def _page_all(scope: Scope, window: str, by: Sequence[str]) -> str:
    return rate_sum(REQUEST_COUNT, scope.app(*_page()), window, by)


@dataclass(frozen=True, kw_only=True)
class Objective:
    """A service-level objective: the share of events that must be good over the period."""

    name: str
    """The `slo` label of its recording rules and alerts."""
    target: float
    """Share of good events promised, e.g. 0.999."""
    summary: str
    """What is promised, in one sentence a person reads on the dashboard and in alerts."""
    bad: Events = field(repr=False)
    total: Events = field(repr=False)

    @property
    def error_budget(self) -> float:
        """Share of events allowed to be bad: 1 − target."""
        return 1.0 - self.target

    def error_ratio(self, scope: Scope, window: str, by: Sequence[str] = ()) -> str:
        """PromQL: bad / all events over `window`, per group of `by`."""
        return ratio(self.bad(scope, window, by), self.total(scope, window, by))


# Availability at the edge: a pod killed before it left the load balancer shows up only here, as the
# 502 nginx returns; the app's own counters never see the request. Everything the Ingress serves is
# user traffic (probes and scrapes go to the pods directly).
AVAILABILITY = Objective(
    name="availability",
    target=0.999,
    summary="99.9 % of requests through the app's Ingress are answered without a server error (5xx)",
    bad=_edge_failed,
    total=_edge_all,
)
# Latency in the app, where the route is known (the ingress sees one location, "/", for every route).
LATENCY = Objective(
    name="latency",
    target=0.99,
    summary=f"99 % of page ({PAGE_PATH}) requests are answered by the app within {LATENCY_THRESHOLD:g} s",
    bad=_page_slow,
    total=_page_all,
)
OBJECTIVES = (AVAILABILITY, LATENCY)

# --- recording rules: the error ratio per objective and window, computed once per evaluation ------
ERROR_RATIO_RECORD = "slo:sli_error:ratio_rate{window}"
"""Recorded error ratio of an objective (label `slo`) over a window: level:metric:operations naming."""
SLO_LABEL = "slo"


def recorded_error_ratio(objective: Objective, window: str) -> str:
    """The recorded series holding `objective`'s error ratio over `window`."""
    return series(ERROR_RATIO_RECORD.format(window=window), ((SLO_LABEL, "=", objective.name),))


def burn_condition(objective: Objective, alert: BurnRateAlert, profile: Profile) -> str:
    """PromQL true while both of the alert's windows burn the budget at least `burn_rate` times too fast."""
    threshold = f"({alert.burn_rate:g} * {objective.error_budget:.6g})"
    long_ratio = recorded_error_ratio(objective, profile.window(alert.long_window))
    short_ratio = recorded_error_ratio(objective, profile.window(alert.short_window))
    return f"{long_ratio} > {threshold}\nand\n{short_ratio} > {threshold}"


def budget_remaining(objective: Objective, profile: Profile) -> str:
    """PromQL: share of the period's error budget not yet spent (negative once overspent)."""
    spent = recorded_error_ratio(objective, profile.budget_window)
    return f"1 - {spent} / {objective.error_budget:.6g}"


# --- by version: the canary and the release dashboard ---------------------------------------------
def _with_version(expression: str, scope: Scope, window: str) -> str:
    """Give each of a pod's series its pod's version: join `target_info` on the scrape's target labels.

    `last_over_time` keeps the version of a pod that went away during the window, so its last requests
    still count for its version (an instant `target_info` would be gone with the pod).
    """
    info = f"last_over_time({series(BUILD_INFO, scope.app())}[{window}])"
    targets = ", ".join(TARGET_LABELS)
    return f"{expression} * on ({targets}) group_left ({VERSION_LABEL}) {info}"


CANARY_COUNTER_LABELS = ("pod", ROUTE_LABEL, METHOD_LABEL, STATUS_LABEL)
"""What the canary analysis tells requests apart by (app/contract/analysis.py `Series`, per pod)."""


def canary_request_counters(scope: Scope, canary_deployment: str) -> str:
    """PromQL (instant): each canary pod's user-request counters by route, method and status.

    The analysis differences two readings itself, as it does with the pods' own /metrics (a restart's
    reset included). Pods are the Deployment's by name: `<deployment>-<replica set hash>-<suffix>`, which a
    stable pod (`<name>-<hash>-<suffix>`) never matches since the canary Deployment's name is longer.
    """
    pods = ("pod", "=~", f"{_any_of([canary_deployment])}-.+")
    counters = series(REQUEST_COUNT, scope.app(pods, *user_requests()))
    return f"sum{_by(CANARY_COUNTER_LABELS)} ({counters})"


def requests_by_version(scope: Scope, window: str) -> str:
    """PromQL: user requests per second answered by each version, over `window`."""
    per_pod = f"rate({series(REQUEST_COUNT, scope.app(*user_requests()))}[{window}])"
    return f"sum by ({VERSION_LABEL}) ({_with_version(per_pod, scope, window)})"


def failed_requests_by_version(scope: Scope, window: str) -> str:
    """PromQL: user requests per second each version answered with a 5xx, over `window`."""
    failed = user_requests((STATUS_LABEL, "=~", FAILED_STATUS))
    per_pod = f"rate({series(REQUEST_COUNT, scope.app(*failed))}[{window}])"
    return f"sum by ({VERSION_LABEL}) ({_with_version(per_pod, scope, window)})"


def error_ratio_by_version(scope: Scope, window: str) -> str:
    """PromQL: each version's share of failed user requests over `window` — what the canary is judged by."""
    return ratio(failed_requests_by_version(scope, window), requests_by_version(scope, window))


def ingress_requests_by_backend(scope: Scope, window: str) -> str:
    """PromQL: requests per second the ingress sent to each backend (canary="" is the stable Service), by status."""
    return rate_sum(INGRESS_REQUESTS, scope.edge(), window, (INGRESS_BACKEND_LABEL, "status"))


def ingress_error_ratio_by_backend(scope: Scope, window: str) -> str:
    """PromQL: each backend's share of 5xx answers at the ingress (connection failures to its pods included)."""
    by = (INGRESS_BACKEND_LABEL,)
    return ratio(_edge_failed(scope, window, by), _edge_all(scope, window, by))


def page_latency_quantile(quantile: float, scope: Scope, window: str, by: Sequence[str] = ()) -> str:
    """PromQL: the `quantile` of the page's answer time in seconds over `window` (from the histogram)."""
    buckets = rate_sum(REQUEST_BUCKET, scope.app(*_page()), window, ("le", *by))
    return f"histogram_quantile({quantile:g}, {buckets})"


def pods_by_version(scope: Scope) -> str:
    """PromQL: pods Prometheus scrapes, per version (each reports one `target_info`)."""
    return f"count by ({VERSION_LABEL}) ({series(BUILD_INFO, scope.app())})"


def ready_pods_by_version(scope: Scope) -> str:
    """PromQL: pods whose Ready condition is true, per version (kube-state-metrics joined to `target_info`)."""
    ready = series(POD_READY, (("namespace", "=", scope.namespace), ("condition", "=", "true")))
    versions = f"max by (namespace, pod, {VERSION_LABEL}) ({series(BUILD_INFO, scope.app())})"
    return f"sum by ({VERSION_LABEL}) ({ready} * on (namespace, pod) group_left ({VERSION_LABEL}) {versions})"


def new_versions(scope: Scope, lookback: str) -> str:
    """PromQL: versions served now that nobody served `lookback` ago — a deploy, for annotations."""
    now = f"count by ({VERSION_LABEL}) ({series(BUILD_INFO, scope.app())})"
    before = f"count by ({VERSION_LABEL}) ({series(BUILD_INFO, scope.app())} offset {lookback})"
    return f"{now} unless {before}"


# --- Kubernetes object state ----------------------------------------------------------------------
def _deployments(scope: Scope) -> tuple[Matcher, ...]:
    return (("namespace", "=", scope.namespace), ("deployment", "=~", _any_of(scope.deployments)))


def rollout_stuck(scope: Scope) -> str:
    """PromQL: each watched Deployment whose rollout is past its progress deadline (the old pods keep serving)."""
    condition = series(
        DEPLOYMENT_CONDITION,
        (
            *_deployments(scope),
            ("condition", "=", "Progressing"),
            ("status", "=", "false"),
            ("reason", "=", PROGRESS_DEADLINE_EXCEEDED),
        ),
    )
    return f"max by (namespace, deployment) ({condition}) == 1"


def pods_below_disruption_budget(scope: Scope) -> str:
    """PromQL: how many pods the disruption budget is short of its floor, where it is short."""
    budget = (("namespace", "=", scope.namespace), ("poddisruptionbudget", "=", scope.disruption_budget))
    by = " by (namespace, poddisruptionbudget)"
    desired = f"max{by} ({series(PDB_DESIRED_HEALTHY, budget)})"
    current = f"max{by} ({series(PDB_CURRENT_HEALTHY, budget)})"
    return f"{desired} - {current} > 0"


def deployment_replicas(metric: str, scope: Scope) -> str:
    """PromQL: one kube-state-metrics replica count per watched Deployment."""
    return f"max by (deployment) ({series(metric, _deployments(scope))})"


def problems() -> list[str]:
    """Every broken relation between the numbers above; empty when sound (tests assert it)."""
    found: list[str] = []
    if LATENCY_THRESHOLD not in LATENCY_BUCKETS:
        found.append(f"the latency bound {LATENCY_THRESHOLD} s must be a bucket edge of {LATENCY_BUCKETS}")
    if list(LATENCY_BUCKETS) != sorted(set(LATENCY_BUCKETS)):
        found.append("LATENCY_BUCKETS must rise strictly")
    for objective in OBJECTIVES:
        if not 0 < objective.target < 1:
            found.append(f"objective {objective.name}: target must be between 0 and 1, got {objective.target}")
    for alert in BURN_RATE_ALERTS:
        if alert.short_window >= alert.long_window:
            found.append(f"{alert.name}: the short window must be shorter than the long one")
    for profile in PROFILES.values():
        found.extend(profile.problems())
    return found
