"""Browser fixtures: the local runtime (as in tests/e2e) and headless Debian Chromium
driven by Playwright. Screenshots go to tests/browser/screenshots/ (gitignored)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_support import RunningHub, start_hub, stop_hub

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_executable() -> str | None:
    """Debian's chromium (scripts/install_browser.sh installs it), never a downloaded one."""
    found = next((path for path in CHROMIUM_CANDIDATES if Path(path).is_file()), None)
    return found or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def hub() -> Iterator[RunningHub]:
    running = start_hub("--param", "ApiRateLimitPerSecond=1000", "ApiBurstLimit=1000")
    try:
        yield running
    finally:
        stop_hub(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no chromium binary (/usr/bin/chromium): run `bash scripts/install_browser.sh` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab (its own sessionStorage); JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the console page: {errors}"


@pytest.fixture
def screenshot(page: Any) -> Any:
    """``screenshot("step")`` saves a full-page screenshot named after the test step."""

    def save(step: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
