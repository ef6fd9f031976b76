"""The CI check against the release's CRDs (gateway_api_crds.py), offline: the objects it checks and its validator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.gateway_api_crds import crd_schemas, main, program_objects, validation_errors
from harness.gateway_api_schema import problems

# pulumi_aws warns about its own deprecated type whenever the program loads it (as in tests/infra/conftest.py).
pytestmark = pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning")

# A made-up CRD in the shape of the real ones (a structural openAPIV3Schema per version), written for this test.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "example.org",
        "names": {"kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "properties": {"mode": {"type": "string", "enum": ["On", "Off"]}},
                            },
                        },
                    }
                },
            },
            {"name": "v1beta1", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
        ],
    },
}
POLICY = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "spec": {}}


def widget(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "example.org/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": spec,
    }


def test_only_served_versions_of_crds_count() -> None:
    assert set(crd_schemas([WIDGET_CRD, POLICY, None])) == {("example.org/v1", "Widget")}


def test_the_validator_refuses_what_the_crd_refuses_and_unknown_fields() -> None:
    schemas = crd_schemas([WIDGET_CRD])
    assert validation_errors(widget({"mode": "On"}), schemas) == []
    assert any("'Maybe' is not one of" in e for e in validation_errors(widget({"mode": "Maybe"}), schemas))
    assert any("'colour' was unexpected" in e for e in validation_errors(widget({"colour": "red"}), schemas))
    missing = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("'spec' is a required property" in e for e in validation_errors(missing, schemas))
    assert validation_errors({"apiVersion": "example.org/v2", "kind": "Widget"}, schemas) == [
        "no CRD serves example.org/v2 Widget in the standard channel"
    ]


def test_the_programs_gateway_api_objects_pass_the_offline_rules() -> None:
    objects = list(program_objects(("prd",)))
    kinds = sorted({m["kind"] for _, m in objects})
    assert kinds == ["Gateway", "GatewayClass", "HTTPRoute"]
    assert any("canary step: HTTPRoute" in label for label, _ in objects)
    for label, manifest in objects:
        assert problems(manifest) == [], label


def test_an_install_file_without_crds_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install = tmp_path / "standard-install.yaml"
    install.write_text(yaml.safe_dump(POLICY))
    assert main([str(install)]) == 1
    assert "no CustomResourceDefinition in" in capsys.readouterr().err
