"""The repository is one installed package: every process imports the work tree the same way, with no path edits.

`make setup` installs it editable (pyproject.toml), so pytest, the local environment's processes, the
Pulumi program and the dynamic provider's host all import app, infra, stacks, localenv and the tests'
harness from here. Test modules share code only through the harness and conftest.py files.
"""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.project_files import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = PYPROJECT["tool"]["setuptools"]["packages"]
TOP_LEVEL = sorted({name.split(".")[0] for name in PACKAGES})
FOLDERS = ("app", "infra", "stacks", "localenv", "tests")
SOURCES = sorted(path for folder in FOLDERS for path in (REPO_ROOT / folder).rglob("*.py"))


def test_the_packages_are_the_top_level_folders_and_the_harness() -> None:
    assert TOP_LEVEL == ["app", "harness", "infra", "localenv", "stacks"]
    package_dir = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for name in PACKAGES:
        folder = REPO_ROOT / package_dir.get(name.split(".")[0], name.split(".")[0]) / Path(*name.split(".")[1:])
        assert (folder / "__init__.py").is_file(), f"{name} is not a package at {folder}"


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_each_package_imports_from_this_work_tree(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is not installed: run `make setup`"
    assert Path(spec.origin).resolve().is_relative_to(REPO_ROOT.resolve()), f"{name} comes from {spec.origin}"


def _path_edits(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
            yield node.lineno


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _test_modules(names: Iterator[str]) -> list[str]:
    return [
        name for name in names if name.split(".")[0] == "tests" or name.split(".")[-1].startswith(("test_", "conftest"))
    ]


def test_no_module_edits_sys_path_or_imports_a_test_module() -> None:
    problems = []
    for source in SOURCES:
        tree = ast.parse(source.read_text(encoding="utf-8"))
        where = source.relative_to(REPO_ROOT)
        problems += [f"{where}:{line} touches sys.path: import what is installed" for line in _path_edits(tree)]
        problems += [
            f"{where} imports {name}: share through tests/harness or conftest" for name in _test_modules(_imports(tree))
        ]
    assert SOURCES and problems == []


def test_the_check_sees_a_path_edit_and_a_test_import() -> None:
    tree = ast.parse("import sys\nsys.path.insert(0, '..')\nfrom tests.infra.conftest import Graph\nimport test_cli\n")
    assert list(_path_edits(tree)) == [2]
    assert _test_modules(_imports(tree)) == ["tests.infra.conftest", "test_cli"]
