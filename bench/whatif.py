"""What-if experiments: a proposed optimisation, simulated in the benchmark's server process.

`python -m bench.server --what-if NAME` applies one of these before serving, so
a benchmark can measure the app with and without the change in the same run.
They patch the running process only: the package is not changed, and nothing
here is a finished implementation (see docs/performance.md for the proposals).

form-cache
    Render the empty report form once per language and, on later GETs, only
    put this visitor's CSRF token and one-time `submission` value into the
    cached HTML (what a real change would do with a cached template fragment).
hpke-cache
    Build the HPKE private-key object of a key once per request instead of on
    every `open_sealed` (the queue opens 50 case secrets with the same unit key).
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


def hpke_cache() -> None:
    """Keep each private key's HPKE object for the rest of the request."""
    from flask import g, has_request_context

    from reportline.crypto.keys import PrivateKey

    original = PrivateKey._hpke

    def cached(self: PrivateKey) -> Any:
        if not has_request_context():
            return original(self)
        store = g.setdefault("bench_hpke", {})
        if self.raw not in store:
            store[self.raw] = original(self)
        return store[self.raw]

    PrivateKey._hpke = cached  # type: ignore[method-assign]


EXPERIMENTS: dict[str, Callable[[], None]] = {
    "form-cache": form_cache,
    "hpke-cache": hpke_cache,
}


def apply(names: list[str]) -> None:
    """Apply the named experiments (in the server process, before it serves)."""
    for name in names:
        EXPERIMENTS[name]()
