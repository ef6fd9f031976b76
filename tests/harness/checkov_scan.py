"""checkov over what the cluster and the image builder receive: each stack's rendered objects and app/Dockerfile.

checkov lives in its own virtualenv (.venv-checkov, `make checkov-venv`): it pins older versions of
packages this project uses. It runs offline: BC_SKIP_MAPPING and CKV_SKIP_PACKAGE_UPDATE_CHECK stop its
calls home, --skip-download stops it fetching policies. Accepted findings are listed, with reasons, in
.ci/checkov-skips.yaml.

`python -m harness.checkov_scan [DIR]` (what `make checkov` runs) renders into DIR (default
build/checkov) and prints checkov's own report, skips applied; exit status non-zero on any finding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.contract import render
from harness.project_files import REPO_ROOT, stack_names
from harness.stack_settings import stack_settings

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS_FILE = REPO_ROOT / ".ci" / "checkov-skips.yaml"
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
FRAMEWORKS = ("kubernetes", "dockerfile")
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
TIMEOUT = 300


class CheckovMissingError(Exception):
    """The checkov virtualenv has not been created."""


@dataclass(frozen=True)
class Skip:
    """One accepted finding and why."""

    check: str
    framework: str
    file: str
    reason: str


@dataclass(frozen=True)
class Finding:
    """One failed check on one resource."""

    check: str
    framework: str
    name: str
    resource: str
    file: str


def checkov_binary() -> Path:
    """The checkov executable in .venv-checkov, or a clear error saying how to install it."""
    if not os.access(CHECKOV, os.X_OK):
        raise CheckovMissingError(
            f"checkov is not installed at {CHECKOV}: run `make checkov-venv` (its own virtualenv)"
        )
    return CHECKOV


def load_skips() -> list[Skip]:
    """The accepted findings of .ci/checkov-skips.yaml; each must name its check, framework, file and reason."""
    entries = (yaml.safe_load(SKIPS_FILE.read_text()) or {}).get("skips") or []
    skips = []
    for entry in entries:
        missing = [key for key in ("check", "framework", "file", "reason") if not str(entry.get(key, "")).strip()]
        if missing:
            raise ValueError(f"{SKIPS_FILE.name}: skip {entry!r} lacks {', '.join(missing)}")
        skips.append(Skip(**{key: str(entry[key]).strip() for key in ("check", "framework", "file", "reason")}))
    return skips


def write_inputs(directory: Path) -> dict[str, str]:
    """Each stack's objects as `<stack>.yaml` and a copy of app/Dockerfile; returns scanned name → repository path."""
    directory.mkdir(parents=True, exist_ok=True)
    origins = {}
    for stack in stack_names():
        path = directory / f"{stack}.yaml"
        path.write_text(yaml.safe_dump_all(render(stack_settings(stack).app).all(), sort_keys=False))
        origins[f"/{path.name}"] = f"Pulumi.{stack}.yaml (rendered)"
    shutil.copyfile(DOCKERFILE, directory / "Dockerfile")
    origins["/Dockerfile"] = "app/Dockerfile"
    return origins


def run_checkov(directory: Path, *extra: str, json_output: bool = True) -> subprocess.CompletedProcess[str]:
    """checkov over `directory`, offline, for the kubernetes and dockerfile frameworks."""
    command = [str(checkov_binary()), "--skip-download", "--framework", *FRAMEWORKS, "-d", str(directory), *extra]
    if json_output:
        command += ["-o", "json", "--quiet"]
    return subprocess.run(
        command,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=json_output,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def findings(directory: Path) -> tuple[list[Finding], dict[str, dict[str, Any]]]:
    """Every failed check over `directory` (no skips applied), and checkov's summary per framework."""
    done = run_checkov(directory)
    try:
        reports = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov gave no JSON report (exit {done.returncode}):\n{done.stderr[-3000:]}") from None
    reports = reports if isinstance(reports, list) else [reports]
    found = []
    summaries = {}
    for report in reports:
        framework = report.get("check_type", "?")
        summaries[framework] = report.get("summary", {})
        for failed in report.get("results", {}).get("failed_checks", []):
            found.append(
                Finding(
                    check=failed["check_id"],
                    framework=framework,
                    name=failed.get("check_name", ""),
                    resource=failed.get("resource", ""),
                    file=failed.get("file_path", ""),
                )
            )
    return found, summaries


def main(argv: list[str] | None = None) -> int:
    """Render every stack and app/Dockerfile into a directory and print checkov's report, skips applied."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else REPO_ROOT / "build" / "checkov"
    try:
        checkov_binary()
    except CheckovMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_inputs(directory)
    skipped = ",".join(sorted({skip.check for skip in load_skips()}))
    print(f"checkov over {directory} (stacks {', '.join(stack_names())} and app/Dockerfile); skipped: {skipped}")
    print(f"reasons: {SKIPS_FILE.relative_to(REPO_ROOT)}", flush=True)
    return run_checkov(directory, "--compact", "--quiet", "--skip-check", skipped, json_output=False).returncode


if __name__ == "__main__":
    sys.exit(main())
