""".ci/system-packages.sh: Debian gets Chromium from apt, Ubuntu as a snap, anything else one clear error.

This machine is Debian; Ubuntu is played by a fake os-release file (OS_RELEASE) and, where the script
would install the snap, by a `snap` on PATH that records its arguments (snapd cannot run here).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.project_files import REPO_ROOT

SCRIPT = REPO_ROOT / ".ci" / "system-packages.sh"
COMMON = "nginx libnginx-mod-http-lua lua-resty-core wrk haproxy prometheus prometheus-alertmanager"
UBUNTU = 'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n'
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


def _run(
    tmp_path: Path, os_release: str | None, *args: str, path: str = "/usr/bin:/bin", **env: str
) -> subprocess.CompletedProcess[str]:
    release = tmp_path / "os-release"
    if os_release is not None:
        release.write_text(os_release, encoding="utf-8")
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={"PATH": path, "HOME": str(tmp_path), "OS_RELEASE": str(release), "SUDO": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("os_release", "family"),
    [
        (DEBIAN, "debian"),
        (UBUNTU, "ubuntu"),
        ('ID="ubuntu"\n', "ubuntu"),  # values may be quoted
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "ubuntu"),  # Ubuntu's packages: Chromium is a snap
        ("ID=raspbian\nID_LIKE=debian\n", "debian"),
    ],
)
def test_the_plan_follows_the_os(tmp_path: Path, os_release: str, family: str) -> None:
    result = _run(tmp_path, os_release, "plan")
    assert result.returncode == 0, result.stderr
    chromium = {"debian": ("chromium chromium-driver", ""), "ubuntu": ("", "chromium")}[family]
    expected = f"os: {family}\napt: {COMMON}{' ' if chromium[0] else ''}{chromium[0]}\nsnap: {chromium[1]}\n"
    assert result.stdout == expected


@pytest.mark.parametrize(
    ("os_release", "name"),
    [('PRETTY_NAME="Fedora Linux 41"\nID=fedora\n', "Fedora Linux 41"), (None, "this system")],
)
def test_another_system_gets_one_sentence_naming_what_to_install(
    tmp_path: Path, os_release: str | None, name: str
) -> None:
    result = _run(tmp_path, os_release)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {name} is neither Debian nor Ubuntu: install {COMMON}, Chromium and chromedriver yourself "
        "(set CHROMIUM and CHROMEDRIVER to them unless they are /usr/bin/chromium and /usr/bin/chromedriver).\n"
    )


def _installed(packages: str) -> None:
    # The install cases below rely on apt having nothing to do on this machine (make setup's packages).
    for package in packages.split():
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
        if status.stdout != "install ok installed":
            pytest.fail(f"{package} is not installed: run `make system-packages` first")


def test_on_this_debian_machine_everything_is_there_and_nothing_runs(tmp_path: Path) -> None:
    _installed(f"{COMMON} chromium chromium-driver")
    result = _run(tmp_path, DEBIAN)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_ubuntu_without_snap_says_what_to_install(tmp_path: Path) -> None:
    _installed(COMMON)
    result = _run(tmp_path, UBUNTU)
    assert result.returncode == 1
    assert result.stderr.startswith("error: Ubuntu ships Chromium only as a snap, and snap is not available here:")
    assert "install snapd (sudo apt-get install snapd) and rerun" in result.stderr
    assert "set CHROMIUM and CHROMEDRIVER" in result.stderr
    assert result.stderr.count("\n") == 1


def _recording_snap(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir, calls = tmp_path / "bin", tmp_path / "snap-calls"
    bin_dir.mkdir()
    snap = bin_dir / "snap"
    snap.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n', encoding="ascii")
    snap.chmod(0o755)
    return bin_dir, calls


def test_ubuntu_with_snap_installs_chromium_as_a_snap(tmp_path: Path) -> None:
    _installed(COMMON)
    bin_dir, calls = _recording_snap(tmp_path)
    result = _run(tmp_path, UBUNTU, path=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Installing with snap: chromium\n"
    assert calls.read_text(encoding="ascii") == "install chromium\n"


def test_ubuntu_with_your_own_chromium_installs_no_snap(tmp_path: Path) -> None:
    _installed(COMMON)
    bin_dir, calls = _recording_snap(tmp_path)
    result = _run(
        tmp_path,
        UBUNTU,
        path=f"{bin_dir}:/usr/bin:/bin",
        CHROMIUM="/usr/bin/chromium",
        CHROMEDRIVER="/usr/bin/chromedriver",
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not calls.exists()


def test_an_unknown_command_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, DEBIAN, "instal")
    assert result.returncode == 1
    assert result.stderr == "error: unknown command 'instal': use install (the default) or plan.\n"


def test_make_system_packages_runs_the_script() -> None:
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL would add "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "system-packages"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bash .ci/system-packages.sh"
