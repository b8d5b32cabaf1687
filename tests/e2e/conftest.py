"""Fixtures for the browser tests: a live server per module and headless Chromium.

Chromium is Debian's (/usr/bin/chromium, or E2E_CHROMIUM), driven by
Playwright's Python package; Playwright's own browser downloads are never
used. A missing browser or axe-core fails the tests with a message saying
how to install it: these tests are never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Browser, sync_playwright
except ImportError as exc:  # pragma: no cover - only when the test extras are missing
    raise ImportError(
        "The e2e tests need Playwright's Python package: pip install -e '.[test]' "
        "(do not run `playwright install`: the tests use Debian's chromium)."
    ) from exc

from tests.e2e.browser import Browsing, axe_source
from tests.e2e.site import LiveSite, running_site

CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def axe() -> str:
    """axe-core's source, to inject into pages."""
    try:
        return axe_source()
    except AssertionError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the whole run."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}. Install it (Debian/Ubuntu: "
            "apt-get install chromium) or set E2E_CHROMIUM to its path.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """A fresh, initialised ReportLine served on a free local port for this module."""
    with running_site(tmp_path_factory.mktemp("instance")) as live:
        yield live


@pytest.fixture
def browsing(browser: Browser, site: LiveSite) -> Iterator[Browsing]:
    """Browser windows for one test, checked for off-site requests and missing CSP."""
    session = Browsing(browser, site)
    yield session
    session.close()
    problems = session.guard.problems
    assert not problems, "the browser saw:\n" + "\n".join(problems)
