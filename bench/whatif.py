"""What-if experiments: a proposed optimisation, simulated in the benchmark's server process.

`python -m bench.server --what-if NAME` applies one of these before serving, so
a benchmark can measure the app with and without the change in the same run.
They patch the running process only: the package is not changed, and nothing
here is a finished implementation (see docs/performance.md for the proposals).

form-cache
    Render the empty report form once per language and, on later GETs, only
    put this visitor's CSRF token and one-time `submission` value into the
    cached HTML (what a real change would do with a cached template fragment).
receipt-cache
    The same for the receipt page: render it once per language (and with or
    without the at-risk warning) with placeholder words, then put each new
    receipt's ten words in.
lean-submit
    Accept a report with two fewer queries: keep the active unit key's row in
    memory instead of selecting it for every report, and let the primary key
    catch the (2**-40 per existing report) id collision instead of looking the
    new id up first.
hpke-cache
    Build the HPKE private-key object of a key once per request instead of on
    every `open_sealed` (the queue opens 50 case secrets with the same unit key).
no-page-cache
    The reverse of a change already made: render the landing page, the blank
    report form and the receipt afresh on every request instead of filling
    tokens into a copy rendered once (reportline/web/page_cache.py), to show
    what that cache is worth.

form-cache, receipt-cache, lean-submit and hpke-cache were adopted by the app
(page_cache.render_cached, the leaner submissions.submit_report and
keys.PrivateKey._hpke_key); on such a revision they refuse to run rather than
patch twice.

With --what-if given more than once, the benchmarks measure them cumulatively
(A, then A+B, ...), so each step's gain shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CSRF_MARK = "\x00csrf\x00"
SUBMISSION_MARK = "\x00submission\x00"


def form_cache() -> None:
    """Serve GET /report from a per-language cache of the rendered empty form."""
    from flask import request
    from flask_babel import get_locale

    from reportline.web.reporter import views

    if hasattr(views, "render_cached"):
        raise SystemExit("form-cache: this revision already caches the report form")
    original = views.render_template
    cache: dict[str, str] = {}

    def render(template: str, **context: Any) -> str:
        form = context.get("form")
        if (template != "reporter/report.html" or request.method != "GET"
                or set(context) != {"form"} or form is None or form.errors):
            return str(original(template, **context))
        csrf = str(form.csrf_token.current_token)
        submission = str(form.submission.data)
        key = str(get_locale())
        if key not in cache:
            html = str(original(template, **context))
            if html.count(csrf) != 1 or html.count(f'value="{submission}"') != 1:
                return html
            cache[key] = html.replace(csrf, CSRF_MARK).replace(
                f'value="{submission}"', f'value="{SUBMISSION_MARK}"')
        return cache[key].replace(CSRF_MARK, csrf).replace(SUBMISSION_MARK, submission)

    views.render_template = render  # type: ignore[assignment]


def receipt_cache() -> None:
    """Serve the receipt page from a per-language cache, filling in the ten words."""
    from flask_babel import get_locale
    from markupsafe import escape

    from reportline.web.reporter import views

    if hasattr(views, "render_cached"):
        raise SystemExit("receipt-cache: this revision already caches the receipt page")
    original = views.render_template
    cache: dict[tuple[str, bool], str] = {}
    marks = tuple(f"receiptword{n}x" for n in range(10))

    def render(template: str, **context: Any) -> str:
        words = context.get("receipt_words")
        if template != "reporter/receipt.html" or set(context) != {"receipt_words", "at_risk"}:
            return str(original(template, **context))
        key = (str(get_locale()), bool(context["at_risk"]))
        if key not in cache:
            html = str(original(template, receipt_words=marks, at_risk=key[1]))
            if any(html.count(mark) != 1 for mark in marks):
                return str(original(template, **context))
            cache[key] = html
        html = cache[key]
        for mark, word in zip(marks, words, strict=True):
            html = html.replace(mark, str(escape(word)))
        return html

    views.render_template = render  # type: ignore[assignment]


def lean_submit() -> None:
    """Skip the unit-key SELECT (cached row) and the case-id SELECT (rely on the key)."""
    from sqlalchemy.orm import make_transient

    from reportline.db import random_id
    from reportline.services import keyring, submissions

    if not hasattr(submissions, "_unused_case_id"):
        raise SystemExit("lean-submit: this revision already skips these queries")
    original = keyring.active_unit_key
    cached: list[Any] = []

    def active_unit_key(session: Any) -> Any:
        if not cached:
            unit_key = original(session)
            session.expunge(unit_key)
            make_transient(unit_key)
            cached.append(unit_key)
        return cached[0]

    submissions.keyring = type("Keyring", (), {  # type: ignore[assignment]
        "active_unit_key": staticmethod(active_unit_key)})
    submissions._unused_case_id = lambda _session: random_id()  # type: ignore[assignment]


def hpke_cache() -> None:
    """Keep each private key's HPKE object for the rest of the request."""
    from flask import g, has_request_context

    from reportline.crypto.keys import PrivateKey

    if hasattr(PrivateKey, "_hpke_key"):
        raise SystemExit("hpke-cache: this revision already keeps each key's HPKE object")
    original = PrivateKey._hpke

    def cached(self: PrivateKey) -> Any:
        if not has_request_context():
            return original(self)
        store = g.setdefault("bench_hpke", {})
        if self.raw not in store:
            store[self.raw] = original(self)
        return store[self.raw]

    PrivateKey._hpke = cached  # type: ignore[method-assign]


def no_page_cache() -> None:
    """Render the cached reporter pages on every request (what the page cache saves)."""
    from flask import current_app

    from reportline.web.reporter import views

    if not hasattr(views, "render_cached"):
        raise SystemExit("no-page-cache: this revision has no page cache")
    original = views.render_cached

    def uncached(*args: Any, **kwargs: Any) -> str:
        current_app.extensions.pop("reportline.page_cache", None)
        return original(*args, **kwargs)

    views.render_cached = uncached  # type: ignore[assignment]


EXPERIMENTS: dict[str, Callable[[], None]] = {
    "form-cache": form_cache,
    "receipt-cache": receipt_cache,
    "lean-submit": lean_submit,
    "hpke-cache": hpke_cache,
    "no-page-cache": no_page_cache,
}


def apply(names: list[str]) -> None:
    """Apply the named experiments (in the server process, before it serves)."""
    for name in names:
        EXPERIMENTS[name]()
