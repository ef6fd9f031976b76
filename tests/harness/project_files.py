"""The repository's Pulumi project as the tests read it: its root, its name, its stacks and their config.

The stacks are the stack files (Pulumi.<stack>.yaml) beside Pulumi.yaml: a new file is a new stack to
every test that asks `stack_names()`, and no test or workflow keeps a list of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"


def _project() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    return loaded


PROJECT: str = _project()["name"]
"""The Pulumi project's name, the namespace of its config keys."""


def stack_names(root: Path = REPO_ROOT) -> tuple[str, ...]:
    """Every stack the project defines, one per Pulumi.<stack>.yaml beside Pulumi.yaml, sorted by name."""
    return tuple(sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in root.glob("Pulumi.*.yaml")))


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then `overrides` (None deletes a key); full keys."""
    values: dict[str, Any] = {}
    for key, declaration in (_project().get("config") or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(declaration, dict) and "default" in declaration:
            values[full] = declaration["default"]
        elif isinstance(declaration, dict) and "value" in declaration:
            values[full] = declaration["value"]
        elif not isinstance(declaration, dict):
            values[full] = declaration
    stack_file = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")) or {}
    values.update(stack_file.get("config") or {})
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    return values


def as_config_strings(values: Mapping[str, Any]) -> dict[str, str]:
    """What the engine hands a program: strings, with lists and maps as JSON and booleans lower-case."""
    out = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out
