"""Pages that are the same for every visitor but for a token or two, rendered once.

The blank report form is the busiest page and costs milliseconds of template
work; what differs between visitors is only the CSRF token and the one-time
submission value. It is rendered once per language with placeholders, and
each request fills them in. Anything else that varies (errors, typed text,
flashed messages) is rendered normally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from blinker import Namespace
from flask import current_app, render_template, session
from flask_babel import get_locale

# Slot values are inserted into HTML unescaped, so they must be plain tokens.
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9._-]*$")

# Sent with the template's name whenever a page is served from the cache, as
# Flask's template_rendered is when a template is rendered.
cached_page_served = Namespace().signal("cached-page-served")


def slot(name: str) -> str:
    """The placeholder that stands for `name` in a cached page."""
    return f"RLSLOT-{name}-a7c31f9e"


def render_cached(
    template: str,
    slots: dict[str, str] | None = None,
    context: Callable[[], dict[str, Any]] | None = None,
    variant: str = "",
) -> str:
    """Render `template` once per language (and variant); fill `slots` on each request.

    `slots` maps a name to a plain token; `context` builds the template's other
    variables and is called only when rendering; `variant` names a version of
    the page that differs in more than tokens.
    """
    slots = slots or {}
    for name, value in slots.items():
        if not _SAFE_VALUE.match(value):
            raise ValueError(f"slot {name} holds characters that need escaping")
    cache: dict[tuple[str, str, str], str] = current_app.extensions.setdefault(
        "reportline.page_cache", {}
    )
    key = (template, variant, str(get_locale()))
    # Flashed messages belong to one visitor: such a page is rendered, never cached.
    cacheable = "_flashes" not in session
    html = cache.get(key) if cacheable else None
    if html is None:
        variables = context() if context else {}
        html = render_template(template, **variables, **{name: slot(name) for name in slots})
        if cacheable:
            cache[key] = html
    else:
        cached_page_served.send(current_app._get_current_object(), template=template)  # type: ignore[attr-defined]
    for name, value in slots.items():
        html = html.replace(slot(name), value)
    return html
