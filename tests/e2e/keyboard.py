"""Driving a page by keyboard alone: Tab to a control, type, choose, press.

Nothing here clicks or fills. Focus only ever moves by Tab or Shift+Tab (and
arrow keys inside a radio group or select), as it would for someone who
cannot use a mouse. The page is read with `evaluate`, which works with the
page's own JavaScript turned off.
"""

from __future__ import annotations

from playwright.sync_api import Page

MAX_TABS = 80

FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'nothing (body)';
    const name = el.getAttribute('name');
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (name ? `[name=${name}]` : '')
        + ' "' + (el.innerText || el.value || '').trim().slice(0, 40) + '"';
}"""

# What makes focus visible: the control's own outline, shadow, colours and border,
# or for our radios (the input is transparent) the drawn circle next to it.
FOCUS_STYLE = """el => {
    const drawn = el.type === 'radio' ? [el.nextElementSibling, '::before'] : [el, null];
    const style = getComputedStyle(drawn[0], drawn[1]);
    return ['outlineStyle', 'outlineColor', 'outlineWidth', 'boxShadow',
            'backgroundColor', 'borderColor', 'color', 'textDecorationLine']
        .map(name => name + ': ' + style[name]).join('; ');
}"""


def focused(page: Page) -> str:
    """A short description of the element that has focus."""
    description: str = page.evaluate(FOCUSED)
    return description


def has_focus(page: Page, selector: str) -> bool:
    """Whether the focused element matches the CSS selector."""
    matches: bool = page.evaluate(
        "s => !!document.activeElement && document.activeElement.matches(s)", selector
    )
    return matches


def tab_to(page: Page, selector: str, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the element matching `selector` has focus."""
    key = "Shift+Tab" if backwards else "Tab"
    visited = []
    for _ in range(MAX_TABS):
        if has_focus(page, selector):
            return
        page.keyboard.press(key)
        visited.append(focused(page))
    raise AssertionError(
        f"{key} never reached {selector} on {page.url}; focus went through:\n  "
        + "\n  ".join(visited)
    )


def type_into(page: Page, selector: str, text: str) -> None:
    """Tab forward to a field and type into it."""
    tab_to(page, selector)
    page.keyboard.type(text)


def choose_radio(page: Page, name: str, value: str) -> None:
    """Tab into a radio group, then select with Space and the arrow keys."""
    tab_to(page, f"input[type=radio][name={name}]")
    page.keyboard.press("Space")
    for _ in range(MAX_TABS):
        if has_focus(page, f"input[type=radio][name={name}][value={value}]:checked"):
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"the arrow keys never reached {name}={value}")


def choose_option(page: Page, selector: str, value: str) -> None:
    """Tab to a select and move through its options with the arrow keys."""
    tab_to(page, selector)
    page.keyboard.press("Home")
    for _ in range(MAX_TABS):
        if page.evaluate("s => document.querySelector(s).value", selector) == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"the arrow keys never chose {value} in {selector}")


def tick(page: Page, selector: str) -> None:
    """Tab to a checkbox and tick it with Space."""
    tab_to(page, selector)
    page.keyboard.press("Space")
    assert page.locator(selector).is_checked(), f"Space did not tick {selector}"


def press_and_wait(page: Page, key: str = "Enter") -> None:
    """Press a key that sends a form or follows a link, and wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def activate(page: Page, selector: str, key: str = "Enter") -> None:
    """Tab to a link or button and press it (Enter, or Space for buttons)."""
    tab_to(page, selector)
    press_and_wait(page, key)


def focus_style(page: Page, selector: str) -> str:
    """The computed styles that show focus on a control, as one comparable string."""
    style: str = page.locator(selector).first.evaluate(FOCUS_STYLE)
    return style
