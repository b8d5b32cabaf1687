"""Accessors the views share: settings, the clock and the database session."""

from __future__ import annotations

import ipaddress
from datetime import date, datetime

from flask import current_app, request

from reportline.config import CONFIG_FILE_NAME, Settings
from reportline.services import instance
from reportline.services.flood import FloodMeter
from reportline.services.keyring import PinnedExclusionKey, PinnedUnitKey
from reportline.services.limits import WorkGate
from reportline.services.submissions import SubmissionKeys


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
    """The client's network address, for throttle buckets only. Never stored or logged.

    An IPv6 address stands for its /64: one machine can use any address in it,
    which would otherwise let it spread guesses over every bucket.
    """
    address = request.remote_addr
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def pinned_unit_key() -> PinnedUnitKey:
    """The app's unit key (pinned in the config, which is read again when it changes)."""
    value: PinnedUnitKey | None = current_app.extensions.get("reportline.unit_key")
    pin = settings().unit_key_fingerprint
    if value is None or value.configured != pin:
        config = settings().instance_path / CONFIG_FILE_NAME
        value = current_app.extensions["reportline.unit_key"] = PinnedUnitKey(pin, config)
    return value


def pinned_exclusion_key() -> PinnedExclusionKey:
    """The app's exclusion key, for reports whose reporter keeps someone out: the one
    pinned in the config (read again when it changes); `.get(session)` -> (id, key)."""
    value: PinnedExclusionKey | None = current_app.extensions.get("reportline.exclusion_key")
    pin = settings().exclusion_key_fingerprint
    if value is None or value.configured != pin:
        config = settings().instance_path / CONFIG_FILE_NAME
        value = current_app.extensions["reportline.exclusion_key"] = PinnedExclusionKey(pin, config)
    return value


def flood_meter() -> FloodMeter:
    """This process's count of recent reports (services.flood)."""
    value: FloodMeter = current_app.extensions["reportline.flood_meter"]
    return value


def submission_keys() -> SubmissionKeys:
    """The instance secrets a submission uses."""
    return SubmissionKeys(settings().receipt_pepper, instance.spent_form_key(settings()))


def follow_up_gate() -> WorkGate:
    """This process's bound on receipt checks in flight."""
    value: WorkGate = current_app.extensions["reportline.follow_up_gate"]
    return value


def argon2_gate(known_device: bool) -> WorkGate:
    """This process's bound on Argon2id runs: one lane for browsers an officer signed in
    from before, one for everyone else, so strangers cannot crowd officers out."""
    lane = "device" if known_device else "stranger"
    value: WorkGate = current_app.extensions[f"reportline.argon2_gate.{lane}"]
    return value
