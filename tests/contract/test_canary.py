"""The canary policy's validation and the canary objects rendered for each step."""

from __future__ import annotations

import dataclasses
from typing import Any

import kubernetes_validate
import pytest

from app.contract import AppSettings, SettingsError, render
from app.contract.canary import (
    LOCAL_CANARY,
    TRACK_LABEL,
    CanaryPolicy,
    CanaryRelease,
    CanaryStep,
    canary_replicas,
    render_canary,
)
from app.contract.manifests import deployment

KUBERNETES_VERSION = "1.35"
CANARY = CanaryPolicy(strategy="canary")


def settings(**overrides: Any) -> AppSettings:
    values: dict[str, Any] = {
        "image_repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/example-app",
        "image_tag": "v1.0.0",
        "host": "example-app.int.example.com",
        "tls_cluster_issuer": "letsencrypt-staging",
        **overrides,
    }
    return AppSettings(**values)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- the policy -------------------------------------------------------------------------------


def test_defaults_are_a_valid_rolling_policy_with_three_canary_steps() -> None:
    policy = CanaryPolicy()
    assert policy.strategy == "rolling"
    assert policy.steps == (10, 50, 100)
    assert policy.headers == {"X-Canary": "always"}
    assert LOCAL_CANARY.strategy == "canary"


def test_every_problem_is_reported_at_once_each_naming_its_field() -> None:
    with pytest.raises(SettingsError) as caught:
        CanaryPolicy.from_mapping(
            {
                "strategy": "blue-green",
                "steps": [50, 10, 100],
                "step_seconds": 0,
                "min_requests": 0,
                "max_error_rate": 1.5,
                "analysis_traffic": "yes",
                "analysis_rate": -1,
                "header": "X Canary",
                "header_value": "never",
                "colour": "red",
            }
        )
    text = "\n".join(caught.value.problems)
    for name in (
        "release.colour",
        "release.strategy",
        "release.steps",
        "release.step_seconds",
        "release.min_requests",
        "release.max_error_rate",
        "release.analysis_traffic",
        "release.analysis_rate",
        "release.header ",
        "release.header_value",
    ):
        assert name in text, name
    assert len(caught.value.problems) == 10


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ([], "non-empty"),
        ([0, 50], "not a weight"),
        ([10, 101], "not a weight"),
        ([10, 10, 100], "rise strictly"),
        ([True, 50], "not a weight"),
        ("10,50", "must be a list"),
    ],
)
def test_bad_steps_are_refused(steps: object, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        CanaryPolicy.from_mapping({"strategy": "canary", "steps": steps})


def test_a_timeout_shorter_than_the_observation_could_never_pass() -> None:
    with pytest.raises(SettingsError, match="step_timeout_seconds"):
        CanaryPolicy(step_seconds=60, step_timeout_seconds=30)


def test_pulumi_floats_become_whole_steps() -> None:
    policy = CanaryPolicy.from_mapping({"strategy": "canary", "steps": [5.0, 25.0, 100.0], "min_requests": 50.0})
    assert policy.steps == (5, 25, 100)
    assert policy.min_requests == 50
    assert policy.next_weight(5) == 25
    assert policy.next_weight(100) is None


@pytest.mark.parametrize(
    ("tag", "weight", "fragment"),
    [("latest", 10, "canaryTag"), ("-bad", 10, "canaryTag"), ("v2", 101, "canaryWeight"), ("v2", True, "canaryWeight")],
)
def test_bad_steps_name_their_config_key(tag: str, weight: int, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        CanaryStep(tag=tag, weight=weight)


def test_release_from_config_starts_at_the_first_step_and_collects_every_problem() -> None:
    release = CanaryRelease.from_config({"strategy": "canary", "steps": [20.0, 100.0]}, "v2", None)
    assert release.step == CanaryStep(tag="v2", weight=20)
    assert CanaryRelease.from_config(None, None, None).step is None

    with pytest.raises(SettingsError) as caught:
        CanaryRelease.from_config({"strategy": "canary", "steps": [0]}, "latest", 300)
    assert len(caught.value.problems) == 3
    with pytest.raises(SettingsError, match="without canaryTag"):
        CanaryRelease.from_config({"strategy": "canary"}, None, 10)
    with pytest.raises(SettingsError, match=r"release\.strategy is 'rolling'"):
        CanaryRelease.from_config({}, "v2", 10)
    with pytest.raises(SettingsError, match="release must be an object"):
        CanaryRelease.from_config("canary", None, None)  # type: ignore[arg-type]


# --- the objects of every step ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "weight", "expected"), [(3, 10, 1), (3, 50, 2), (3, 100, 3), (10, 50, 5), (3, 0, 1)]
)
def test_canary_replicas_carry_the_same_load_per_pod(replicas: int, weight: int, expected: int) -> None:
    assert canary_replicas(replicas, weight) == expected


@pytest.mark.parametrize("weight", CANARY.steps)
def test_every_step_renders_valid_objects_for_the_cluster_version(weight: int) -> None:
    objects = render_canary(settings(), CanaryStep(tag="v2.0.0", weight=weight), CANARY)
    for manifest in objects.all():
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert objects.deployment["spec"]["replicas"] == canary_replicas(3, weight)
    annotations = objects.routes[0]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == str(weight)


def test_the_canary_runs_the_contracts_pod_spec_with_only_its_tag_and_pod_selector_changed() -> None:
    base = settings()
    objects = render_canary(base, CanaryStep(tag="v2.0.0", weight=10), CANARY)
    expected = deployment(dataclasses.replace(base, image_tag="v2.0.0"))["spec"]["template"]["spec"]
    pod = objects.deployment["spec"]["template"]["spec"]
    assert pod["containers"] == expected["containers"]
    assert pod["containers"][0]["image"].endswith(":v2.0.0")
    assert {"name": "APP_VERSION", "value": "v2.0.0"} in pod["containers"][0]["env"]
    assert pod["terminationGracePeriodSeconds"] == expected["terminationGracePeriodSeconds"]
    canary_pod_labels = objects.deployment["spec"]["template"]["metadata"]["labels"]
    for spread in pod["topologySpreadConstraints"]:
        assert matches(spread["labelSelector"]["matchLabels"], canary_pod_labels)
    assert {k: v for k, v in pod.items() if k != "topologySpreadConstraints"} == {
        k: v for k, v in expected.items() if k != "topologySpreadConstraints"
    }
    # The canary keeps the stable Deployment's surge strategy and deadlines.
    stable_spec = render(base).deployment["spec"]
    for key in ("strategy", "minReadySeconds", "progressDeadlineSeconds"):
        assert objects.deployment["spec"][key] == stable_spec[key]


def test_stable_and_canary_select_disjoint_pods() -> None:
    base = settings()
    stable = render(base)
    canary = render_canary(base, CanaryStep(tag="v2.0.0", weight=50), CANARY)
    stable_pod = stable.deployment["spec"]["template"]["metadata"]["labels"]
    canary_pod = canary.deployment["spec"]["template"]["metadata"]["labels"]
    assert canary_pod[TRACK_LABEL] == "canary"
    # Neither Deployment may adopt the other's pods, and the stable Service must not send to the canary.
    assert not matches(stable.deployment["spec"]["selector"]["matchLabels"], canary_pod)
    assert not matches(stable.service["spec"]["selector"], canary_pod)
    assert not matches(canary.deployment["spec"]["selector"]["matchLabels"], stable_pod)
    assert matches(canary.deployment["spec"]["selector"]["matchLabels"], canary_pod)
    assert matches(canary.service["spec"]["selector"], canary_pod)
    assert not matches(canary.service["spec"]["selector"], stable_pod)
    # The canary's pods are isolated like the stable ones: only the ingress namespace reaches them.
    assert matches(canary.network_policy["spec"]["podSelector"]["matchLabels"], canary_pod)
    assert canary.network_policy["spec"]["ingress"] == stable.network_policy["spec"]["ingress"]
    names = {m["metadata"]["name"] for m in canary.all()}
    assert names == {"example-app-canary"}


def test_the_canary_ingress_shadows_the_stable_one_by_weight_and_header_without_a_second_certificate() -> None:
    base = settings()
    (stable,) = render(base).routes
    (canary,) = render_canary(base, CanaryStep(tag="v2.0.0", weight=10), CANARY).routes
    assert canary["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "10",
        "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
        "nginx.ingress.kubernetes.io/canary-by-header-value": "always",
    }
    assert "tls" in stable["spec"]
    assert "tls" not in canary["spec"]
    assert canary["spec"]["ingressClassName"] == stable["spec"]["ingressClassName"]
    stable_rule, canary_rule = stable["spec"]["rules"][0], canary["spec"]["rules"][0]
    assert canary_rule["host"] == stable_rule["host"]
    stable_path, canary_path = stable_rule["http"]["paths"][0], canary_rule["http"]["paths"][0]
    assert (canary_path["path"], canary_path["pathType"]) == (stable_path["path"], stable_path["pathType"])
    assert canary_path["backend"]["service"] == {"name": "example-app-canary", "port": {"name": "http"}}


def test_a_custom_header_reaches_the_annotations() -> None:
    policy = CanaryPolicy(strategy="canary", header="X-Tester", header_value="me")
    annotations = render_canary(settings(), CanaryStep(tag="v2", weight=0), policy).routes[0]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "X-Tester"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header-value"] == "me"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "0"


def test_rendering_a_canary_leaves_the_stable_objects_as_they_were() -> None:
    base = settings()
    before = render(base)
    render_canary(base, CanaryStep(tag="v2.0.0", weight=50), CANARY)
    assert render(base) == before


def test_a_digest_pinned_stable_release_does_not_pin_the_canary_to_its_image() -> None:
    pinned = settings(image_digest="sha256:" + "a" * 64)
    objects = render_canary(pinned, CanaryStep(tag="v2.0.0", weight=10), CANARY)
    assert objects.deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2.0.0")


def test_a_rolling_policy_or_an_overlong_name_renders_no_canary() -> None:
    with pytest.raises(SettingsError, match="strategy is 'rolling'"):
        render_canary(settings(), CanaryStep(tag="v2", weight=10), CanaryPolicy())
    with pytest.raises(SettingsError, match="too long for a canary"):
        render_canary(settings(name="a" * 60), CanaryStep(tag="v2", weight=10), CANARY)
