"""The EKS canary driver: the `pulumi` commands it runs for each decision, and its clear errors.

There is no Pulumi CLI or cluster here; a recording `pulumi` executable on PATH stands in for the
CLI so the order of the real commands (the part that decides whether users see a broken release) is
checked. The analysis loop itself is tested in tests/contract and, for real, in tests/localenv.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from app.contract import AppSettings
from app.contract.canary import CanaryPolicy, CanaryRelease, CanaryStep
from infra.canary import release_output
from infra.canary_driver import Command, DriverError, ReleaseInfo, main

FAKE_CLI = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["stack", "output"]:
    outputs = json.loads(open(os.environ["FAKE_OUTPUTS"]).read())
    print(json.dumps(outputs.get(args[2])))
elif args[:2] == ["config", "rm"] and args[2] not in os.environ.get("FAKE_CONFIG", "").split(","):
    sys.stderr.write("error: configuration key '" + args[2] + "' not found for stack 'int'\\n")
    sys.exit(255)
elif args[:1] == ["up"] and os.environ.get("FAKE_UP_FAILS") == "1":
    os.environ["FAKE_UP_FAILS"] = "0"
    marker = os.environ["FAKE_LOG"] + ".failed"
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.stderr.write("error: Deployment example-app-canary: timed out waiting to be Ready\\n")
        sys.exit(1)
"""


def app_settings() -> AppSettings:
    return AppSettings(image_repository="example-app", image_tag="v1.0.0", host="example-app.int.example.com")


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `pulumi` and a `kubectl` on PATH that log their arguments; returns the log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pulumi", "kubectl"):
        script = bin_dir / tool
        script.write_text(FAKE_CLI.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    outputs = tmp_path / "outputs.json"
    running = CanaryRelease(policy=CanaryPolicy(strategy="canary"), step=CanaryStep(tag="v2.0.0", weight=50))
    outputs.write_text(json.dumps({"release": release_output(app_settings(), running), "url": "http://127.0.0.1:9"}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_OUTPUTS", str(outputs))
    monkeypatch.setenv("FAKE_CONFIG", "canaryTag,canaryWeight")
    return log


def calls(log: Path) -> list[list[str]]:
    """Each pulumi call without the arguments every call carries (stack, cwd, non-interactive)."""
    common = ["--stack", "int", "--cwd", ".", "--non-interactive"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line[: -len(common)] if line[-len(common) :] == common else line for line in lines]


def test_promotion_rolls_the_stable_deployment_before_the_canary_is_removed(fake_cli: Path) -> None:
    assert main(["--stack", "int", "--promote"]) == 0
    assert calls(fake_cli) == [
        ["stack", "output", "release", "--json"],
        ["up", "--yes", "--skip-preview", "--config", "imageTag=v2.0.0"],
        ["config", "rm", "canaryTag"],
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview"],
    ]


def test_abort_takes_users_off_the_canary_before_removing_it(fake_cli: Path) -> None:
    assert main(["--stack", "int", "--abort"]) == 0
    assert calls(fake_cli)[1:] == [
        ["up", "--yes", "--skip-preview", "--config", "canaryTag=v2.0.0", "--config", "canaryWeight=0"],
        ["config", "rm", "canaryTag"],
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview"],
    ]


def test_a_canary_that_does_not_start_leaves_the_stack_as_it_was(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_UP_FAILS", "1")
    monkeypatch.setenv("FAKE_CONFIG", "canaryTag")
    assert main(["--stack", "int", "--tag", "v2.0.0"]) == 2
    assert calls(fake_cli) == [
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview", "--config", "canaryTag=v2.0.0"],
        ["config", "rm", "canaryTag"],
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview"],
    ]
    # `pulumi up` streams its own output (the reason) to the terminal; the driver's last line says what it did.
    error = capfd.readouterr().err
    assert "timed out waiting to be Ready" in error
    assert error.splitlines()[-1].startswith("error: the canary v2.0.0 did not start, the stack is back without it")
    assert "Traceback" not in error


def test_a_bad_tag_is_refused_before_the_stack_is_touched(fake_cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "int", "--tag", "latest"]) == 2
    assert "canaryTag 'latest'" in capsys.readouterr().err
    assert not fake_cli.exists()


def test_missing_tools_are_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--stack", "int", "--abort"]) == 2
    assert (
        capsys.readouterr().err == "error: pulumi is not on PATH; install it (README 'Canary releases') and try again\n"
    )


def test_manual_promote_without_a_running_canary_says_how_to_start_one(
    fake_cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idle = CanaryRelease(policy=CanaryPolicy(strategy="canary"))
    (tmp_path / "outputs.json").write_text(json.dumps({"release": release_output(app_settings(), idle)}))
    assert main(["--stack", "int", "--promote"]) == 2
    assert "runs no canary; start one with --tag" in capsys.readouterr().err


def test_the_release_output_round_trips_into_what_the_driver_needs() -> None:
    policy = CanaryPolicy(strategy="canary", steps=(5, 25, 100), min_requests=400)
    data = json.loads(json.dumps(release_output(app_settings(), CanaryRelease(policy=policy))))
    info = ReleaseInfo.parse(data)
    assert info.policy == policy
    assert info.step is None
    assert info.namespace == "example-app"
    assert info.canary_selector == "app.kubernetes.io/name=example-app,app.kubernetes.io/instance=example-app-canary"
    assert info.container_port == 8080
    with pytest.raises(DriverError, match="no 'release' output yet"):
        ReleaseInfo.parse(None)


def test_a_failing_command_names_itself_and_its_error() -> None:
    script = "import sys; sys.stderr.write('first\\nlast words\\n'); sys.exit(3)"
    with pytest.raises(DriverError) as caught:
        Command(tool=sys.executable).run("-c", script)
    assert "failed with exit code 3" in str(caught.value)
    assert "last words" in str(caught.value)
