"""The chart check itself, on a tiny chart each test writes: it must catch each kind of defect it claims to.

No chart source is needed (the pinned charts are checked by `python -m harness.pinned_charts` in CI's
"charts" job), so these run everywhere `make test` runs. Rendering is real: Helm v4 through helm-python-sdk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.contract.disruption import spread_constraints
from harness.chart_check import (
    DrainSafe,
    Expected,
    Finding,
    Named,
    Release,
    check_release,
    crd_files,
    crd_schemas,
    invalid_at,
    kube_version_tag,
    manifest_objects,
    present,
    unknown_values,
)


def release(values: dict[str, Any], *, version: str = "0.1.0", chart: str = "tiny") -> Release:
    return Release(chart=chart, version=version, name="demo", namespace="demo", values=values)


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


def test_values_the_chart_knows_render_cleanly(tiny_chart: Path) -> None:
    values = {
        "replicas": 2,
        "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}},  # limits: handed over whole
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},  # minAvailable: read through hasKey
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
    }
    expected = [
        Expected("Deployment", "demo", ("spec", "replicas"), 2),
        Expected(
            "Deployment",
            "demo",
            ("spec", "template", "spec", "containers", Named("tiny"), "resources"),
            values["resources"],
        ),
        Expected("PodDisruptionBudget", "demo", ("spec", "minAvailable"), 1),
        Expected("Deployment", "demo", ("spec", "template", "metadata", "labels"), {"app": "tiny"}, contains=True),
        present("ConfigMap", "demo-kube-version"),
    ]
    assert check_release(tiny_chart, release(values), kube_version="1.35", expected=expected) == []


@pytest.mark.parametrize(
    ("values", "unknown"),
    [
        ({"replicaCount": 2}, ["replicaCount"]),  # the chart says `replicas`: Helm would ignore this silently
        ({"podDisruptionBudget": {"enabled": True, "minAvailble": 1}}, ["podDisruptionBudget.minAvailble"]),
        ({"replicas": 2, "resources": {"limits": {"cpu": "1"}}}, []),
    ],
)
def test_a_value_the_chart_ignores_is_reported(tiny_chart: Path, values: dict[str, Any], unknown: list[str]) -> None:
    findings = check_release(tiny_chart, release(values), kube_version="1.35")
    reported = [f.message for f in findings if f.kind == "unknown-value"]
    assert len(reported) == len(unknown), findings
    for key, message in zip(unknown, reported, strict=True):
        assert f"`{key}`" in message and "tiny 0.1.0" in message


def test_unknown_values_follow_the_templates_reads() -> None:
    templates = '{{ toYaml .Values.extra }} {{ if hasKey .Values.budget "min" }}{{ .Values.budget.min }}{{ end }}'
    defaults = {"budget": {"enabled": False}, "extra": {"a": 1}}
    ours = {"budget": {"enabled": True, "min": 1, "max": 2}, "extra": {"b": 2}, "other": {"c": 3}}
    assert unknown_values(ours, defaults, templates) == ["budget.max", "other"]


def test_a_rendered_object_the_api_would_refuse_is_reported(tiny_chart: Path) -> None:
    # "second" for "seconds": the API server would drop the field and the kubelet would never sleep.
    values = {"lifecycle": {"preStop": {"sleep": {"second": 5}}}}
    findings = check_release(tiny_chart, release(values), kube_version="1.35")
    assert kinds(findings) == ["invalid-object"], findings
    assert "Deployment/demo" in findings[0].message and "second" in findings[0].message


def test_an_object_of_a_kind_without_a_schema_is_reported(tiny_chart: Path) -> None:
    (tiny_chart / "templates" / "monitor.yaml").write_text(
        "apiVersion: monitoring.example/v1\nkind: Monitor\nmetadata:\n  name: demo\n"
    )
    findings = check_release(tiny_chart, release({}), kube_version="1.35")
    assert kinds(findings) == ["invalid-object"] and "Monitor/demo" in findings[0].message


def test_what_we_rely_on_is_reported_when_absent_or_different(tiny_chart: Path) -> None:
    expected = [
        Expected("PodDisruptionBudget", "demo", ("spec", "minAvailable"), 1),  # the budget is disabled
        Expected("Deployment", "demo", ("spec", "replicas"), 3),  # the chart renders 1
        Expected("Deployment", "demo", ("spec", "template", "spec", "terminationGracePeriodSeconds"), 90),
        Expected("Deployment", "demo", ("spec", "template", "spec", "containers", Named("sidecar"), "image"), "x"),
        Expected("Deployment", "demo", ("spec", "template", "metadata", "labels"), {"tier": "web"}, contains=True),
    ]
    findings = check_release(tiny_chart, release({}), kube_version="1.35", expected=expected)
    assert kinds(findings) == ["missing", "mismatch", "missing", "missing", "mismatch"], findings
    assert "PodDisruptionBudget/demo is not rendered" in findings[0].message
    assert "spec.replicas is 1, expected to be 3" in findings[1].message
    assert "no spec.template.spec.terminationGracePeriodSeconds" in findings[2].message
    assert "containers.sidecar.image" in findings[3].message


def test_a_budget_without_the_field_we_set_is_missing(tiny_chart: Path) -> None:
    expected = [Expected("PodDisruptionBudget", "demo", ("spec", "minAvailable"), 1)]
    findings = check_release(
        tiny_chart, release({"podDisruptionBudget": {"enabled": True}}), kube_version="1.35", expected=expected
    )
    assert [str(f) for f in findings] == [
        "missing: tiny 0.1.0: PodDisruptionBudget/demo has no spec.minAvailable (expected 1)"
    ]


SPREAD = spread_constraints({"app": "tiny"})
BUDGET = {"enabled": True, "minAvailable": 1}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"replicas": 2, "podDisruptionBudget": BUDGET, "topologySpreadConstraints": SPREAD}, None),
        (
            {"replicas": 3, "podDisruptionBudget": BUDGET, "topologySpreadConstraints": SPREAD},
            "its budget allows 2 eviction(s) of 3; a drain may take them at once",
        ),
        (
            {"replicas": 2, "topologySpreadConstraints": SPREAD},
            "no PodDisruptionBudget, so a drain may evict every pod at once",
        ),
        (
            {"replicas": 2, "podDisruptionBudget": BUDGET},
            "pods not spread over topology.kubernetes.io/zone, kubernetes.io/hostname; "
            "one node or zone may hold them all",
        ),
        (
            {
                "replicas": 1,
                "podDisruptionBudget": {"enabled": True, "minAvailable": 0},
                "topologySpreadConstraints": SPREAD,
            },
            "1 replica(s); a drain of its node leaves it without a pod",
        ),
    ],
)
def test_a_tier_that_a_node_drain_could_empty_is_reported(
    tiny_chart: Path, values: dict[str, Any], problem: str | None
) -> None:
    # Judged from the rendered Deployment and budget, as the eviction API and the scheduler would see them.
    findings = check_release(tiny_chart, release(values), kube_version="1.35", expected=[DrainSafe("demo", "tiny")])
    if problem is None:
        assert findings == []
    else:
        assert kinds(findings) == ["rotation"], findings
        assert findings[0].message == f"tiny 0.1.0: Deployment/demo: tiny: {problem}"


def test_a_drain_safe_deployment_that_is_not_rendered_is_missing(tiny_chart: Path) -> None:
    findings = check_release(tiny_chart, release({}), kube_version="1.35", expected=[DrainSafe("other", "x")])
    assert [str(f) for f in findings] == ["missing: tiny 0.1.0: Deployment/other is not rendered"]


@pytest.mark.parametrize(("kube_version", "rendered_for"), [("1.33", "v1.33.0"), ("1.35", "v1.35.0")])
def test_the_chart_renders_for_the_clusters_kubernetes_version(
    tiny_chart: Path, kube_version: str, rendered_for: str
) -> None:
    # Without the version, Helm renders for its built-in default; templates that compare versions then lie.
    expected = [Expected("ConfigMap", "demo-kube-version", ("data", "version"), rendered_for)]
    assert check_release(tiny_chart, release({}), kube_version=kube_version, expected=expected) == []


def test_values_failing_the_charts_schema_are_reported(tiny_chart: Path) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"replicas": {"type": "integer", "minimum": 1}},
    }
    (tiny_chart / "values.schema.json").write_text(json.dumps(schema))
    findings = check_release(tiny_chart, release({"replicas": 0}), kube_version="1.35")
    assert "schema" in kinds(findings), findings
    assert check_release(tiny_chart, release({"replicas": 2}), kube_version="1.35") == []


def test_a_chart_other_than_the_pinned_one_is_refused(tiny_chart: Path) -> None:
    findings = check_release(tiny_chart, release({}, version="0.2.0"), kube_version="1.35")
    assert kinds(findings) == ["wrong-chart"]
    assert "holds tiny 0.1.0, but the program installs tiny 0.2.0" in findings[0].message


def test_an_oci_reference_names_its_chart_by_the_last_part() -> None:
    oci = Release(chart="oci://quay.io/jetstack/charts/cert-manager", version="v1.21.1", name="c", namespace="c")
    assert oci.chart_name == "cert-manager"


def test_objects_are_split_as_helm_splits_them() -> None:
    text = "a: 1\nkind: A\n---# note\nkind: B\n---\n# only a comment\n---\n"
    objects = list(manifest_objects({"t/x.yaml": text, "t/NOTES.txt": "not: yaml: here"}))
    assert [o["kind"] for _, o in objects] == ["A", "B"]


@pytest.mark.parametrize(("given", "tag"), [("1.35", "v1.35.0"), ("1.33.4", "v1.33.4"), ("v1.34", "v1.34.0")])
def test_kubernetes_versions_reach_helm_as_tags(given: str, tag: str) -> None:
    assert kube_version_tag(given) == tag


SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {"kind": "ServiceMonitor"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["selector"],
                                "properties": {
                                    "endpoints": {
                                        "type": "array",
                                        "items": {"type": "object", "properties": {"honorLabels": {"type": "boolean"}}},
                                    },
                                    "selector": {"type": "object"},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_a_custom_resource_is_checked_against_the_stacks_crd() -> None:
    schemas = crd_schemas([SERVICE_MONITOR_CRD, {"kind": "ConfigMap"}])
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"}}
    assert (
        invalid_at({**monitor, "spec": {"selector": {}, "endpoints": [{"honorLabels": True}]}}, "1.35", schemas) == []
    )
    (problem,) = invalid_at(
        {**monitor, "spec": {"selector": {}, "endpoints": [{"honorLabels": "yes"}]}}, "1.35", schemas
    )
    assert "ServiceMonitor/m at spec.endpoints.0.honorLabels" in problem
    (missing,) = invalid_at({**monitor, "spec": {}}, "1.35", schemas)
    assert "'selector' is a required property" in missing
    # Without the CRD in the stack, the kind is unknown, as before.
    (unknown,) = invalid_at({**monitor, "spec": {"selector": {}}}, "1.35", {})
    assert "Couldn't find schema" in unknown


def test_crd_files_read_an_equals_sign_as_text(tmp_path: Path) -> None:
    # prometheus-operator's CRDs list `=` among matcher operators; PyYAML's 1.1 value tag would refuse it.
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "crd.yaml").write_text("kind: CustomResourceDefinition\nops:\n  - =\n  - '!='\n")
    assert list(crd_files(tmp_path)) == [{"kind": "CustomResourceDefinition", "ops": ["=", "!="]}]
