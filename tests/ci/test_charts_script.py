""".ci/charts, CI's "charts" job: install the packages, pull the pinned charts, then check them with every stack.

The real pull needs the network; here `make` and the virtualenv's python are stand-ins on PATH and in a
fake VENV that record what the script asks of them, so the order and the stop on failure are real bash.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / ".ci" / "charts"
RECORDER = '#!/usr/bin/env bash\necho "$(basename "$0") $*" >> "$CALLS"\n'


def _run(tmp_path: Path, *args: str, failing_action: str = "") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    bin_dir.mkdir()
    (bin_dir / "make").write_text(RECORDER)
    python = RECORDER + (f'[ "$3" = "{failing_action}" ] && exit 3\nexit 0\n' if failing_action else "")
    (venv / "bin" / "python").write_text(python)
    for tool in (bin_dir / "make", venv / "bin" / "python"):
        tool.chmod(0o755)
    calls = tmp_path / "calls"
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "VENV": str(venv), "CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_it_installs_then_pulls_then_checks_the_same_directory(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    (charts / "stale-0.0.1").mkdir(parents=True)  # left by an earlier run: never checked in place of a pull
    done, calls = _run(tmp_path, str(charts))
    assert done.returncode == 0, done.stderr
    venv = tmp_path / "venv"
    assert calls == [
        f"make {venv}/.installed VENV={venv}",
        f"python -m harness.pinned_charts pull {charts}",
        f"python -m harness.pinned_charts check {charts}",
    ]
    assert not (charts / "stale-0.0.1").exists()


def test_a_failed_pull_fails_the_job_before_any_check(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, str(tmp_path / "charts"), failing_action="pull")
    assert done.returncode == 3
    assert not any(" check " in call for call in calls)


def test_ci_runs_it_in_its_own_read_only_job() -> None:
    ci = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text())
    job = ci["jobs"]["charts"]
    assert job["permissions"] == {"contents": "read"}
    assert [step.get("run") for step in job["steps"] if "run" in step] == [".ci/charts"]
    # Python packages come from the same install as everywhere else: requirements.txt through make.
    assert 'make "$venv/.installed"' in SCRIPT.read_text()
