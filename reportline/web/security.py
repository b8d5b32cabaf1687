"""The web surface's hardening: headers, proxy trust, logging without identifiers.

Every response gets the same strict headers. Nothing here, or anywhere,
logs a client address, user agent, referrer or query string; reporter-side
requests write nothing to the shared log, and their errors go to a file of
their own with the date only (`configure_logging`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from reportline.config import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "clipboard-read",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
HSTS = "max-age=63072000; includeSubDomains"
# Set (and removed again) by a view whose response carries its own, stricter CSP.
STRICTER_CSP_MARK = "X-ReportLine-Own-CSP"
OFFICER_PREFIX = "/triage"
# The largest body a view marked `accepts_files` takes (app.config; the ReportLine request
# class reads it); every other view takes MAX_CONTENT_LENGTH (`max_request_bytes`).
FILE_FORM_MAX_BYTES = "REPORTLINE_FILE_FORM_MAX_BYTES"

View = TypeVar("View", bound=Callable[..., object])


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every response carries: the app's pages and the server's own error
    pages (`reportline.web.server`) alike."""
    headers = dict(SECURITY_HEADERS)
    if settings.https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def accepts_files(view: View) -> View:
    """Mark a view whose form may carry files: its request body may be as large as
    `evidence_form_max_bytes`; any other view's is capped at `max_request_bytes`.

    Put it under the route decorator. tests/web/test_request_bodies.py lists, from the
    URL map, the only endpoints allowed to carry it.
    """
    view.accepts_files = True  # type: ignore[attr-defined]
    return view


def takes_files(app: Flask, endpoint: str | None) -> bool:
    """Whether `endpoint` (None: no route matched) is a view marked `accepts_files`."""
    view = app.view_functions.get(endpoint) if endpoint else None
    return bool(getattr(view, "accepts_files", False))


def is_officer_path(path: str) -> bool:
    """Whether a request belongs to the officer side (anything else is reporter-side)."""
    return path == OFFICER_PREFIX or path.startswith(OFFICER_PREFIX + "/")


class LogFormatter(logging.Formatter):
    """Full timestamps for the shared log (officer-side and operator records only)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")


class DateOnlyFormatter(logging.Formatter):
    """The reporter-side error file: the date, never the time of day."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d")


def _reporter_side() -> bool:
    """Whether the record being logged comes from a reporter-side request."""
    try:
        return bool(request) and not is_officer_path(request.path)
    except RuntimeError:  # outside a request: operator commands, start-up, housekeeping
        return False


class OfficerSideOnly(logging.Filter):
    """Lets through what did not come from a reporter-side request."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop records of reporter-side requests."""
        return not _reporter_side()


class ReporterSideOnly(logging.Filter):
    """Lets through only what came from a reporter-side request."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep records of reporter-side requests only."""
        return _reporter_side()


class PrivateFileHandler(logging.FileHandler):
    """A log file created readable by the service's own user only (mode 0600)."""

    def _open(self):
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(descriptor, "a", encoding=self.encoding or "utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record, then set the file's times back to the start of the day: its
        modification time would otherwise time the last reporter-side error exactly."""
        super().emit(record)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        os.utime(self.baseFilename, (midnight.timestamp(), midnight.timestamp()))


def configure_logging(app: Flask, settings: Settings) -> None:
    """The app's log: officer-side and operator records to stderr, with full times;
    reporter-side errors only to `reporter_error_log` (date only), or nowhere.

    A shared stream (journald, a container runtime) stamps every line with the
    time it arrived and keeps lines in order, so a reporter-side line there would
    date a reporter's request to the second whatever it says itself. Reporter
    requests log nothing on success; an error on a reporter page goes to a file
    of its own that the operator can turn off (`reporter_error_log = ""`).
    """
    shared = logging.StreamHandler(sys.stderr)
    shared.setFormatter(LogFormatter())
    shared.addFilter(OfficerSideOnly())
    handlers: list[logging.Handler] = [shared]
    if settings.reporter_error_log:
        path = settings.instance_path / settings.reporter_error_log
        reporter = PrivateFileHandler(path, delay=True)
        reporter.setLevel(logging.ERROR)
        reporter.setFormatter(DateOnlyFormatter())
        reporter.addFilter(ReporterSideOnly())
        handlers.append(reporter)
    # Flask names the logger after the package, so every app in a process shares it.
    for old in app.logger.handlers:
        old.close()
    app.logger.handlers[:] = handlers
    app.logger.setLevel(settings.log_level.upper())
    app.logger.propagate = False
    # Werkzeug's development server logs every request with the client address.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def init_app(app: Flask, settings: Settings) -> None:
    """Install proxy trust, headers on every response and the officer access log."""
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_hops,
            x_proto=settings.proxy_hops,
            x_host=settings.proxy_hops,
        )
    configure_logging(app, settings)

    headers = security_headers(settings)

    @app.after_request
    def _secure_headers(response: Response) -> Response:
        for name, value in headers.items():
            # A body that sets its own, stricter policy keeps it (evidence: sandboxed).
            if name != "Content-Security-Policy" or not response.headers.get(STRICTER_CSP_MARK):
                response.headers[name] = value
        response.headers.pop(STRICTER_CSP_MARK, None)
        if g.get("csp_connect_self"):
            # A form with files sends them ahead in chunks (static/js/evidence.js).
            response.headers["Content-Security-Policy"] += "; connect-src 'self'"
        response.headers.pop("Expires", None)
        response.headers.pop("Last-Modified", None)
        if is_officer_path(request.path):
            officer_id = g.get("officer_id")
            app.logger.info(
                "%s %s %s officer=%s",
                request.method,
                request.url_rule.rule if request.url_rule else "(no route)",
                response.status_code,
                officer_id if officer_id is not None else "-",
            )
        return response
