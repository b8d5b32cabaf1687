"""ReportLine: an anonymous internal reporting line with encrypted reports.

`create_app` wires configuration, the database, CSRF, translations, security
headers, blueprints, error pages and CLI commands. It has no side effects: no
migrations, no key generation, no network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def utcnow() -> datetime:
    """The current time in UTC, without tzinfo (as stored in the database)."""
    return datetime.now(UTC).replace(tzinfo=None)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Flask:
    """Build the WSGI application.

    `test_config` overrides settings (the same names as instance/config.toml);
    `clock` lets tests move time instead of sleeping.
    Raises ConfigError when a setting is missing or invalid.
    """
    # Imported here so that `reportline.crypto`, `.models` and `.services`
    # (which this package's __init__ runs before) never pull in Flask.
    from reportline.config import instance_path_from, load_settings
    from reportline.web import register_web
    from reportline.web.app import ReportLineFlask

    instance_path = instance_path_from(os.environ)
    if test_config and "instance_path" in test_config:
        instance_path = test_config["instance_path"]
        test_config = {k: v for k, v in test_config.items() if k != "instance_path"}
    settings = load_settings(os.environ, instance_path, test_config)
    app = ReportLineFlask(
        __name__, instance_path=str(settings.instance_path), instance_relative_config=True
    )
    app.extensions["reportline.settings"] = settings
    app.extensions["reportline.clock"] = clock
    register_web(app, settings)
    return app
