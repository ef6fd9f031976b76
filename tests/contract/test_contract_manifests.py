"""The rendered Kubernetes objects: what makes a rollout drop nothing, and a restricted, reachable pod."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from app.contract import AppSettings, Manifests, render
from app.contract.manifests import METRICS_SCRAPER_NAMESPACE, UID, selector_labels
from app.timing import LOCAL_TIMING, Timing
from app.version import BuildInfo
from app.web import Draining, create_app
from harness.app_settings import DIGEST, REPOSITORY

# EKS runs 1.35 (FACTS.md); strict: an unknown field is an error, not silently dropped by the API server.
KUBERNETES_VERSION = "1.35"


def _container(manifests: Manifests) -> dict[str, Any]:
    (container,) = manifests.deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(manifests: Manifests) -> dict[str, str]:
    return {item["name"]: item["value"] for item in _container(manifests)["env"]}


@pytest.fixture
def manifests(settings: AppSettings) -> Manifests:
    return render(settings)


@pytest.mark.parametrize("tls_cluster_issuer", ["", "letsencrypt-staging"])
@pytest.mark.parametrize("timing", [None, LOCAL_TIMING])
def test_every_object_is_valid_for_kubernetes(valid: dict[str, Any], tls_cluster_issuer: str, timing: Any) -> None:
    extra = {"timing": timing} if timing else {}
    for manifest in render(AppSettings(**valid, tls_cluster_issuer=tls_cluster_issuer, **extra)).all():
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_objects_come_in_dependency_order_with_one_name(manifests: Manifests, settings: AppSettings) -> None:
    kinds = [m["kind"] for m in manifests.all()]
    assert kinds == [
        "Namespace",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Ingress",
    ]
    for manifest in manifests.all()[1:]:
        assert manifest["metadata"]["name"] == settings.name
        assert manifest["metadata"]["namespace"] == settings.namespace


def test_rollout_is_surge_first_and_never_below_capacity(manifests: Manifests, settings: AppSettings) -> None:
    strategy = manifests.deployment["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert manifests.deployment["spec"]["replicas"] == settings.replicas >= 2


def test_percent_surge_is_rendered_as_given(valid: dict[str, Any]) -> None:
    rendered = render(AppSettings(**valid, replicas=4, max_surge="25%", max_unavailable="0%"))
    assert rendered.deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "0%"}


# Every probe field a different number, so a field rendered into the wrong place cannot go unnoticed.
DISTINCT_TIMING = Timing(
    readiness_period=3,
    readiness_failure_threshold=4,
    liveness_period=11,
    liveness_failure_threshold=5,
    probe_timeout=2,
    startup_period=6,
    startup_failure_threshold=7,
)


def test_probes_carry_the_budgets_periods_and_thresholds(valid: dict[str, Any]) -> None:
    container = _container(render(AppSettings(**valid, timing=DISTINCT_TIMING)))
    probes = {
        name: (c["periodSeconds"], c["failureThreshold"], c["timeoutSeconds"], c["successThreshold"])
        for name, c in ((n, container[n]) for n in ("readinessProbe", "livenessProbe", "startupProbe"))
    }
    assert probes == {"readinessProbe": (3, 4, 2, 1), "livenessProbe": (11, 5, 2, 1), "startupProbe": (6, 7, 2, 1)}


def test_probes_ask_the_app_on_its_named_port_where_it_answers_as_the_kubelet_expects(
    manifests: Manifests, settings: AppSettings
) -> None:
    container = _container(manifests)
    assert container["ports"] == [{"name": "http", "containerPort": settings.container_port, "protocol": "TCP"}]
    probes = {name: container[name]["httpGet"] for name in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert {probe["port"] for probe in probes.values()} == {"http"}
    # The app itself, asked on the rendered paths: ready until it drains, alive throughout.
    draining = Draining()
    client = create_app(
        {"TESTING": True, "BUILD_INFO": BuildInfo(version="v1.2.3"), "DRAINING": draining}
    ).test_client()
    assert [client.get(p["path"]).status_code for p in probes.values()] == [200, 200, 200]
    draining.start()
    assert [client.get(p["path"]).status_code for p in probes.values()] == [503, 200, 200]


@pytest.mark.parametrize(
    ("timing", "pre_stop", "graceful_timeout", "grace"),
    [
        (Timing(), 10, 20, 35),
        (LOCAL_TIMING, 1, 5, 8),
        (Timing(pre_stop=12, graceful_timeout=40, shutdown_margin=3, worker_timeout=45), 12, 40, 12 + 40 + 3),
    ],
)
def test_the_pod_gets_its_pre_stop_and_then_gunicorns_whole_drain_before_sigkill(
    valid: dict[str, Any], timing: Timing, pre_stop: int, graceful_timeout: int, grace: int
) -> None:
    rendered = render(AppSettings(**valid, timing=timing))
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert _container(rendered)["lifecycle"] == {"preStop": {"sleep": {"seconds": pre_stop}}}
    assert _env(rendered)["GRACEFUL_TIMEOUT"] == str(graceful_timeout)
    # SIGKILL comes at the grace period, which counts preStop: the pod sleeps, then gunicorn drains in full.
    assert pod["terminationGracePeriodSeconds"] == grace


def test_gunicorn_gets_its_timings_from_the_same_budget(manifests: Manifests, settings: AppSettings) -> None:
    env = _env(manifests)
    assert env["GRACEFUL_TIMEOUT"] == str(settings.timing.graceful_timeout)
    assert env["KEEPALIVE"] == str(settings.timing.keepalive)
    assert env["WORKER_TIMEOUT"] == str(settings.timing.worker_timeout)
    assert env["PORT"] == str(settings.container_port)
    assert (env["WEB_WORKERS"], env["WEB_THREADS"]) == (str(settings.workers), str(settings.threads))


def test_rollout_deadlines(manifests: Manifests, settings: AppSettings) -> None:
    spec = manifests.deployment["spec"]
    assert spec["minReadySeconds"] == settings.timing.min_ready > 0
    assert spec["progressDeadlineSeconds"] == settings.timing.progress_deadline


def test_resources_are_requested_and_limited(manifests: Manifests) -> None:
    assert _container(manifests)["resources"] == {
        "requests": {"cpu": "100m", "memory": "192Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def test_pod_meets_the_restricted_pod_security_standard(manifests: Manifests) -> None:
    pod = manifests.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = _container(manifests)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False


def test_tmp_is_the_only_writable_path(manifests: Manifests) -> None:
    pod = manifests.deployment["spec"]["template"]["spec"]
    assert _container(manifests)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]


def test_pods_spread_over_zones_and_nodes(manifests: Manifests, settings: AppSettings) -> None:
    spread = manifests.deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    for constraint in spread:
        assert constraint["labelSelector"] == {"matchLabels": selector_labels(settings)}
        # A surge pod must never wait for a node in the "right" zone.
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"


def test_image_is_repository_tag_and_the_version_comes_from_the_tag(manifests: Manifests) -> None:
    assert _container(manifests)["image"] == f"{REPOSITORY}:v1.2.3"
    assert _env(manifests)["APP_VERSION"] == "v1.2.3"
    assert manifests.deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v1.2.3"


def test_a_pinned_digest_runs_that_image_but_still_shows_the_tag(valid: dict[str, Any]) -> None:
    rendered = render(AppSettings(**valid, image_digest=DIGEST, commit="0123abc"))
    assert _container(rendered)["image"] == f"{REPOSITORY}@{DIGEST}"
    assert _env(rendered)["APP_VERSION"] == "v1.2.3"
    assert _env(rendered)["APP_COMMIT"] == "0123abc"


def test_selectors_never_include_the_version(manifests: Manifests, settings: AppSettings) -> None:
    # A Deployment's selector is immutable: a version in it would make every release a delete-and-create.
    assert "app.kubernetes.io/version" not in selector_labels(settings)
    assert manifests.deployment["spec"]["selector"] == {"matchLabels": selector_labels(settings)}
    assert manifests.service["spec"]["selector"] == selector_labels(settings)


def test_autoscaler_never_goes_below_the_replicas(manifests: Manifests, settings: AppSettings) -> None:
    spec = manifests.autoscaler["spec"]
    assert spec["minReplicas"] == settings.replicas
    assert spec["maxReplicas"] == settings.max_replicas
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": settings.name}
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == settings.target_cpu_percent


def test_disruption_budget_lets_drains_take_one_pod_at_a_time(manifests: Manifests, settings: AppSettings) -> None:
    spec = manifests.pod_disruption_budget["spec"]
    assert spec["maxUnavailable"] == 1
    assert spec["selector"] == {"matchLabels": selector_labels(settings)}


def test_only_the_ingress_namespace_and_prometheus_reach_the_pods(manifests: Manifests, settings: AppSettings) -> None:
    spec = manifests.network_policy["spec"]
    assert spec["podSelector"] == {"matchLabels": selector_labels(settings)}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.router_namespace}}},
        # Prometheus pods of the monitoring namespace only, not the whole namespace (Grafana lives there too).
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": METRICS_SCRAPER_NAMESPACE}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]
    assert rule["ports"] == [{"port": settings.container_port, "protocol": "TCP"}]


def test_namespace_enforces_the_restricted_pod_security_standard(manifests: Manifests, settings: AppSettings) -> None:
    labels = manifests.namespace["metadata"]["labels"]
    assert manifests.namespace["metadata"]["name"] == settings.namespace
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_ingress_routes_the_host_to_the_services_named_port(manifests: Manifests, settings: AppSettings) -> None:
    (rule,) = manifests.routes[0]["spec"]["rules"]
    assert rule["host"] == settings.host
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"]["name"] == manifests.service["metadata"]["name"]
    assert path["backend"]["service"]["port"] == {"name": manifests.service["spec"]["ports"][0]["name"]}
    assert manifests.service["spec"]["ports"][0]["targetPort"] == _container(manifests)["ports"][0]["name"]
    assert manifests.routes[0]["spec"]["ingressClassName"] == "nginx"


def test_ingress_has_tls_only_when_an_issuer_is_set(valid: dict[str, Any], manifests: Manifests) -> None:
    assert "tls" not in manifests.routes[0]["spec"]
    assert manifests.routes[0]["metadata"]["annotations"] == {}
    with_tls = render(AppSettings(**valid, tls_cluster_issuer="letsencrypt-prod")).routes[0]
    assert with_tls["spec"]["tls"] == [{"hosts": ["app.example.test"], "secretName": "example-app-tls"}]
    assert with_tls["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}


def _differences(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths at which two JSON-like values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[tuple[str, ...]] = []
        for key in sorted(old.keys() | new.keys()):
            found += _differences(old.get(key), new.get(key), (*path, key))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True)) for p in _differences(a, b, (*path, str(i)))]
    return [] if old == new else [path]


def test_a_new_tag_changes_only_the_deployments_pod_template(valid: dict[str, Any]) -> None:
    old = render(AppSettings(**valid)).all()
    new = render(AppSettings(**{**valid, "image_tag": "v1.2.4"})).all()
    changed = [(m["kind"], *p) for a, m in zip(old, new, strict=True) for p in _differences(a, m)]
    assert changed, "a new tag must change something"
    assert all(p[:3] == ("Deployment", "spec", "template") for p in changed), changed


def test_render_is_pure(settings: AppSettings) -> None:
    first = render(settings)
    first.deployment["spec"]["replicas"] = 99
    assert render(settings).deployment["spec"]["replicas"] == settings.replicas
