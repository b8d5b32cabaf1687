"""Every page, in every state the registry knows: reached, accessible, and photographed.

axe-core checks each page against WCAG 2.2 AA at desktop and phone widths;
every page is checked at 320 px, where nothing may scroll sideways, and
reporter pages also in Welsh and for their "Leave this site" button.
Screenshots go to docs/screenshots/<recipe>-desktop.png and <recipe>-phone.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import (
    NARROWEST,
    PHONE,
    Browsing,
    OriginGuard,
    assert_accessible,
    axe_violations,
    horizontal_overflow,
    screenshot,
    widest_elements,
)
from tests.e2e.pages import RECIPES, REPORTER, Recipe
from tests.e2e.site import LiveSite
from tests.e2e.steps import Sample, arrange_sample, use_welsh_link

pytestmark = pytest.mark.e2e

TEMPLATES = Path(__file__).resolve().parents[2] / "reportline" / "templates"
LAYOUT_TEMPLATES = {"base.html", "officer_base.html", "reporter_base.html"}
NEUTRAL_PAGE = "reporter/neutral.html"  # where "Leave this site" lands: nothing of ours on it
WELSH = [recipe for recipe in RECIPES if "cy" in recipe.languages]


@pytest.fixture(scope="module")
def sample(site: LiveSite) -> Sample:
    """Reports and a conversation for the pages to show."""
    return arrange_sample(site)


def reach(page: Page, site: LiveSite, sample: Sample, recipe: Recipe) -> None:
    """Follow the recipe, then check the app served the page it promises."""
    site.recorder.clear()
    recipe.reach(page, site, sample)
    hits = site.recorder.hits()
    visited = {hit.endpoint for hit in hits if hit.method == "GET"}
    assert recipe.endpoints <= visited, (
        f"{recipe} never went through {sorted(recipe.endpoints - visited)}; "
        f"the app served {[(h.method, h.endpoint, h.status) for h in hits]}"
    )
    shown = site.recorder.last_page()
    assert recipe.template in shown.templates, f"{recipe} ended on {shown}"
    assert shown.status == recipe.status, f"{recipe} ended on {shown}"


def assert_fits_narrowest_phone(page: Page, where: str) -> None:
    """At 320 px nothing scrolls sideways (WCAG 1.4.10 reflow)."""
    page.set_viewport_size(NARROWEST)
    overflow = horizontal_overflow(page)
    assert overflow <= 0, (
        f"{where} scrolls sideways by {overflow}px at 320px wide; too wide: {widest_elements(page)}"
    )


def test_every_get_endpoint_in_the_url_map_has_a_page_recipe(site: LiveSite) -> None:
    pages = {
        rule.endpoint
        for rule in site.app.url_map.iter_rules()
        if "GET" in (rule.methods or set()) and rule.endpoint != "static"
    }
    covered = set().union(*(recipe.endpoints for recipe in RECIPES))
    assert pages - covered == set(), "add a recipe to tests/e2e/pages.py for these pages"
    assert covered - pages == set(), "these recipes name endpoints that no longer exist"


def test_every_page_template_has_a_page_recipe() -> None:
    templates = {
        path.relative_to(TEMPLATES).as_posix()
        for path in TEMPLATES.rglob("*.html")
        if path.parent.name != "components" and path.name not in LAYOUT_TEMPLATES
    }
    covered = {recipe.template for recipe in RECIPES}
    assert templates - covered == set(), "add a recipe to tests/e2e/pages.py for these pages"
    assert covered - templates == set(), "these recipes name templates that no longer exist"


def test_page_recipe_names_are_unique_so_screenshots_do_not_overwrite_each_other() -> None:
    names = [recipe.name for recipe in RECIPES]
    assert len(names) == len(set(names))


def test_axe_check_finds_a_field_without_a_label(browsing: Browsing, axe: str) -> None:
    page = browsing.new_page()
    page.goto("/report")
    page.evaluate("() => document.querySelector('label[for=when]').remove()")

    found = {violation["id"] for violation in axe_violations(page, axe)}

    assert "label" in found


def test_origin_guard_notices_another_site_and_a_missing_csp(
    browser: Browser, site: LiveSite
) -> None:
    context = browser.new_context()
    guard = OriginGuard(site.base_url)
    guard.watch(context)
    context.route("http://elsewhere.invalid/**", lambda route: route.fulfill(body="hello"))

    context.new_page().goto("http://elsewhere.invalid/tracker")
    context.close()

    assert guard.problems == [
        "request left the origin: GET http://elsewhere.invalid/tracker",
        "response without Content-Security-Policy: 200 http://elsewhere.invalid/tracker",
    ]


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_page_passes_axe_at_desktop_and_phone_widths(
    recipe: Recipe, browsing: Browsing, site: LiveSite, sample: Sample, axe: str
) -> None:
    page = browsing.new_page()
    reach(page, site, sample, recipe)

    assert_accessible(page, axe, f"{recipe} at desktop width")
    screenshot(page, f"{recipe.name}-desktop")
    page.set_viewport_size(PHONE)
    assert_accessible(page, axe, f"{recipe} at phone width")
    screenshot(page, f"{recipe.name}-phone")
    assert_fits_narrowest_phone(page, str(recipe))
    if recipe.side == REPORTER and recipe.template != NEUTRAL_PAGE:
        leave = page.locator("header a[data-leave]")
        assert leave.count() == 1 and leave.get_attribute("href") == "/leave", recipe


@pytest.mark.parametrize("recipe", WELSH, ids=str)
def test_reporter_page_in_welsh_passes_axe_and_fits_a_phone(
    recipe: Recipe, browsing: Browsing, site: LiveSite, sample: Sample, axe: str
) -> None:
    page = browsing.new_page()
    use_welsh_link(page)
    reach(page, site, sample, recipe)

    assert page.locator("html").get_attribute("lang") == "cy"
    assert_accessible(page, axe, f"{recipe} in Welsh")
    page.set_viewport_size(PHONE)
    assert_accessible(page, axe, f"{recipe} in Welsh at phone width")
    assert_fits_narrowest_phone(page, f"{recipe} in Welsh")
