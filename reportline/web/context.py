"""Accessors the views share: settings, the clock and the database session."""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app, request

from reportline.config import Settings


def settings() -> Settings:
    """The app's parsed settings."""
    value: Settings = current_app.extensions["reportline.settings"]
    return value


def now() -> datetime:
    """The current UTC time (tests move this clock instead of sleeping)."""
    value: datetime = current_app.extensions["reportline.clock"]()
    return value


def today() -> date:
    """Today's UTC date: the only precision kept for anything a reporter does."""
    return now().date()


def client_address() -> str | None:
    """The client's network address, for throttle buckets only. Never stored or logged."""
    return request.remote_addr
