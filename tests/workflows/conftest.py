"""Fixtures for the workflow tests: every workflow under .github/workflows, parsed once per session."""

from __future__ import annotations

from typing import Any

import pytest

from harness.workflow_files import WORKFLOW_FILES, WORKFLOWS_DIR, Workflow, load_workflow


@pytest.fixture(scope="session")
def workflows() -> dict[str, Workflow]:
    """Every workflow, by file name."""
    assert WORKFLOW_FILES, f"no workflows in {WORKFLOWS_DIR}"
    return {path.name: load_workflow(path) for path in WORKFLOW_FILES}


@pytest.fixture(scope="session")
def deploy_stack(workflows: dict[str, Workflow]) -> dict[str, Any]:
    """The one job that deploys, verifies and rolls back (the reusable workflow's job)."""
    return workflows["deploy-stack.yml"].jobs["deploy"]
