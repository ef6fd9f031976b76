"""Every shell script CI runs (.ci/) passes shellcheck and can be run as it is named in the workflows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    path
    for path in (REPO_ROOT / ".ci").iterdir()
    if path.is_file() and path.read_bytes()[:2] == b"#!" and b"sh" in path.read_bytes().split(b"\n", 1)[0]
)


def test_ci_has_its_shell_scripts() -> None:
    assert {path.name for path in SCRIPTS} >= {
        "run",
        "system-packages.sh",
        "charts",
        "engine-check.sh",
        "policy-pack.sh",
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_script_passes_shellcheck(script: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"  # from its wheel in requirements.txt
    if not shellcheck.is_file():
        pytest.fail(f"{shellcheck} is not installed; run `make setup`.")
    result = subprocess.run([str(shellcheck), str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout
    assert os.access(script, os.X_OK), f"{script.name} is not executable: `chmod +x .ci/{script.name}`"
