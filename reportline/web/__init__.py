"""The web layer: thin views over services, shared templates, one security policy."""

from __future__ import annotations

from flask import Flask

from reportline.config import Settings
from reportline.services import instance
from reportline.services.flood import FloodMeter
from reportline.services.limits import WorkGate
from reportline.web import database, display, errors, i18n, labels, security
from reportline.web.admin import (  # noqa: F401 (registers their routes)
    access_views,
    audit_views,
    keys_views,
    mail_views,
)
from reportline.web.admin.views import blueprint as admin_blueprint
from reportline.web.forms import csrf, csrf_token_for_page
from reportline.web.reporter.views import blueprint as reporter_blueprint
from reportline.web.triage import (  # noqa: F401 (registers their routes)
    alert_views,
    casework_views,
    evidence_views,
    handover_views,
    password_views,
)
from reportline.web.triage.views import blueprint as triage_blueprint

# Supervisor pages live under /triage/admin/ and inherit the officer check first.
triage_blueprint.register_blueprint(admin_blueprint)


def register_web(app: Flask, settings: Settings) -> None:
    """Configure Flask from Settings and attach every part of the web layer."""
    cookie_name = "__Host-rl_session" if settings.https else "rl_session"
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        # Views marked security.accepts_files take this instead of MAX_CONTENT_LENGTH.
        **{security.FILE_FORM_MAX_BYTES: settings.evidence_form_max_bytes},
        SESSION_COOKIE_NAME=cookie_name,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.https,
        SESSION_COOKIE_PATH="/",
        SESSION_PERMANENT=False,
        SESSION_REFRESH_EACH_REQUEST=False,
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
        # A token lives as long as the (non-persistent) session cookie: a reporter
        # who takes an hour over a report must not lose it to an expired token.
        WTF_CSRF_TIME_LIMIT=None,
        # Flask-WTF's strict mode demands a same-origin Referer on HTTPS, which
        # Referrer-Policy: no-referrer means browsers never send. The token and
        # SameSite=Strict cookies are the defence.
        WTF_CSRF_SSL_STRICT=False,
        # Every message a form shows is our own (translated by our catalogue); loading
        # WTForms' catalogue from disk for each form cost 0.4 ms a request.
        WTF_I18N_ENABLED=False,
        TEMPLATES_AUTO_RELOAD=False,
    )
    # Per process, in memory: how fast reports arrive (services.flood).
    app.extensions["reportline.flood_meter"] = FloodMeter(
        settings.flood_reports, settings.flood_window_minutes * 60
    )
    # Gates on expensive work: a receipt check takes about a millisecond, so a few may
    # queue for it; strangers' Argon2id runs (0.2 s each) may queue one deep, so they
    # never hold more than two of the server's threads; known devices have their own.
    app.extensions["reportline.follow_up_gate"] = WorkGate(
        settings.follow_up_concurrent_checks, wait_seconds=5, waiting=4
    )
    app.extensions["reportline.argon2_gate.stranger"] = WorkGate(
        settings.argon2_stranger_slots, wait_seconds=5, waiting=settings.argon2_stranger_slots
    )
    app.extensions["reportline.argon2_gate.device"] = WorkGate(1, wait_seconds=30, waiting=4)
    database.init_app(
        app,
        settings.database_url,
        instance.audit_key(settings),
        instance.ledger_key(settings),
        instance.integrity_key(settings),
    )
    csrf.init_app(app)
    # Officer pages check their own tokens, bound to the officer's session (access.py).
    csrf.exempt(triage_blueprint)
    csrf.exempt(admin_blueprint)
    # Flask-WTF puts its own csrf_token() in globals and in every template's context.
    app.jinja_env.globals["csrf_token"] = csrf_token_for_page
    app.context_processor(lambda: {"csrf_token": csrf_token_for_page})
    i18n.init_app(app)
    labels.register(app)
    app.jinja_env.globals["proof_bits"] = lambda: settings.proof_of_work_bits
    # The report form promises an urgent alert within 15 minutes only when mail is on.
    app.jinja_env.globals["urgent_alerts"] = settings.mail_configured
    display.register(app)
    security.init_app(app, settings)
    app.register_blueprint(reporter_blueprint)
    app.register_blueprint(triage_blueprint)
    errors.register_error_handlers(app)
