"""CI's `engine` job: the pinned Pulumi engine runs the SmokeTest over this layout, with no cloud."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.workflow_files import REPO_ROOT, Workflow

SCRIPT = REPO_ROOT / ".ci" / "engine-check.sh"


@pytest.fixture
def engine(workflows: dict[str, Workflow]) -> dict[str, Any]:
    return workflows["ci.yml"].jobs["engine"]


def test_the_job_installs_what_the_deploy_jobs_install_then_runs_the_check(engine: dict[str, Any]) -> None:
    steps = engine["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    runs = [step.get("run") for step in steps]
    assert runs.index("make .venv/.installed") < runs.index(".ci/engine-check.sh")
    cli = uses.index("pulumi/actions")
    assert cli < runs.index(".ci/engine-check.sh")
    assert set(steps[cli]["with"]) == {"pulumi-version"}, "install only: the script drives the CLI"
    assert steps[uses.index("actions/setup-python")]["with"]["python-version"] == "3.11"


def test_the_job_needs_nothing_from_the_cloud(engine: dict[str, Any]) -> None:
    assert engine["permissions"] == {"contents": "read"}
    assert "needs" not in engine and "environment" not in engine
    text = str(engine)
    for reach in ("secrets.", "vars.", "aws-actions/", "cloud-url", "PULUMI_ACCESS_TOKEN"):
        assert reach not in text, reach


def test_without_the_cli_the_script_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with the coreutils the script uses before its check, and no pulumi (even where one is installed).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "mktemp", "rm"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "no pulumi CLI on PATH; install the version the workflows pin" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == [bin_dir], "the script must remove its temporary folder"
