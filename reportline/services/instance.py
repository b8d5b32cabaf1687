"""Keys and costs an instance derives from its settings.

`reportline.config` parses settings and imports nothing from the rest of the
package; what is computed from them with cryptography lives here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from reportline.config import CONFIG_FILE_NAME, Settings
from reportline.crypto.kdf import Argon2Cost, hkdf
from reportline.db import make_engine, make_sessionmaker
from reportline.services.errors import SetupError


def integrity_key(settings: Settings) -> bytes:
    """Key for MACs over rows a database writer must not plant (unit and officer keys,
    one-time links). Derived from the pepper, so it needs the instance config."""
    return hkdf(settings.receipt_pepper, "instance:integrity")


def audit_key(settings: Settings) -> bytes:
    """Key of the audit log's HMAC chain: without the instance config it cannot be redone."""
    return hkdf(settings.receipt_pepper, "instance:audit-chain")


def ledger_key(settings: Settings) -> bytes:
    """Key of the queue ledger's MAC (services.ledger)."""
    return hkdf(settings.receipt_pepper, "instance:queue-ledger")


def form_ticket_key(settings: Settings) -> bytes:
    """Key that signs report forms' one-time values (services.form_tickets)."""
    return hkdf(settings.secret_key, "instance:form-ticket")


def spent_form_key(settings: Settings) -> bytes:
    """Key of the hash under which a report form's spent value is kept."""
    return hkdf(settings.receipt_pepper, "instance:spent-form")


def device_key(settings: Settings) -> bytes:
    """Key that signs the cookie a browser earns by an officer's sign-in."""
    return hkdf(settings.secret_key, "instance:officer-device")


def argon2_cost(settings: Settings) -> Argon2Cost:
    """The Argon2id cost new password wrappings use."""
    return Argon2Cost(
        settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism
    )


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A session on the instance's database outside any request (commands, benchmarks).

    It can append to the audit log; its engine is disposed of on leaving.
    """
    engine = make_engine(settings.database_url, binary_results=True)
    try:
        with make_sessionmaker(
            engine, audit_key(settings), ledger_key(settings), integrity_key(settings)
        )() as session:
            yield session
    finally:
        engine.dispose()


_PIN_COMMENT = (
    "# The unit key new reports are sealed to (written by `init` and `keys rotate`; see\n"
    "# docs/security.md).\n"
)
_OLD_PIN_COMMENT = (
    "# The unit key new reports are sealed to (written by `init`; see docs/security.md).\n"
)
_NEXT_PIN_COMMENT = (
    "# The unit key a rotation under way moves to (written by `keys rotate`; docs/crypto.md).\n"
)
_PIN_LINE = re.compile(r"^unit_key_fingerprint(_next)?\s*=.*\n?", re.MULTILINE)
PIN_SETTING, NEXT_PIN_SETTING = "unit_key_fingerprint", "unit_key_fingerprint_next"


@dataclass(frozen=True)
class Pins:
    """The unit key fingerprints the instance config holds: the key reports are sealed to,
    and the one a rotation under way moves to (None outside a rotation)."""

    current: str | None
    next: str | None


def read_pins(instance: Path) -> Pins:
    """The pins as the config file says now (not as this process loaded it).
    Raises SetupError if the file cannot be read."""
    config = instance / CONFIG_FILE_NAME
    try:
        values = tomllib.loads(config.read_text("utf-8")) if config.exists() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SetupError(f"cannot read the unit key pin in {config}: {exc}") from exc
    current, pending = values.get(PIN_SETTING), values.get(NEXT_PIN_SETTING)
    return Pins(
        current if isinstance(current, str) else None,
        pending if isinstance(pending, str) else None,
    )


def pin_unit_key(instance: Path, fingerprint: str, next_fingerprint: str | None = None) -> None:
    """Record the unit key's fingerprint in the instance config, replacing any earlier
    pin: new reports are sealed only to that key, so a key planted in the database is
    never used. `next_fingerprint` is the key a rotation under way moves to; only it
    may be pinned by resuming one. The config is replaced whole (a new file renamed
    over it), so a server re-reading it never sees half a file."""
    config = instance / CONFIG_FILE_NAME
    text = config.read_text("utf-8") if config.exists() else ""
    for comment in (_PIN_COMMENT, _OLD_PIN_COMMENT, _NEXT_PIN_COMMENT):
        text = text.replace(comment, "")
    text = _PIN_LINE.sub("", text)
    text = text.rstrip("\n") + "\n" + _PIN_COMMENT + f'{PIN_SETTING} = "{fingerprint}"\n'
    if next_fingerprint is not None:
        text += _NEXT_PIN_COMMENT + f'{NEXT_PIN_SETTING} = "{next_fingerprint}"\n'
    draft = config.with_name(config.name + ".new")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text.lstrip("\n"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, config)
