"""Finding Chromium and chromedriver: your own (CHROMIUM/CHROMEDRIVER), Debian's apt packages, or Ubuntu's snap."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chromium import INSTALLED, Chromium, ChromiumNotFound, locate_chromium


def _executable(path: Path, *, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n", encoding="ascii")
    path.chmod(mode)
    return path


@pytest.fixture
def places(tmp_path: Path) -> tuple[Chromium, Chromium]:
    """Debian's and Ubuntu's places, moved under tmp_path (nothing installed there yet)."""
    debian, snap = INSTALLED
    return tuple(  # type: ignore[return-value]
        Chromium(browser=tmp_path / str(c.browser).lstrip("/"), driver=tmp_path / str(c.driver).lstrip("/"))
        for c in (debian, snap)
    )


def test_debian_and_ubuntu_places_are_tried_in_that_order() -> None:
    assert [(str(c.browser), str(c.driver)) for c in INSTALLED] == [
        ("/usr/bin/chromium", "/usr/bin/chromedriver"),
        ("/snap/bin/chromium", "/snap/bin/chromium.chromedriver"),
    ]


def test_debians_packages_come_first(places: tuple[Chromium, Chromium]) -> None:
    debian, snap = places
    for path in (debian.browser, debian.driver, snap.browser, snap.driver):
        _executable(path)
    assert locate_chromium({}, places) == debian


def test_ubuntus_snap_is_used_when_debians_packages_are_missing(places: tuple[Chromium, Chromium]) -> None:
    debian, snap = places
    _executable(debian.browser)  # a browser without its driver is no use
    _executable(snap.browser)
    _executable(snap.driver)
    assert locate_chromium({}, places) == snap


def test_your_own_pair_wins(places: tuple[Chromium, Chromium], tmp_path: Path) -> None:
    debian, _ = places
    _executable(debian.browser)
    _executable(debian.driver)
    browser, driver = _executable(tmp_path / "opt" / "chrome"), _executable(tmp_path / "opt" / "chromedriver")
    found = locate_chromium({"CHROMIUM": str(browser), "CHROMEDRIVER": str(driver)}, places)
    assert found == Chromium(browser=browser, driver=driver)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CHROMIUM": "{opt}/chrome"}, "CHROMIUM is set but CHROMEDRIVER is not: set both"),
        ({"CHROMEDRIVER": "{opt}/chromedriver"}, "CHROMEDRIVER is set but CHROMIUM is not: set both"),
        ({"CHROMIUM": "{opt}/chrome", "CHROMEDRIVER": "{opt}/nope"}, "CHROMEDRIVER={opt}/nope is not an executable"),
        ({"CHROMIUM": "{opt}/plain", "CHROMEDRIVER": "{opt}/chromedriver"}, "CHROMIUM={opt}/plain is not"),
    ],
)
def test_a_half_or_wrong_override_is_one_clear_sentence(
    places: tuple[Chromium, Chromium], tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    opt = tmp_path / "opt"
    _executable(opt / "chrome")
    _executable(opt / "chromedriver")
    _executable(opt / "plain", mode=0o644)
    with pytest.raises(ChromiumNotFound) as error:
        locate_chromium({k: v.format(opt=opt) for k, v in environ.items()}, places)
    assert message.format(opt=opt) in str(error.value)


def test_nothing_installed_names_every_place_and_what_to_run(places: tuple[Chromium, Chromium]) -> None:
    debian, snap = places
    with pytest.raises(ChromiumNotFound) as error:
        locate_chromium({}, places)
    message = str(error.value)
    for path in (debian.browser, debian.driver, snap.browser, snap.driver):
        assert str(path) in message
    assert "run `make system-packages` (apt on Debian, snap on Ubuntu)" in message
    assert "set CHROMIUM and CHROMEDRIVER" in message
