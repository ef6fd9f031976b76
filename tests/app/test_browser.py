"""The page in a real headless Chromium: the version is visible and the strict CSP blocks nothing of ours."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from harness.chromium import ChromiumNotFound, locate_chromium
from harness.gunicorn_processes import REPO_ROOT, Gunicorn

pytestmark = pytest.mark.browser

SCREENSHOT = REPO_ROOT / "build" / "screenshots" / "page.png"
VERSION = "v3.1.4"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, quiet (no background traffic), console log captured."""
    try:
        chromium = locate_chromium(os.environ)
    except ChromiumNotFound as missing:
        pytest.fail(str(missing), pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--window-size=1000,700",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(str(chromium.driver), log_output=str(tmp_path / "chromedriver.log")), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()


def _csp_violations(driver: webdriver.Chrome) -> list[str]:
    """Console messages about the Content Security Policy since the last call (reading the log empties it)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("source") == "security" or "Content Security Policy" in entry["message"]
    ]


def test_page_shows_version_without_csp_violations(
    start_gunicorn: Callable[..., Gunicorn], browser: webdriver.Chrome
) -> None:
    server = start_gunicorn(workers=1, APP_VERSION=VERSION, APP_COMMIT="5eed123")
    browser.get(f"http://127.0.0.1:{server.port}/")

    version = browser.find_element(By.ID, "version")
    assert version.is_displayed()
    assert version.text == VERSION
    assert browser.title == f"example-app {VERSION}"
    # The hashed inline style applied: the version is big and blue, so the CSP let the style through.
    assert version.value_of_css_property("color") == "rgba(11, 92, 173, 1)"
    assert float(version.value_of_css_property("font-size").removesuffix("px")) > 40

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert _csp_violations(browser) == []

    # The check above can fail: an inline style the policy does not name is refused and logged.
    browser.execute_script("document.head.appendChild(document.createElement('style')).textContent = 'p{color:red}'")
    assert version.value_of_css_property("color") == "rgba(11, 92, 173, 1)"
    deadline = time.monotonic() + 5
    while not (violations := _csp_violations(browser)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any("inline style" in message for message in violations), violations
