"""What the browser tests check on any page: origin and CSP, axe-core, layout, focus.

Every helper here takes a Playwright page and either returns what it found or
fails with a message that says what is wrong and where.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, ViewportSize

from tests.e2e.site import LiveSite

ROOT = Path(__file__).resolve().parents[2]
AXE_CORE_PATH = Path(os.environ.get("AXE_CORE_PATH") or ROOT / "node_modules/axe-core/axe.min.js")
# Set E2E_SCREENSHOTS to keep a checkout clean (the images change with every run:
# receipts, references and keys are random).
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS") or ROOT / "docs" / "screenshots")

# WCAG 2.0, 2.1 and 2.2 at levels A and AA, as axe-core tags its rules.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=740)
NARROWEST = ViewportSize(width=320, height=740)
TIMEOUT_MS = 15_000


@dataclass
class OriginGuard:
    """Records every request a browser context makes and every response it gets.

    Two promises to reporters are checked from the browser's side: nothing is
    fetched from anywhere but this site, and every response carries the CSP.
    """

    base_url: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        """Start recording this context's traffic."""
        context.on("request", self._on_request)
        context.on("response", self._on_response)

    def _origin(self, url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.scheme, parts.netloc

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        if self._origin(request.url) != self._origin(self.base_url):
            self.problems.append(f"request left the origin: {request.method} {request.url}")

    def _on_response(self, response: Response) -> None:
        if "content-security-policy" not in response.headers:
            self.problems.append(
                f"response without Content-Security-Policy: {response.status} {response.url}"
            )


class Browsing:
    """Opens browser windows on the live site; each has its own cookies.

    Every window's traffic is watched: when the test ends, any request that
    left the site or any response without a Content-Security-Policy fails it.
    """

    def __init__(self, browser: Browser, site: LiveSite) -> None:
        self.browser = browser
        self.site = site
        self.guard = OriginGuard(site.base_url)
        self.contexts: list[BrowserContext] = []

    def new_page(self, *, javascript: bool = True, **options: Any) -> Page:
        """A new window (its own cookie jar) at desktop size, unless told otherwise."""
        context = self.browser.new_context(
            base_url=self.site.base_url,
            java_script_enabled=javascript,
            viewport=options.pop("viewport", DESKTOP),
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.guard.watch(context)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        """Close every window."""
        for context in self.contexts:
            context.close()


def axe_source() -> str:
    """axe-core's browser bundle; fails the test (never skips) when it is missing."""
    if not AXE_CORE_PATH.is_file():
        raise AssertionError(
            f"axe-core is missing at {AXE_CORE_PATH}. Install it with "
            "`npm install --no-save --no-package-lock axe-core` in the repository root, "
            "or point AXE_CORE_PATH at axe.min.js."
        )
    return AXE_CORE_PATH.read_text("utf-8")


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """Run axe-core on the page (injected through the debugger: the CSP allows no inline script)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    result = page.evaluate(
        "options => axe.run(document, options)",
        {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]},
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule id, what it asks, and the elements that break it."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(f"    at {json.dumps(node['target'])}: {node['failureSummary']!r}")
    return "\n".join(lines)


def assert_accessible(page: Page, source: str, where: str) -> None:
    """Fail with every WCAG 2.2 AA violation axe-core finds on the page."""
    violations = axe_violations(page, source)
    assert not violations, (
        f"axe-core found {len(violations)} accessibility violation(s) on {where} "
        f"({page.url}):\n{describe_violations(violations)}"
    )


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    overflow: int = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return overflow


def widest_elements(page: Page) -> list[str]:
    """The elements sticking out past the right edge of the window, for failure messages."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            return Array.from(document.querySelectorAll('body *'))
                .filter(el => el.getBoundingClientRect().right > width + 1)
                .slice(0, 10)
                .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                           + (el.className ? '.' + String(el.className).split(' ').join('.') : ''));
        }"""
    )
    return found


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
