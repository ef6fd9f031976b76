"""The repository's workflow files, parsed: what the workflow tests read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
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
