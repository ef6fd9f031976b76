"""CI's `gateway-api` job: the program's Gateway API objects against the pinned release's downloaded CRDs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.contract.routers.gateway_api import GATEWAY_API_VERSION
from harness.workflow_files import REPO_ROOT, Workflow

SCRIPT = REPO_ROOT / ".ci" / "gateway-api-crds"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


@pytest.fixture
def job(workflows: dict[str, Workflow]) -> dict[str, Any]:
    return workflows["ci.yml"].jobs["gateway-api"]


def test_the_job_installs_the_lock_then_runs_the_script(job: dict[str, Any]) -> None:
    runs = [step.get("run") for step in job["steps"]]
    assert runs.index("make .venv/.installed") < runs.index(".ci/gateway-api-crds")
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert job["steps"][uses.index("actions/setup-python")]["with"]["python-version"] == "3.11"


def test_the_job_reads_only_the_repository(job: dict[str, Any]) -> None:
    assert job["permissions"] == {"contents": "read"}
    assert "needs" not in job and "environment" not in job
    for step in job["steps"]:
        assert "${{" not in step.get("run", ""), step  # no expression expanded into a shell
    text = str(job)
    for reach in ("secrets.", "vars.", "aws-actions/"):
        assert reach not in text, reach


def test_the_script_is_shellcheck_clean() -> None:
    result = subprocess.run([str(SHELLCHECK), str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout


def _run(tmp_path: Path, curl_body: str, venv: str = ".venv") -> subprocess.CompletedProcess[str]:
    """The script with a stand-in `curl` (first on PATH) that logs its arguments and writes `--output`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    curl = bin_dir / "curl"
    curl.write_text(f'#!/bin/bash\necho "$@" > {tmp_path}/curl-args\n{curl_body}\n')
    curl.chmod(0o755)
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "VENV": venv},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_script_downloads_the_programs_pinned_release(tmp_path: Path) -> None:
    # An install file with no CRD in it: the download is used, and nothing validates against nothing.
    no_crds = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    body = f'while [ $# -gt 0 ]; do if [ "$1" = --output ]; then printf %s "{no_crds}" > "$2"; fi; shift; done'
    result = _run(tmp_path, body)
    args = (tmp_path / "curl-args").read_text()
    release = f"/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
    assert release in args and "--fail" in args
    assert result.returncode == 1
    assert "no CustomResourceDefinition in" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "curl-args"], "the script removes its download"


def test_a_failed_download_fails_the_job(tmp_path: Path) -> None:
    result = _run(tmp_path, "exit 22")
    assert result.returncode == 22


def test_without_the_packages_the_script_says_what_to_run(tmp_path: Path) -> None:
    result = _run(tmp_path, "exit 0", venv=os.fspath(tmp_path / "missing"))
    assert result.returncode == 1
    assert "run `make" in result.stderr and ".installed` first" in result.stderr
