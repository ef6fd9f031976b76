"""The program and every dynamic provider find the same Python environment under the real engine's rules.

The rules come from the engine's source (tests/harness/pulumi_engine.py); the first tests check each rule
against the cases its source distinguishes, the last ones apply them to the real Pulumi.yaml and files.
"""

from __future__ import annotations

import posixpath
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.project_files import REPO_ROOT as ROOT
from harness.pulumi_engine import (
    Launch,
    MainNotFoundError,
    ProgramLocation,
    get_pwd_main,
    launch_dynamic_provider,
    load_project,
    missing_config_keys,
    program_virtualenv,
    provider_environment,
)

HOST = ("-u", "-m", "pulumi.dynamic")

# A made-up tree: what is a folder (True) and what a file (False); anything else is missing.
TREE = {
    "/p": True,
    "/p/stacks": True,
    "/p/stacks/__main__.py": False,
    "/p/__main__.py": False,
    "/elsewhere/program": True,
    "/elsewhere/program/main.py": False,
}


@pytest.mark.parametrize(
    ("main", "pwd", "entry_point"),
    [
        ("", "/p", "."),  # no `main`: the project root, its __main__.py
        ("stacks/", "/p/stacks", "."),  # a folder: the program AND every plugin run inside it
        ("stacks", "/p/stacks", "."),
        ("./stacks/../stacks/", "/p/stacks", "."),  # relative paths are joined to the root and cleaned
        ("stacks/__main__.py", "/p/stacks", "__main__.py"),  # a file: its folder, not the root
        ("__main__.py", "/p", "__main__.py"),  # only a file at the top keeps the root
        ("/elsewhere/program", "/elsewhere/program", "."),  # absolute: used as written
        ("/elsewhere/program/main.py", "/elsewhere/program", "main.py"),
    ],
)
def test_get_pwd_main_places_the_program_as_the_engine_does(main: str, pwd: str, entry_point: str) -> None:
    assert get_pwd_main("/p", main, TREE.get) == ProgramLocation(pwd=pwd, entry_point=entry_point)


def test_a_main_that_names_nothing_stops_the_engine() -> None:
    with pytest.raises(MainNotFoundError, match=r"project 'main' could not be read: /p/src"):
        get_pwd_main("/p", "src/", TREE.get)


@pytest.mark.parametrize(
    ("virtualenv", "resolved"),
    [(".venv", "/p/.venv"), ("./.venv/", "/p/.venv"), ("../shared/venv", "/shared/venv"), ("/opt/venv", "/opt/venv")],
)
def test_the_program_resolves_its_virtualenv_against_the_project_root(virtualenv: str, resolved: str) -> None:
    assert program_virtualenv("/p", virtualenv) == resolved
    assert program_virtualenv("/p", "") == "", "no option: whichever python is on PATH"


def test_runtime_options_reach_providers_as_environment_variables() -> None:
    options = {"toolchain": "pip", "virtualenv": ".venv", "typecheck": True}
    assert provider_environment(options) == {
        "PULUMI_RUNTIME_TOOLCHAIN": "pip",
        "PULUMI_RUNTIME_VIRTUALENV": ".venv",
        "PULUMI_RUNTIME_TYPECHECK": "true",
    }


VENVS = {"/p/stacks/.venv": "venv", "/p/.venv": "venv", "/opt/venv": "venv", "/p/stacks/empty": "folder"}


def _is_file(path: str) -> bool:
    return path.endswith("/bin/python") and VENVS.get(posixpath.dirname(posixpath.dirname(path))) == "venv"


def _is_dir(path: str) -> bool:
    return path in VENVS


@pytest.mark.parametrize(
    ("env", "launch"),
    [
        # Relative: against the plugin's working directory, not the project root (pulumi/pulumi#7061).
        ({"PULUMI_RUNTIME_VIRTUALENV": ".venv"}, Launch(("/p/stacks/.venv/bin/python", *HOST), "/p/stacks/.venv/bin")),
        ({"PULUMI_RUNTIME_VIRTUALENV": ".venv/"}, Launch(("/p/stacks/.venv/bin/python", *HOST), "/p/stacks/.venv/bin")),
        ({"PULUMI_RUNTIME_VIRTUALENV": "/opt/venv"}, Launch(("/opt/venv/bin/python", *HOST), "/opt/venv/bin")),
        ({"PULUMI_RUNTIME_TOOLCHAIN": "uv"}, Launch(("/p/stacks/.venv/bin/python", *HOST), "/p/stacks/.venv/bin")),
        ({"PULUMI_RUNTIME_TOOLCHAIN": "pip"}, Launch(("python3", *HOST))),
        ({"PULUMI_PYTHON_CMD": "python3.11"}, Launch(("python3.11", *HOST))),
        (
            {"PULUMI_RUNTIME_VIRTUALENV": "venv"},
            Launch(refusal="The 'virtualenv' option in Pulumi.yaml is set to \"/p/stacks/venv\", "
                   "but \"/p/stacks/venv\" doesn't exist."),
        ),
        (
            {"PULUMI_RUNTIME_VIRTUALENV": "empty"},
            Launch(refusal="The 'virtualenv' option in Pulumi.yaml is set to \"/p/stacks/empty\", "
                   "but \"/p/stacks/empty\" doesn't appear to be a virtual environment."),
        ),
    ],
)  # fmt: skip
def test_the_dynamic_provider_launcher_picks_its_python_in_the_plugin_directory(
    env: dict[str, str], launch: Launch
) -> None:
    assert launch_dynamic_provider("/p/stacks", env, _is_file, _is_dir) == launch


@pytest.mark.parametrize(
    ("declared", "stack_config", "missing"),
    [
        # pkg/workspace/config_project_test.go: an array without a default and an empty stack is refused.
        ({"values": {"type": "array", "items": {"type": "string"}}}, {}, ["values"]),
        ({"values": {"type": "array", "items": {"type": "string"}}}, {"p:values": "[]"}, []),
        ({"another": {"type": "string"}, "values": {"type": "string"}}, {}, ["another", "values"]),
        ({"name": {"type": "string", "default": ""}}, {}, []),  # an empty default is a default
        ({"name": {"type": "string", "default": None}}, {}, ["name"]),  # a null one is not
        ({"p:name": {"type": "integer"}}, {}, ["p:name"]),
        ({"aws:region": {"value": "eu-west-1"}}, {}, []),  # another namespace holds values, never requirements
    ],
)
def test_a_declared_key_without_a_default_must_be_set_by_every_stack(
    declared: dict[str, object], stack_config: dict[str, str], missing: list[str]
) -> None:
    assert missing_config_keys("p", declared, stack_config) == missing


@pytest.mark.parametrize("stack", ["int", "stg", "prd"])
def test_each_committed_stack_starts_under_the_cli_with_nothing_passed(stack: str) -> None:
    # A platform-phase up passes no -c at all, a rolling release only imageTag and imageDigest: every other
    # declared key (canaryWeight too, set only by the canary driver) needs a default or the CLI refuses the stack.
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    stack_file = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    assert missing_config_keys(project["name"], project["config"], stack_file["config"]) == []


# ---------------------------------------------------------------- the real project


def test_the_program_and_every_dynamic_provider_run_in_the_projects_virtualenv() -> None:
    project = load_project(ROOT)
    assert project.location == ProgramLocation(pwd=str(ROOT / "stacks"), entry_point="."), "the layout moved"
    program_venv = Path(project.program_virtualenv)
    assert program_venv == ROOT / ".venv", "the program's venv is .venv at the project root (README, Makefile)"
    launch = project.provider_launch()
    # On a layout without stacks/.venv this fails with the launcher's own message ("… doesn't exist").
    assert launch.starts, launch.refusal
    provider_venv = Path(launch.bin_dir).parent
    assert provider_venv.resolve() == program_venv.resolve(), (
        f"dynamic providers would run in {provider_venv.resolve()}, the program in {program_venv.resolve()}"
    )


def test_the_providers_python_is_the_projects_environment_with_the_sdk() -> None:
    # The same interpreter prefix and packages the program imports: pulumi and dill unpickle the
    # provider, requests is what app.smoke talks HTTP with.
    project = load_project(ROOT)
    launch = project.provider_launch()
    assert launch.starts, launch.refusal
    probe = "import sys, pulumi, dill, grpc, requests; print(sys.prefix)"
    answer = subprocess.run(
        [launch.command[0], "-c", probe], cwd=project.location.pwd, capture_output=True, text=True, check=False
    )
    assert answer.returncode == 0, answer.stderr
    assert Path(answer.stdout.strip()).resolve() == (ROOT / ".venv").resolve()
