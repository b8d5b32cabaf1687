"""Every error answered in one place: a friendly page, the right status, nothing leaked."""

from __future__ import annotations

from flask import Flask, Response, g, render_template
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from reportline.config import Settings
from reportline.crypto.errors import DecryptionError
from reportline.services.errors import AccessDenied, NotFound, Throttled

MESSAGES = {
    400: (
        _l("Something was wrong with that request"),
        _l("The page could not use what was sent. Go back, check the form and try again."),
    ),
    403: (_l("You cannot see this page"), _l("Your account does not give access to this page.")),
    404: (_l("Page not found"), _l("If you typed the web address, check it is correct.")),
    405: (
        _l("That action is not possible here"),
        _l(
            "The page does not accept that kind of request. Go back and use the page's own buttons."
        ),
    ),
    413: (
        _l("That was too much to send at once"),
        _l("What you sent is larger than this service accepts. Shorten it and try again."),
    ),
    429: (
        _l("Too many attempts"),
        _l("To keep everyone's information safe, there is a short wait before you can try again."),
    ),
    500: (
        _l("Sorry, there is a problem with the service"),
        _l("Nothing you sent was stored half-way. Try again later."),
    ),
}


def render_error(status: int, retry_after: int | None = None) -> tuple[str, int]:
    """The error page for `status`, in the site's design."""
    title, body = MESSAGES.get(status, MESSAGES[500])
    return (
        render_template(
            "error.html", status=status, title=title, body=body, retry_after=retry_after
        ),
        status,
    )


MEGABYTE = 1024 * 1024


def render_too_large(settings: Settings) -> tuple[str, int]:
    """The page for a report form or reply whose files are over the limit, naming the
    limits in MB: shown by `reportline serve` itself (`reportline.web.server`) and, for
    a proxy's own 413, at /too-large."""
    body = gettext(
        "This report was not sent: files sent from this form can be at most "
        "%(form)s MB together. Your browser's Back button should bring back what you "
        "typed; attach fewer or smaller files, or turn on JavaScript to send files "
        "up to %(file)s MB each.",
        form=settings.evidence_form_max_bytes // MEGABYTE,
        file=settings.evidence_file_max_bytes // MEGABYTE,
    )
    title = gettext("Your report was not sent")
    page = render_template("error.html", status=413, title=title, body=body)
    return page, 413


def _rollback() -> None:
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def register_error_handlers(app: Flask) -> None:
    """Map HTTP errors and domain exceptions to pages; roll back on failure."""

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
        _rollback()
        status = error.code or 500
        nearest = status if status in MESSAGES else (500 if status >= 500 else 400)
        page, _nearest = render_error(nearest)
        # The status and headers HTTP requires stay (Allow on a 405, for one); only
        # the body is ours.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return page, status, headers

    @app.errorhandler(CSRFError)
    def _csrf_error(_error: CSRFError) -> tuple[str, int]:
        _rollback()
        return render_error(400)

    @app.errorhandler(NotFound)
    def _not_found(_error: NotFound) -> tuple[str, int]:
        _rollback()
        return render_error(404)

    @app.errorhandler(AccessDenied)
    def _denied(_error: AccessDenied) -> tuple[str, int]:
        _rollback()
        return render_error(403)

    @app.errorhandler(Throttled)
    def _throttled(error: Throttled) -> Response:
        # Failure counters written before the refusal must survive it.
        session = g.get("db_session")
        if session is not None:
            session.commit()
        body, status = render_error(429, retry_after=error.retry_after)
        return Response(body, status, headers={"Retry-After": str(error.retry_after)})

    @app.errorhandler(DecryptionError)
    def _integrity(_error: DecryptionError) -> tuple[str, int]:
        _rollback()
        app.logger.error("A stored ciphertext failed authentication (possible tampering)")
        return render_error(500)

    @app.errorhandler(InternalServerError)
    def _server_error(_error: InternalServerError) -> tuple[str, int]:
        _rollback()
        return render_error(500)
