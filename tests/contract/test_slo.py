"""app/slo.py: the indicator's names match what the app exports, and the objectives' numbers hold together."""

from __future__ import annotations

import dataclasses
import re

import pytest
from flask.testing import FlaskClient

from app import slo
from app.version import BuildInfo
from app.web import create_app

SCOPE = slo.Scope(namespace="shop", ingress="web", deployments=("web", "web-canary"), disruption_budget="web")


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"TESTING": True, "BUILD_INFO": BuildInfo(version="v9", commit="f00d")}).test_client()


def test_the_numbers_hold_together() -> None:
    assert slo.problems() == []


def test_the_latency_bound_is_a_bucket_edge_the_app_really_exports(client: FlaskClient) -> None:
    client.get("/")
    text = client.get("/metrics").get_data(as_text=True)
    bound = slo.le_label(slo.LATENCY_THRESHOLD)
    page_buckets = re.findall(rf'^{slo.REQUEST_BUCKET}\{{.*http_route="/".*le="([^"]+)".*\}}', text, re.MULTILINE)
    assert bound in page_buckets
    assert [float(le) for le in page_buckets if le != "+Inf"][: len(slo.LATENCY_BUCKETS)] == list(slo.LATENCY_BUCKETS)


def test_every_name_a_query_reads_is_in_the_apps_exposition(client: FlaskClient) -> None:
    client.get("/version")
    text = client.get("/metrics").get_data(as_text=True)
    for name in (slo.REQUEST_COUNT, slo.REQUEST_BUCKET, slo.BUILD_INFO):
        assert re.search(rf"^{name}\{{", text, re.MULTILINE), name
    request = re.search(rf"^{slo.REQUEST_COUNT}\{{(.*)\}}", text, re.MULTILINE)
    assert request is not None
    assert set(re.findall(r'(\w+)="', request.group(1))) == set(slo.REQUEST_LABELS)
    # Every app built in this test process publishes its build; ours is among them.
    builds = [dict(re.findall(r'(\w+)="([^"]*)"', m)) for m in re.findall(rf"^{slo.BUILD_INFO}\{{(.*)\}}", text, re.M)]
    assert {slo.SERVICE_NAME_LABEL: slo.SERVICE_NAME, slo.VERSION_LABEL: "v9", slo.REVISION_LABEL: "f00d"} in builds


@pytest.mark.parametrize(
    ("alert", "spent"),
    # The workbook's pairs for a 30-day period: 2 % of the budget in 1 h, 5 % in 6 h.
    [(slo.FAST_BURN, 0.02), (slo.SLOW_BURN, 0.05)],
)
def test_each_alert_fires_after_the_share_of_budget_the_workbook_chose(alert: slo.BurnRateAlert, spent: float) -> None:
    assert alert.budget_spent(slo.CLUSTER.period) == pytest.approx(spent)
    assert alert.short_window == alert.long_window / 12


@pytest.mark.parametrize(
    ("profile", "windows"),
    [
        (slo.CLUSTER, ("5m", "30m", "1h", "6h", "30d")),
        # hours become minutes, minutes seconds: the local environment sees an alert in seconds
        (slo.LOCAL, ("5s", "30s", "1m", "6m", "12h")),
    ],
)
def test_profiles_scale_every_window_alike(profile: slo.Profile, windows: tuple[str, ...]) -> None:
    assert (*profile.alert_windows(), profile.budget_window) == windows
    for alert in slo.BURN_RATE_ALERTS:
        # the budget spent per alert does not depend on the scale
        assert alert.budget_spent(profile.period) == alert.budget_spent(slo.CLUSTER.period)


def test_a_profile_scraped_too_rarely_for_its_windows_is_refused() -> None:
    coarse = dataclasses.replace(slo.LOCAL, name="coarse", scrape_interval=2.0)
    assert coarse.problems() == [
        "slo profile coarse: the shortest window (5 s) must be ≥ 4 scrape intervals (8 s), "
        "or rate() sees too few samples"
    ]
    slow_rules = dataclasses.replace(slo.LOCAL, name="slow", evaluation_interval=10.0)
    assert slow_rules.problems() == [
        "slo profile slow: evaluation_interval (10 s) must not exceed the shortest window (5 s)"
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3600, "1h"), (300, "5m"), (5, "5s"), (0.5, "500ms"), (30 * 86400, "30d"), (90, "90s"), (43200, "12h")],
)
def test_durations_are_written_in_their_largest_exact_unit(seconds: float, text: str) -> None:
    assert slo.duration(seconds) == text


def test_a_duration_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        slo.duration(0)


def test_availability_counts_5xx_at_the_apps_ingress_and_is_zero_not_empty_without_failures() -> None:
    expr = slo.AVAILABILITY.error_ratio(SCOPE, "5m")
    edge = 'namespace="shop", ingress="web"'
    assert expr == (
        f'(sum (rate(nginx_ingress_controller_requests{{{edge}, status=~"5.."}}[5m])) '
        f"or sum (rate(nginx_ingress_controller_requests{{{edge}}}[5m])) * 0) "
        f"/ sum (rate(nginx_ingress_controller_requests{{{edge}}}[5m]))"
    )


def test_latency_counts_page_requests_slower_than_the_bound() -> None:
    expr = slo.LATENCY.error_ratio(SCOPE, "1h")
    assert 'http_server_request_duration_seconds_bucket{namespace="shop", http_route="/", le="0.1"}[1h]' in expr
    assert expr.startswith('((sum (rate(http_server_request_duration_seconds_count{namespace="shop", http_route="/"}')


def test_burn_conditions_compare_both_windows_with_the_scaled_threshold() -> None:
    assert slo.burn_condition(slo.AVAILABILITY, slo.FAST_BURN, slo.LOCAL) == (
        'slo:sli_error:ratio_rate1m{slo="availability"} > (14.4 * 0.001)\n'
        "and\n"
        'slo:sli_error:ratio_rate5s{slo="availability"} > (14.4 * 0.001)'
    )
    assert "(6 * 0.01)" in slo.burn_condition(slo.LATENCY, slo.SLOW_BURN, slo.CLUSTER)


def test_by_version_queries_leave_probes_out_and_join_the_build_info() -> None:
    expr = slo.requests_by_version(SCOPE, "1m")
    assert 'http_route!~"/healthz|/readyz|/metrics"' in expr
    assert "* on (job, instance) group_left (service_version) last_over_time(target_info" in expr
    assert expr.startswith("sum by (service_version) (")


def test_label_values_are_quoted_and_regex_alternatives_escaped() -> None:
    odd = slo.Scope(namespace='a"b', ingress="i", deployments=("x.y", "x+z"))
    assert slo.series("m", odd.app()) == 'm{namespace="a\\"b"}'
    assert 'deployment=~"x\\\\.y|x\\\\+z"' in slo.rollout_stuck(odd)


def test_rollout_and_budget_queries_use_kube_state_metrics_names() -> None:
    assert slo.rollout_stuck(SCOPE) == (
        "max by (namespace, deployment) (kube_deployment_status_condition{"
        'namespace="shop", deployment=~"web|web-canary", condition="Progressing", status="false", '
        'reason="ProgressDeadlineExceeded"}) == 1'
    )
    assert slo.pods_below_disruption_budget(SCOPE).endswith(
        'kube_poddisruptionbudget_status_current_healthy{namespace="shop", poddisruptionbudget="web"}) > 0'
    )


def test_the_canary_query_reads_the_canary_pods_user_requests_by_the_analysis_labels() -> None:
    expr = slo.canary_request_counters(SCOPE, "web-canary")
    assert expr.startswith("sum by (pod, http_route, http_request_method, http_response_status_code) (")
    assert 'namespace="shop"' in expr and 'pod=~"web-canary-.+"' in expr
    assert 'http_route!~"/healthz|/readyz|/metrics"' in expr  # the counts the pods' /metrics analysis counted
    stable_pod, canary_pod = "web-7d9f8c6b5-x2x4q", "web-canary-5d9c7f-abcde"
    pattern = re.compile("web-canary-.+")
    assert pattern.fullmatch(canary_pod) and not pattern.fullmatch(stable_pod)
    # A deployment name with regex characters is matched literally.
    assert 'pod=~"x\\\\.y-.+"' in slo.canary_request_counters(SCOPE, "x.y")
