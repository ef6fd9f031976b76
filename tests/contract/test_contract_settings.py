"""Typed settings: every problem reported at once, each naming its field; nothing built from bad settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from app.contract import AppSettings, SettingsError
from app.timing import LOCAL_TIMING, Timing
from harness.app_settings import DIGEST, REPOSITORY


def _problems(**kwargs: Any) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        AppSettings(**kwargs)
    return raised.value.problems


def test_defaults_are_the_zero_downtime_choices(settings: AppSettings) -> None:
    assert settings.replicas >= 2
    assert (settings.max_surge, settings.max_unavailable) == (1, 0)
    assert settings.fenceposts() == (1, 0)
    assert settings.timing == Timing()
    assert settings.tls_cluster_issuer == ""


def test_every_problem_is_reported_at_once_each_naming_its_field(valid: dict[str, Any]) -> None:
    problems = _problems(
        **{**valid, "image_tag": "latest", "host": "Not_A_Host", "replicas": 1, "max_unavailable": "150%"},
        cpu_limit="lots",
        timing=Timing(pre_stop=1),
    )
    fields = [p.split()[0] for p in problems]
    assert fields == ["image_tag", "host", "replicas", "max_unavailable", "cpu_limit", "timing.pre_stop"]


def test_the_error_is_one_clear_message_listing_each_problem(valid: dict[str, Any]) -> None:
    with pytest.raises(SettingsError) as raised:
        AppSettings(**{**valid, "image_tag": "latest", "replicas": 1})
    message = str(raised.value)
    assert message.startswith("2 invalid setting(s); fix them and try again:")
    assert "\n  - image_tag 'latest' is mutable" in message
    assert "\n  - replicas must be a whole number ≥ 2 (the mission asks for at least two instances), got 1" in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replicas": 1}, "replicas"),
        ({"replicas": 0}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"replicas": 2.5}, "replicas"),
        ({"image_tag": "v1 beta"}, "image_tag"),
        ({"image_tag": ".v1"}, "image_tag"),
        ({"image_tag": "-v1"}, "image_tag"),
        ({"image_tag": "v" * 129}, "image_tag"),
        ({"image_tag": "latest"}, "image_tag"),
        ({"image_tag": 123}, "image_tag"),
        ({"image_repository": "Registry/App"}, "image_repository"),
        ({"image_repository": "registry.example.test/app:v1"}, "image_repository"),
        ({"image_digest": "sha256:xyz"}, "image_digest"),
        ({"commit": "not a commit"}, "commit"),
        ({"host": "App.Example.Test"}, "host"),
        ({"host": "app..example.test"}, "host"),
        ({"host": "-app.example.test"}, "host"),
        ({"host": "a" * 64 + ".example.test"}, "host"),
        ({"host": ""}, "host"),
        ({"name": "Example_App"}, "name"),
        ({"namespace": "x" * 64}, "namespace"),
        ({"ingress_namespace": "Ingress_Nginx"}, "ingress_namespace"),
        ({"ingress_class": "Nginx Class"}, "ingress_class"),
        ({"router": "traefik"}, "router"),
        ({"tls_cluster_issuer": "Lets Encrypt"}, "tls_cluster_issuer"),
        ({"max_surge": "101%"}, "max_surge"),
        ({"max_surge": "25"}, "max_surge"),
        ({"max_surge": -1}, "max_surge"),
        ({"max_surge": 0}, "max_surge"),
        ({"max_surge": "0%"}, "max_surge"),
        ({"max_unavailable": "x%"}, "max_unavailable"),
        ({"max_unavailable": 1}, "max_unavailable"),
        ({"max_unavailable": "50%"}, "max_unavailable"),
        ({"max_replicas": 2}, "max_replicas"),
        ({"target_cpu_percent": 0}, "target_cpu_percent"),
        ({"target_cpu_percent": 101}, "target_cpu_percent"),
        ({"workers": 0}, "workers"),
        ({"threads": 0}, "threads"),
        ({"container_port": 80}, "container_port"),
        ({"container_port": 70000}, "container_port"),
        ({"cpu_request": "fast"}, "cpu_request"),
        ({"memory_limit": "256MB"}, "memory_limit"),
        ({"memory_request": 256}, "memory_request"),
        ({"timing": {"pre_stop": 10}}, "timing"),
        ({"timing": Timing(keepalive=30)}, "timing.keepalive"),
    ],
)
def test_each_bad_setting_is_named(valid: dict[str, Any], change: dict[str, Any], field: str) -> None:
    problems = _problems(**{**valid, **change})
    assert [p.split()[0] for p in problems] == [field], problems


@pytest.mark.parametrize(
    "change",
    [
        {"max_surge": "25%", "replicas": 4},
        {"max_surge": "10%", "replicas": 3},  # rounds up to 1
        {"max_surge": "100%"},
        {"max_surge": 2, "max_unavailable": "0%"},
        {"replicas": 2, "max_replicas": 2},
        {"image_tag": "1.0.0-rc.1_build"},
        {"image_digest": DIGEST},
        {"tls_cluster_issuer": "letsencrypt-prod"},
        {"timing": LOCAL_TIMING},
        {"image_repository": "localhost:5000/example-app"},
    ],
)
def test_good_variations_are_accepted(valid: dict[str, Any], change: dict[str, Any]) -> None:
    AppSettings(**{**valid, **change})


def test_image_is_repository_tag_or_repository_digest(valid: dict[str, Any]) -> None:
    assert AppSettings(**valid).image == f"{REPOSITORY}:v1.2.3"
    assert AppSettings(**valid, image_digest=DIGEST).image == f"{REPOSITORY}@{DIGEST}"


def test_settings_are_frozen(settings: AppSettings) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.replicas = 1  # type: ignore[misc]


def test_from_mapping_coerces_pulumi_floats(valid: dict[str, Any]) -> None:
    loaded = AppSettings.from_mapping(
        {**valid, "replicas": 4.0, "max_surge": 2.0, "max_replicas": 8.0, "timing": {"pre_stop": 12.0, "min_ready": 3}}
    )
    assert (loaded.replicas, loaded.max_surge, loaded.max_replicas) == (4, 2, 8)
    assert isinstance(loaded.replicas, int)
    assert loaded.timing == Timing(pre_stop=12, min_ready=3)


def test_from_mapping_takes_values_the_caller_owns(valid: dict[str, Any]) -> None:
    loaded = AppSettings.from_mapping({"host": valid["host"]}, image_repository=REPOSITORY, image_tag="v9")
    assert loaded.image == f"{REPOSITORY}:v9"


def test_from_mapping_reports_unknown_keys_with_every_other_problem(valid: dict[str, Any]) -> None:
    with pytest.raises(SettingsError) as raised:
        AppSettings.from_mapping(
            {**valid, "replica": 3, "replicas": 1.0, "timing": {"pre_stopp": 3, "keepalive": 30, "min_ready": "5"}}
        )
    assert raised.value.problems == [
        "unknown setting 'replica'",
        "unknown setting 'timing.pre_stopp'",
        "timing.min_ready must be a number, got '5'",
        "replicas must be a whole number ≥ 2 (the mission asks for at least two instances), got 1",
        "timing.keepalive (30 s) must exceed the ingress's upstream keep-alive (60 s), or gunicorn closes "
        "connections the ingress is about to reuse",
    ]


def test_from_mapping_reports_a_missing_required_setting(valid: dict[str, Any]) -> None:
    with pytest.raises(SettingsError) as raised:
        AppSettings.from_mapping({"image_tag": "v1", "image_repository": REPOSITORY, "bogus": 1})
    assert raised.value.problems[0] == "unknown setting 'bogus'"
    assert "host" in raised.value.problems[1]


def test_from_mapping_only_problems_still_raise(valid: dict[str, Any]) -> None:
    with pytest.raises(SettingsError, match="unknown setting 'extra'"):
        AppSettings.from_mapping({**valid, "extra": True})


def test_from_mapping_refuses_a_timing_that_is_not_a_mapping(valid: dict[str, Any]) -> None:
    with pytest.raises(SettingsError) as raised:
        AppSettings.from_mapping({**valid, "timing": 5})
    assert raised.value.problems == ["timing must be a mapping of Timing fields"]
