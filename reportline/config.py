"""Settings: one frozen object built from defaults, the instance config and the environment.

`load_settings` is a pure function over a mapping of environment variables and
an instance folder. A missing secret or a bad value stops start-up with a
`ConfigError` that names the setting and says how to fix it. This module is
the bottom layer: it imports nothing else from ReportLine (keys derived from
the secrets come from `reportline.services.instance`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_FILE_NAME = "config.toml"
ENV_PREFIX = "REPORTLINE_"
# REPORTLINE_* variables that are read elsewhere, not settings.
_NOT_SETTINGS = {"REPORTLINE_INSTANCE", "REPORTLINE_TEST_DATABASE_URL"}


class ConfigError(Exception):
    """A setting is missing or invalid; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything ReportLine reads from its configuration, parsed and checked."""

    instance_path: Path
    # Secrets (and a URL that may hold a password) stay out of reprs and tracebacks.
    secret_key: bytes = field(repr=False)
    receipt_pepper: bytes = field(repr=False)
    database_url: str = field(repr=False)
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536
    argon2_parallelism: int = 1
    officer_idle_minutes: int = 15
    officer_absolute_hours: int = 8
    reporter_session_minutes: int = 60
    https: bool = False
    proxy_hops: int = 0
    leave_url: str = "/leave"
    max_request_bytes: int = 1024 * 1024
    queue_page_size: int = 25
    login_free_attempts: int = 3
    login_lockout_after: int = 10
    throttle_max_delay_seconds: int = 900
    officer_device_days: int = 180
    argon2_stranger_slots: int = 1
    follow_up_concurrent_checks: int = 1
    form_lifetime_hours: int = 24
    min_form_seconds: int = 3
    proof_of_work_bits: int = 16
    flood_reports: int = 30
    flood_window_minutes: int = 10
    flood_max_reports: int = 2000
    receipt_keep_minutes: int = 5
    housekeeping_in_process: bool = True
    log_level: str = "INFO"
    # Where errors on reporter pages are written (never to the shared log); "" = nowhere.
    reporter_error_log: str = "reporter-errors.log"
    # The national corruption categories triage offers; empty = the usual list
    # (services.triage_record.DEFAULT_NATIONAL_CATEGORIES). In the environment,
    # separate them with "|".
    national_categories: tuple[str, ...] = ()
    # Written by `init`: the unit public key new reports may be sealed to.
    unit_key_fingerprint: str | None = None
    # Written by `keys rotate` while a rotation runs: the key it moves to (docs/crypto.md).
    unit_key_fingerprint_next: str | None = None
    # The recovery key's pin: SHA-256 of its public key (docs/crypto.md).
    recovery_key_sha256: str | None = None
    # Written by `init` or `keys init-exclusion`: the exclusion group's key, which reports
    # whose reporter asks to keep someone in the unit out are sealed to (docs/crypto.md).
    exclusion_key_fingerprint: str | None = None
    # Written by `keys rotate-exclusion` just before it commits: the key it moves to,
    # taken only once the pinned one is retired (a crash between the two writes).
    exclusion_key_fingerprint_next: str | None = None
    # The route outside the unit the report form offers a reporter who must keep out
    # someone who reads such reports first (e.g. the IOPC's reporting line): its words
    # and its address (https only: a plain-http link would show the proxy a reporter
    # leaving for the outside route right after the form).
    exclusion_route_text: str = ""
    exclusion_route_url: str | None = None
    # E-mail alerts (services.alerts): off while smtp_host is unset. The password is a
    # secret; a login is only ever made over TLS (STARTTLS, or implicit TLS on 465).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    # A CA bundle to trust instead of the system's (a force's internal CA).
    smtp_ca_file: Path | None = None
    mail_from: str | None = None
    # The address officers open ReportLine at, for the link in an alert.
    base_url: str | None = None
    timezone: str = "Europe/London"
    # Regular alert batches: these local times on these days (0 = Monday).
    alert_times: tuple[time, ...] = tuple(time(hour) for hour in range(8, 19))
    alert_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    notify_in_process: bool = True
    # Evidence files (services.evidence; docs/security.md, "Evidence"). A file sent
    # without JavaScript arrives in one request body, which is held in memory whole:
    # `evidence_form_max_bytes` caps that body (and is the hard cap of any request
    # body). With JavaScript a file arrives in sealed chunks, up to the per-file limit.
    evidence_file_max_bytes: int = 50 * 1024 * 1024
    evidence_report_max_bytes: int = 200 * 1024 * 1024
    evidence_quota_bytes: int = 20 * 1024 * 1024 * 1024
    evidence_form_max_bytes: int = 16 * 1024 * 1024
    # The largest image, in pixels, that is decoded to be cleaned (4 bytes of memory each).
    # 15 MP keeps a PNG photo's cleaning within 64 MiB plus its size (issue 14) and
    # accepts 12-12.5 MP phone photos (4032x3024, 4080x3072).
    evidence_max_pixels: int = 15_000_000

    @property
    def mail_configured(self) -> bool:
        """Whether alerts are on: an SMTP server is named."""
        return self.smtp_host is not None

    @property
    def smtp_implicit_tls(self) -> bool:
        """Whether the SMTP connection is TLS from the first byte (port 465, SMTPS)."""
        return self.smtp_port == SMTPS_PORT


# Settings that are plain integers, with the smallest value that makes sense.
_INT_SETTINGS: dict[str, int] = {
    "officer_idle_minutes": 1,
    "officer_absolute_hours": 1,
    "reporter_session_minutes": 1,
    "proxy_hops": 0,
    "max_request_bytes": 4096,
    "queue_page_size": 5,
    "login_free_attempts": 1,
    "login_lockout_after": 2,
    "throttle_max_delay_seconds": 1,
    "officer_device_days": 1,
    "argon2_stranger_slots": 1,
    "follow_up_concurrent_checks": 1,
    "form_lifetime_hours": 1,
    "min_form_seconds": 0,
    "proof_of_work_bits": 0,
    "flood_reports": 1,
    "flood_window_minutes": 1,
    "flood_max_reports": 0,
    "receipt_keep_minutes": 1,
    "evidence_file_max_bytes": 1,
    "evidence_report_max_bytes": 1,
    "evidence_quota_bytes": 0,
    "evidence_form_max_bytes": 65536,
    "evidence_max_pixels": 1,
}
_BOOL_SETTINGS = {"https", "housekeeping_in_process", "smtp_starttls", "notify_in_process"}
_STR_SETTINGS = {
    "leave_url",
    "log_level",
    "database_url",
    "unit_key_fingerprint",
    "unit_key_fingerprint_next",
    "recovery_key_sha256",
    "exclusion_key_fingerprint",
    "exclusion_key_fingerprint_next",
    "exclusion_route_text",
    "exclusion_route_url",
    "reporter_error_log",
    "timezone",
}
# Mail settings that are text, and unset when empty.
_OPTIONAL_STR_SETTINGS = {"smtp_host", "smtp_username", "smtp_password", "mail_from", "base_url"}
_SECRET_SETTINGS = {"secret_key", "receipt_pepper"}
SMTPS_PORT = 465
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Argon2id costs, with bounds that keep a sign-in from burning minutes or gigabytes.
_ARGON2_SETTINGS: dict[str, tuple[int, int]] = {
    "argon2_time_cost": (1, 20),
    "argon2_memory_cost_kib": (8, 4 * 1024 * 1024),
    "argon2_parallelism": (1, 16),
}
_KNOWN = {f.name for f in fields(Settings)} - {"instance_path"}


def known_setting_names() -> set[str]:
    """The name of every setting (as in instance/config.toml, lower case)."""
    return set(_KNOWN)


def load_settings(
    env: Mapping[str, str],
    instance_path: Path,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from instance/config.toml, then REPORTLINE_* variables, then overrides.

    Raises ConfigError when a value is missing or malformed.
    """
    raw: dict[str, Any] = {}
    config_file = instance_path / CONFIG_FILE_NAME
    if config_file.exists():
        try:
            raw.update(tomllib.loads(config_file.read_text("utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file} is not valid TOML: {exc}") from exc
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key not in _NOT_SETTINGS:
            name = key[len(ENV_PREFIX) :].lower()
            if name not in _KNOWN:
                raise ConfigError(
                    f"Unknown environment variable {key}: no setting is called {name}. "
                    "See instance/config.example.toml for the settings that exist."
                )
            raw[name] = value
    raw.update(overrides or {})
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} in {config_file} or the environment; "
            "see instance/config.example.toml for the settings that exist."
        )
    return _build(raw, instance_path)


def _build(raw: Mapping[str, Any], instance_path: Path) -> Settings:
    values: dict[str, Any] = {"instance_path": instance_path}
    for name in _SECRET_SETTINGS:
        values[name] = _parse_secret(name, raw.get(name))
    for name, minimum in _INT_SETTINGS.items():
        if name in raw:
            values[name] = _parse_int(name, raw[name], minimum)
    for name in _BOOL_SETTINGS:
        if name in raw:
            values[name] = _parse_bool(name, raw[name])
    for name in _STR_SETTINGS - {"database_url"}:
        if name in raw:
            values[name] = str(raw[name])
    values["database_url"] = str(
        raw.get("database_url") or f"sqlite:///{instance_path / 'reportline.sqlite3'}"
    )
    for name, (minimum, maximum) in _ARGON2_SETTINGS.items():
        if name in raw:
            values[name] = _parse_int(name, raw[name], minimum, maximum)
    if values.get("proof_of_work_bits", 0) > 28:
        raise ConfigError("proof_of_work_bits must be at most 28 (each bit doubles the work).")
    if "national_categories" in raw:
        values["national_categories"] = _parse_list(
            "national_categories", raw["national_categories"]
        )
    _mail_settings(raw, values, instance_path)
    for name in (
        "unit_key_fingerprint",
        "unit_key_fingerprint_next",
        "exclusion_key_fingerprint",
        "exclusion_key_fingerprint_next",
    ):
        pin = values.get(name)
        if pin is not None and not re.fullmatch(r"[0-9a-f]{16}", pin):
            raise ConfigError(f"{name} must be the 16 hex digits `init` printed.")
    recovery = values.get("recovery_key_sha256")
    if recovery is not None and not re.fullmatch(r"[0-9a-f]{64}", recovery):
        raise ConfigError("recovery_key_sha256 must be 64 hex digits (SHA-256).")
    _exclusion_route(values)
    leave_url = values.get("leave_url", "/leave")
    if not (leave_url.startswith("/") or leave_url.startswith("https://")):
        raise ConfigError("leave_url must be a path on this site or an https:// address.")
    if values.get("log_level", "INFO").upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("log_level must be one of DEBUG, INFO, WARNING, ERROR.")
    return Settings(**values)


EXCLUSION_ROUTE_TEXT_MAX = 500


def _exclusion_route(values: dict[str, Any]) -> None:
    """Check the route outside the unit: plain text of a sensible length, and an http(s)
    address (or none). Raises ConfigError naming the setting."""
    text = values.get("exclusion_route_text", "").strip()
    if len(text) > EXCLUSION_ROUTE_TEXT_MAX:
        raise ConfigError(
            f"exclusion_route_text must be at most {EXCLUSION_ROUTE_TEXT_MAX} characters."
        )
    values["exclusion_route_text"] = text
    url = values.get("exclusion_route_url", "").strip()
    if not url:
        values["exclusion_route_url"] = None
        return
    if not re.fullmatch(r"https://[^\s/?#@]+(/[^\s]*)?", url, re.IGNORECASE):
        raise ConfigError(
            "exclusion_route_url must be an https:// address (plain http would let the "
            "proxy see a reporter leave for it), e.g. https://www.policeconduct.gov.uk/."
        )
    values["exclusion_route_url"] = url


def _mail_settings(raw: Mapping[str, Any], values: dict[str, Any], instance_path: Path) -> None:
    """Parse the alert settings into `values`. Raises ConfigError naming the setting."""
    for name in _OPTIONAL_STR_SETTINGS:
        if str(raw.get(name) or "").strip():
            values[name] = str(raw[name]).strip()
    if "smtp_port" in raw:
        values["smtp_port"] = _parse_int("smtp_port", raw["smtp_port"], 1, 65535)
    if raw.get("smtp_ca_file"):
        ca_file = instance_path / str(raw["smtp_ca_file"])
        if not ca_file.is_file():
            raise ConfigError(f"smtp_ca_file: no such file {ca_file}.")
        values["smtp_ca_file"] = ca_file
    try:
        ZoneInfo(values.get("timezone", "Europe/London"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"timezone must be a time zone name such as Europe/London, got {values['timezone']!r}."
        ) from exc
    if "alert_times" in raw:
        values["alert_times"] = _parse_times("alert_times", raw["alert_times"])
    if "alert_days" in raw:
        values["alert_days"] = _parse_days("alert_days", raw["alert_days"])
    if values.get("smtp_password") and not values.get("smtp_username"):
        raise ConfigError("smtp_password is set without smtp_username.")
    if not values.get("smtp_password", "").isascii():
        # smtplib can send only ASCII in a login; never echo the value.
        raise ConfigError("smtp_password must be ASCII characters only (the value is not shown).")
    if not values.get("smtp_host"):
        return
    mail_from = values.get("mail_from", "")
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+", mail_from):
        raise ConfigError(
            "mail_from must be the address alerts come from, e.g. reportline@force.example."
        )
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", values.get("base_url", "")):
        raise ConfigError(
            "base_url must be the address officers open ReportLine at, e.g. "
            "https://reportline.force.example (the link in every alert)."
        )
    values["base_url"] = values["base_url"].rstrip("/")
    tls = values.get("smtp_starttls", True) or values.get("smtp_port") == SMTPS_PORT
    if values.get("smtp_username") and not tls:
        raise ConfigError(
            "smtp_username is set but the connection would not be encrypted: ReportLine "
            "never logs in without TLS. Set smtp_starttls = true, or smtp_port = 465."
        )
    if not tls and not _is_loopback(values["smtp_host"]):
        raise ConfigError(
            "smtp_starttls = false would send officers' addresses in clear: it is only for "
            "a relay on this machine (smtp_host = localhost or 127.0.0.1). Set "
            "smtp_starttls = true, or smtp_port = 465."
        )


def _is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost, or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_times(name: str, value: Any) -> tuple[time, ...]:
    """Times of day, "HH:MM", as a TOML array or separated by |; at least one."""
    times = []
    for text in _items(name, value):
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
        if not match:
            raise ConfigError(f'{name} must be times of day like "08:00", got {text!r}.')
        times.append(time(int(match.group(1)), int(match.group(2))))
    if not times:
        raise ConfigError(f"{name} needs at least one time of day.")
    return tuple(sorted(set(times)))


def _parse_days(name: str, value: Any) -> tuple[int, ...]:
    """Days of the week, "mon" to "sun", as a TOML array or separated by |; at least one."""
    days = []
    for text in _items(name, value):
        day = text.lower()[:3]
        if day not in WEEKDAYS:
            raise ConfigError(f'{name} must be days like "mon" or "sat", got {text!r}.')
        days.append(WEEKDAYS.index(day))
    if not days:
        raise ConfigError(f"{name} needs at least one day.")
    return tuple(sorted(set(days)))


def _parse_secret(name: str, value: Any) -> bytes:
    hint = (
        f"Set {name} in instance/{CONFIG_FILE_NAME} (run `reportline init`, which writes one) "
        f"or {ENV_PREFIX}{name.upper()}; it must be at least 32 random bytes, base64-encoded."
    )
    if not value:
        raise ConfigError(f"Missing secret {name}. {hint}")
    try:
        decoded = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} is not valid base64. {hint}") from exc
    if len(decoded) < 32:
        raise ConfigError(f"{name} is too short ({len(decoded)} bytes). {hint}")
    return decoded


def _parse_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}.") from exc
    if isinstance(value, bool) or number < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}, got {value!r}.")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value!r}.")
    return number


def _items(name: str, value: Any) -> tuple[str, ...]:
    """A TOML array of strings, or text with the items separated by |; blanks dropped."""
    items = value.split("|") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{name} must be a list of names, got {value!r}.")
    return tuple(item.strip() for item in items if item.strip())


def _parse_list(name: str, value: Any) -> tuple[str, ...]:
    """A list of different names (at most 32 of at most 120 characters each)."""
    names = _items(name, value)
    if len(set(names)) != len(names) or any(len(item) > 120 for item in names):
        raise ConfigError(f"{name} must be different names of at most 120 characters each.")
    if len(names) > 32:
        raise ConfigError(f"{name} holds at most 32 names.")
    return names


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}.")


def instance_path_from(env: Mapping[str, str]) -> Path:
    """The instance folder: REPORTLINE_INSTANCE, or ./instance."""
    return Path(env.get("REPORTLINE_INSTANCE", "instance")).resolve()
