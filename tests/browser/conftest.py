"""A real browser for the admin pages: Playwright's sync API driving Debian's Chromium.

Playwright's own browser download needs the network; the tests use the system's Chromium instead
(``apt-get install chromium``; another binary with ``CHROMIUM=/path``). Screenshots go to
``.artifacts/screenshots/`` in the repository (ignored by git), one file per stage of a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..conftest import REPO

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / ".artifacts" / "screenshots"
#: How long a page or an element may take to appear (ms).
TIMEOUT = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium, for the tests of one module.

    Playwright's sync API keeps an event loop running in this thread, so Django's async-safety
    check would refuse the tests' own database queries; it is switched off while the browser is
    up, and only then.
    """
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests drive Chromium at {CHROMIUM}, which is missing: install it "
            "(apt-get install chromium) or point CHROMIUM at another binary."
        )
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    """A fresh browser context (no cookies) on the live server, with a wide window."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}
    )
    context.set_default_timeout(TIMEOUT)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def screenshot(page) -> Callable[[str], Path]:
    """``screenshot("review-list")`` saves the whole page as
    ``.artifacts/screenshots/review-list.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def log_in(page, username: str, password: str) -> None:
    """Log in through the admin's login form, as a person does."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
