"""Every object each stack deploys, validated as its cluster would: the Kubernetes OpenAPI schema, strictly.

kubernetes-validate ships the schemas of every Kubernetes release it supports, so this runs offline.
`--strict` refuses unknown fields — a misspelt field the API server would silently drop (a probe that
never runs, a preStop that never sleeps) fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from app.contract import render
from stacks.settings import StackSettings


def schema_version(stack: StackSettings) -> str:
    """The stack's EKS version as kubernetes-validate names its schemas: `1.35` → `1.35.0`."""
    return f"{stack.cluster.version}.0" if stack.cluster.version.count(".") == 1 else stack.cluster.version


def test_every_object_matches_the_clusters_schema_strictly(stack: StackSettings) -> None:
    version = schema_version(stack)
    assert version in all_versions(), f"no bundled schema for Kubernetes {version}: upgrade kubernetes-validate"
    for manifest in render(stack.app).all():
        validated = kubernetes_validate.validate(manifest, version, strict=True)
        assert validated == stack.cluster.version


def test_the_command_line_validator_agrees(stack: StackSettings, tmp_path: Path) -> None:
    """The same check as a person runs it: `kubernetes-validate --strict -k <version> file.yaml`."""
    rendered = tmp_path / f"{stack.stack}.yaml"
    rendered.write_text(yaml.safe_dump_all(render(stack.app).all(), sort_keys=False))
    validator = str(Path(sys.executable).parent / "kubernetes-validate")
    done = subprocess.run(
        [validator, "--strict", "--quiet", "-k", schema_version(stack), str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_strict_validation_catches_a_misspelt_field(stack: StackSettings) -> None:
    deployment = render(stack.app).deployment
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["lifecycle"] = {"preStop": {"sleep": {"second": 10}}}  # "seconds": the kubelet would never sleep
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, schema_version(stack), strict=True)
