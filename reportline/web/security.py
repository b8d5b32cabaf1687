"""The web surface's hardening: headers, proxy trust, logging without identifiers.

Every response gets the same strict headers. Nothing here, or anywhere,
logs a client address, user agent, referrer or query string; reporter-side
log lines carry the date only.
"""

from __future__ import annotations

import logging
import sys

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
OFFICER_PREFIX = "/triage"


def is_officer_path(path: str) -> bool:
    """Whether a request belongs to the officer side (anything else is reporter-side)."""
    return path == OFFICER_PREFIX or path.startswith(OFFICER_PREFIX + "/")


class LogFormatter(logging.Formatter):
    """Date-only timestamps for reporter-side records, full time for the rest."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """Full timestamp on officer-side records, the date alone otherwise."""
        if getattr(record, "officer_side", False):
            return super().formatTime(record, "%Y-%m-%dT%H:%M:%S")
        return super().formatTime(record, "%Y-%m-%d")


class SideFilter(logging.Filter):
    """Marks each record with whether it came from an officer-side request."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Tag the record; never drops it."""
        try:
            record.officer_side = bool(request) and is_officer_path(request.path)
        except RuntimeError:  # outside a request: operator commands, start-up
            record.officer_side = True
        return True


def configure_logging(app: Flask, level: str) -> None:
    """Send the app's log to stderr in our format; silence the servers' own access logs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())
    handler.addFilter(SideFilter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(level)
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
    configure_logging(app, settings.log_level.upper())

    @app.after_request
    def _secure_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        response.headers.pop("Expires", None)
        response.headers.pop("Last-Modified", None)
        if settings.https:
            response.headers["Strict-Transport-Security"] = HSTS
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
