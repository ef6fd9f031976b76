"""The repository's workflow files, parsed: what the workflow tests read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.project_files import REPO_ROOT

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml"))


@dataclass(frozen=True)
class Workflow:
    """One workflow file: its path, raw text and parsed YAML (with `on` under its own name)."""

    path: Path
    text: str
    data: dict[str, Any]

    @property
    def name(self) -> str:
        """The file name, e.g. deploy.yml."""
        return self.path.name

    @property
    def triggers(self) -> dict[str, Any]:
        """The `on:` mapping (PyYAML reads a bare `on` key as the boolean True)."""
        value = self.data.get("on", self.data.get(True))
        return value if isinstance(value, dict) else {str(value): None}

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Job id → job."""
        return dict(self.data["jobs"])


def load_workflow(path: Path) -> Workflow:
    """Parse one workflow file."""
    text = path.read_text(encoding="utf-8")
    return Workflow(path=path, text=text, data=yaml.safe_load(text))


# `uses: owner/repo[/path]@ref  # comment` on a step or a job (a reusable workflow in another repository).
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<comment>.*)$")
_ANY_USES = re.compile(r"^\s*(?:-\s+)?uses:")
# GitHub's self-repository syntax (FACTS.md): this repository at the running commit, nothing to pin.
_THIS_REPOSITORY = re.compile(r"^\s*(?:-\s+)?uses:\s*(?:\$/|\./)")


@dataclass(frozen=True)
class ActionUse:
    """One `uses:` line naming code from another repository, as written: action, ref and trailing comment."""

    where: str
    """`<workflow file>:<line>`, for messages."""
    action: str
    ref: str
    comment: str
    """What follows the ref on the line, e.g. ` # v6.0.0`."""


def action_uses(workflow: Workflow) -> list[ActionUse]:
    """Every `uses:` line that runs another repository's code; a line this cannot read is an error."""
    found = []
    for number, line in enumerate(workflow.text.splitlines(), start=1):
        if not _ANY_USES.match(line) or _THIS_REPOSITORY.match(line):
            continue
        where = f"{workflow.name}:{number}"
        match = _USES.match(line)
        if not match:
            raise ValueError(f"{where}: cannot read {line.strip()!r} as owner/repo@ref")
        found.append(ActionUse(where=where, action=match["action"], ref=match["ref"], comment=match["comment"]))
    return found
