"""Where the browser test finds Chromium and its driver: Debian's packages, Ubuntu's snap, or your own.

    chromium = locate_chromium(os.environ)   # Chromium(browser=..., driver=...) or ChromiumNotFound

Order: CHROMIUM and CHROMEDRIVER when set (both, each an executable file); else Debian's
/usr/bin/chromium + /usr/bin/chromedriver; else Ubuntu's snap, /snap/bin/chromium +
/snap/bin/chromium.chromedriver. `make system-packages` (.ci/system-packages.sh) installs one of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Chromium:
    """A Chromium browser and the chromedriver that drives it."""

    browser: Path
    """The browser binary selenium starts."""
    driver: Path
    """The chromedriver matching that browser."""


INSTALLED = (
    Chromium(browser=Path("/usr/bin/chromium"), driver=Path("/usr/bin/chromedriver")),  # Debian: apt
    Chromium(browser=Path("/snap/bin/chromium"), driver=Path("/snap/bin/chromium.chromedriver")),  # Ubuntu: snap
)
"""Where the packages `make system-packages` installs put them, in the order they are tried."""


class ChromiumNotFound(Exception):  # noqa: N818 - a missing tool to install, not a program error
    """No usable Chromium; the message says where it looked and what to do."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def locate_chromium(environ: Mapping[str, str], installed: Sequence[Chromium] = INSTALLED) -> Chromium:
    """The Chromium to use: CHROMIUM/CHROMEDRIVER when set, else the first installed pair."""
    browser, driver = environ.get("CHROMIUM", ""), environ.get("CHROMEDRIVER", "")
    if browser or driver:
        if not (browser and driver):
            given, other = ("CHROMIUM", "CHROMEDRIVER") if browser else ("CHROMEDRIVER", "CHROMIUM")
            raise ChromiumNotFound(f"{given} is set but {other} is not: set both, or neither to use the installed one.")
        for name, value in (("CHROMIUM", browser), ("CHROMEDRIVER", driver)):
            if not _executable(Path(value)):
                raise ChromiumNotFound(f"{name}={value} is not an executable file: point it at an installed binary.")
        return Chromium(browser=Path(browser), driver=Path(driver))
    for candidate in installed:
        if _executable(candidate.browser) and _executable(candidate.driver):
            return candidate
    looked = " and ".join(f"{c.browser} + {c.driver}" for c in installed)
    raise ChromiumNotFound(
        f"No Chromium with its chromedriver found (looked for {looked}): run `make system-packages` "
        "(apt on Debian, snap on Ubuntu), or set CHROMIUM and CHROMEDRIVER to an installed pair."
    )
