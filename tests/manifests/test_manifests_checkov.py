"""checkov finds nothing in what we deploy and build, except the findings accepted with a reason.

One checkov run covers every stack's rendered objects, app/Dockerfile and a negative control (a
deliberately unsafe Deployment): if checkov stopped seeing problems, the control would pass too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.contract import render
from harness import checkov_scan
from harness.checkov_scan import (
    SKIPS_FILE,
    CheckovMissingError,
    Finding,
    checkov_binary,
    findings,
    load_skips,
    write_inputs,
)
from harness.stack_settings import stack_settings

NEGATIVE_CONTROL = "negative-control.yaml"


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Finding], dict[str, Any]]]:
    try:
        checkov_binary()
    except CheckovMissingError as error:
        pytest.fail(str(error), pytrace=False)
    directory = tmp_path_factory.mktemp("checkov")
    write_inputs(directory)
    (directory / NEGATIVE_CONTROL).write_text(yaml.safe_dump(unsafe_deployment(), sort_keys=False))
    yield findings(directory)


def unsafe_deployment() -> dict[str, Any]:
    """The int Deployment with the hardening taken out: privileged, root, a mutable tag."""
    deployment = copy.deepcopy(render(stack_settings("int").app).deployment)
    deployment["metadata"]["name"] = "negative-control"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "example-app:latest"
    container["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": True}
    del deployment["spec"]["template"]["spec"]["securityContext"]
    return deployment


def test_checkov_still_sees_an_unsafe_deployment(scan: tuple[list[Finding], dict[str, Any]]) -> None:
    found, _ = scan
    control = {f.check for f in found if f.file.endswith(NEGATIVE_CONTROL)}
    # privileged container, privilege escalation, image tag `latest`
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_14"} <= control, sorted(control)


def test_everything_checkov_flags_is_an_accepted_skip(scan: tuple[list[Finding], dict[str, Any]]) -> None:
    found, summaries = scan
    assert set(summaries) == {"kubernetes", "dockerfile"}
    assert summaries["kubernetes"]["resource_count"] >= 7 * 3, summaries
    assert summaries["kubernetes"]["parsing_errors"] == 0 and summaries["dockerfile"]["parsing_errors"] == 0
    accepted = {(skip.framework, skip.check) for skip in load_skips()}
    real = [f for f in found if not f.file.endswith(NEGATIVE_CONTROL)]
    unexpected = sorted(
        f"{f.check} {f.name} on {f.resource} ({f.file})" for f in real if (f.framework, f.check) not in accepted
    )
    assert not unexpected, f"fix these or list each in {SKIPS_FILE.name} with its reason:\n" + "\n".join(unexpected)


def test_every_skip_still_matters(scan: tuple[list[Finding], dict[str, Any]]) -> None:
    found, _ = scan
    failing = {(f.framework, f.check) for f in found if not f.file.endswith(NEGATIVE_CONTROL)}
    stale = [skip.check for skip in load_skips() if (skip.framework, skip.check) not in failing]
    assert not stale, f"{SKIPS_FILE.name} skips checks that no longer fail; remove them: {stale}"


def test_each_skip_names_its_reason() -> None:
    for skip in load_skips():
        assert len(skip.reason.split()) >= 8, skip
        assert (Path(SKIPS_FILE).parents[1] / skip.file).is_file(), skip.file


def test_missing_checkov_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(checkov_scan, "CHECKOV", tmp_path / "no-such-venv" / "bin" / "checkov")
    assert checkov_scan.main([str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: checkov is not installed at ") and "run `make checkov-venv`" in error
    assert not (tmp_path / "out").exists(), "nothing is rendered when checkov cannot run"
