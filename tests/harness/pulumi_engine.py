"""Where the Pulumi engine runs the program and its dynamic providers, and which Python each one gets.

No Pulumi CLI runs here, so the engine's rules are restated from its source, each function beside the
file it mirrors (pulumi/pulumi v3.259.0; the same at the newest stored snapshot, 3.260.0-dev), and
applied to the real Pulumi.yaml and the real files by tests/infra/test_pulumi_engine.py. The CI job
`engine` (.ci/engine-check.sh) runs the real engine over the same layout.

    location = get_pwd_main(root, "stacks/", is_dir)  # ProgramLocation(pwd=<root>/stacks, entry_point=".")
    launch = launch_dynamic_provider(location.pwd, provider_environment(options), is_file, is_dir)

The decisions are pure (the filesystem is asked through the predicates passed in); starting a host
process and talking to it over gRPC are `start_dynamic_provider_host` and `DynamicProviderHost`.
"""

from __future__ import annotations

import os
import posixpath
import select
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import json_format, struct_pb2

HOST_MODULE = "pulumi.dynamic"
"""What the launcher runs: `python -u -m pulumi.dynamic` (sdk/python/dist/pulumi-resource-pulumi-python)."""
HOST_START_TIMEOUT = 30.0
"""Seconds for the host to import the SDK and print its port."""


class MainNotFoundError(Exception):
    """Pulumi.yaml's `main` names nothing on disk; the engine stops before running anything."""


@dataclass(frozen=True)
class ProgramLocation:
    """Where the engine runs a project: the working directory, and what the language host runs there."""

    pwd: str
    """Working directory of the program and of every plugin the engine starts for it."""
    entry_point: str
    """Passed to the language host: "." is the folder's __main__.py, otherwise a file name."""


def get_pwd_main(root: str, main: str, is_dir: Callable[[str], bool | None]) -> ProgramLocation:
    """pkg/engine/project.go getPwdMain: `main` unset → the root; a folder → that folder; a file → its folder.

    `is_dir(path)` answers True for a folder, False for a file, None when nothing is there. A relative
    `main` is joined to the root and cleaned; an absolute one is used as written.
    """
    if main == "":
        return ProgramLocation(pwd=root, entry_point=".")
    path = main if posixpath.isabs(main) else posixpath.normpath(posixpath.join(posixpath.normpath(root), main))
    kind = is_dir(path)
    if kind is None:
        raise MainNotFoundError(f"project 'main' could not be read: {path}")
    if kind:
        return ProgramLocation(pwd=path, entry_point=".")
    return ProgramLocation(pwd=posixpath.dirname(path), entry_point=posixpath.basename(path))


def program_virtualenv(root: str, virtualenv: str) -> str:
    """sdk/python/toolchain/pip.go resolveVirtualEnvironmentPath: the program's venv, against the project root.

    Empty: no venv (the language host runs whichever python is on PATH).
    """
    if virtualenv == "":
        return ""
    return virtualenv if posixpath.isabs(virtualenv) else posixpath.normpath(posixpath.join(root, virtualenv))


def provider_environment(runtime_options: Mapping[str, Any]) -> dict[str, str]:
    """sdk/go/common/resource/plugin/provider_plugin.go: each runtime option as PULUMI_RUNTIME_<OPTION> (`%v`)."""

    def as_go_value(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return {f"PULUMI_RUNTIME_{key.upper()}": as_go_value(value) for key, value in runtime_options.items()}


@dataclass(frozen=True)
class Launch:
    """What the dynamic-provider launcher does: exec `command`, or print `refusal` and exit 1."""

    command: tuple[str, ...] = ()
    """The host's argv before the engine's arguments; empty when the launcher refuses."""
    bin_dir: str = ""
    """Put first on PATH (the venv's bin), or empty."""
    refusal: str = ""
    """The launcher's first stderr line when it exits 1."""

    @property
    def starts(self) -> bool:
        """Whether a provider host process starts at all."""
        return bool(self.command)


def launch_dynamic_provider(
    pwd: str, env: Mapping[str, str], is_file: Callable[[str], bool], is_dir: Callable[[str], bool]
) -> Launch:
    """sdk/python/dist/pulumi-resource-pulumi-python, started by the engine with `pwd` as its working directory.

    A relative virtualenv is made absolute against $PWD — the plugin's working directory, not the
    project root (pulumi/pulumi#7061). `is_file`/`is_dir` are the shell's `[ -f ]`/`[ -d ]`.
    """
    virtualenv = env.get("PULUMI_RUNTIME_VIRTUALENV", "")
    if virtualenv == "":
        toolchain = env.get("PULUMI_RUNTIME_TOOLCHAIN", "")
        if toolchain == "uv":
            virtualenv = ".venv"
        elif toolchain == "poetry":
            raise NotImplementedError("the launcher asks `poetry env info --path`; this project uses pip")
    if virtualenv == "":
        return Launch(command=(env.get("PULUMI_PYTHON_CMD") or "python3", "-u", "-m", HOST_MODULE))
    virtualenv = virtualenv.removesuffix("/")
    if not virtualenv.startswith("/"):
        virtualenv = f"{pwd}/{virtualenv}"
    python = f"{virtualenv}/bin/python"
    if is_file(python):
        return Launch(command=(python, "-u", "-m", HOST_MODULE), bin_dir=f"{virtualenv}/bin")
    problem = "doesn't appear to be a virtual environment" if is_dir(virtualenv) else "doesn't exist"
    return Launch(
        refusal=f'The \'virtualenv\' option in Pulumi.yaml is set to "{virtualenv}", but "{virtualenv}" {problem}.'
    )


# ---------------------------------------------------------------- the config a stack must hold before anything runs


def missing_config_keys(project_name: str, declared: Mapping[str, Any], stack_config: Mapping[str, Any]) -> list[str]:
    """pkg/workspace/config.go mergeConfig: the Pulumi.yaml keys a stack must set, or `pulumi up` stops at once.

    A declaration of the project's namespace (`key` or `<project>:key`) with neither a non-null `default`
    nor a `value` is required: without --skip-config-validation the CLI refuses the stack with "Stack '<stack>'
    is missing configuration value(s) …" before the program starts. `stack_config` holds full keys.
    """
    missing = []
    for key, declaration in sorted(declared.items()):
        full = key if ":" in key else f"{project_name}:{key}"
        given = isinstance(declaration, Mapping) and any(declaration.get(k) is not None for k in ("default", "value"))
        if full.split(":", 1)[0] == project_name and full not in stack_config and not given:
            missing.append(key)
    return missing


# ---------------------------------------------------------------- the real project


@dataclass(frozen=True)
class Project:
    """A Pulumi project on disk, resolved as the engine resolves it."""

    root: Path
    location: ProgramLocation
    runtime_options: dict[str, Any]

    @property
    def program_virtualenv(self) -> str:
        """The venv the language host runs the program in."""
        return program_virtualenv(str(self.root), str(self.runtime_options.get("virtualenv", "")))

    def provider_launch(self) -> Launch:
        """What the dynamic-provider launcher does in this project."""
        return launch_dynamic_provider(
            self.location.pwd, provider_environment(self.runtime_options), os.path.isfile, os.path.isdir
        )


def _is_dir(path: str) -> bool | None:
    return Path(path).is_dir() if Path(path).exists() else None


def load_project(root: Path) -> Project:
    """Read `root`/Pulumi.yaml's `main` and `runtime.options` and place the program as the engine would."""
    data = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    runtime = data.get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    return Project(
        root=root, location=get_pwd_main(str(root), str(data.get("main") or ""), _is_dir), runtime_options=options
    )


# ---------------------------------------------------------------- the host, started as the engine starts it


class DynamicProviderHost:
    """A running `python -m pulumi.dynamic`, spoken to over gRPC the way the engine does."""

    def __init__(self, channel: grpc.Channel) -> None:
        from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

        self._proto = provider_pb2
        self._stub = provider_pb2_grpc.ResourceProviderStub(channel)

    def configure(self) -> None:
        """The engine configures the default provider once, before any resource call."""
        self._stub.Configure(self._proto.ConfigureRequest(args=struct_pb2.Struct()))

    def check(self, urn: str, news: dict[str, Any]) -> dict[str, Any]:
        """Validate inputs (preview and up both start here); returns the checked inputs."""
        response = self._stub.Check(self._proto.CheckRequest(urn=urn, olds=_struct({}), news=_struct(news)))
        return _plain(response.inputs)

    def create(self, urn: str, properties: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Create the resource; returns its id and outputs."""
        response = self._stub.Create(self._proto.CreateRequest(urn=urn, properties=_struct(properties)))
        return response.id, _plain(response.properties)

    def diff(self, urn: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        """Whether the provider sees a change (DIFF_SOME)."""
        response = self._stub.Diff(self._proto.DiffRequest(id=id_, urn=urn, olds=_struct(olds), news=_struct(news)))
        return bool(response.changes == self._proto.DiffResponse.DIFF_SOME)

    def update(self, urn: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """Update the resource; returns its outputs."""
        response = self._stub.Update(self._proto.UpdateRequest(id=id_, urn=urn, olds=_struct(olds), news=_struct(news)))
        return _plain(response.properties)

    def delete(self, urn: str, id_: str, properties: dict[str, Any]) -> None:
        """Delete the resource (`pulumi destroy`), with the provider stored in its state."""
        self._stub.Delete(self._proto.DeleteRequest(id=id_, urn=urn, properties=_struct(properties)))


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


@contextmanager
def start_dynamic_provider_host(
    launch: Launch, pwd: str, env: Mapping[str, str], engine_address: str = "127.0.0.1:0"
) -> Iterator[DynamicProviderHost]:
    """Exec what the launcher would, in `pwd`; read the port it prints; yield a client; stop it on exit.

    The launcher prepends the venv's bin to PATH and unsets PYTHONHOME; the engine appends its own
    address to the argv (the host ignores it) and reads the port from the host's first stdout line.
    """
    if not launch.starts:
        raise RuntimeError(f"the launcher would exit 1: {launch.refusal}")
    environment = {k: v for k, v in env.items() if k != "PYTHONHOME"}
    if launch.bin_dir:
        environment["PATH"] = f"{launch.bin_dir}:{environment.get('PATH', '')}"
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [*launch.command, engine_address], cwd=pwd, env=environment, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            port = _read_port(process, stderr)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield DynamicProviderHost(channel)
        finally:
            process.kill()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


def _read_port(process: subprocess.Popen[bytes], stderr: Any) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + HOST_START_TIMEOUT
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
    if not line.strip().isdigit():
        process.kill()
        process.wait(timeout=10)
        stderr.seek(0)
        raise RuntimeError(f"the provider host printed no port (stdout {line!r}):\n{stderr.read().decode()}")
    return int(line)
