"""Keys and costs an instance derives from its settings.

`reportline.config` parses settings and imports nothing from the rest of the
package; what is computed from them with cryptography lives here.
"""

from __future__ import annotations

import fcntl
import hashlib
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
PIN_SETTING, NEXT_PIN_SETTING = "unit_key_fingerprint", "unit_key_fingerprint_next"
RECOVERY_PIN_SETTING = "recovery_key_sha256"
EXCLUSION_PIN_SETTING = "exclusion_key_fingerprint"
EXCLUSION_NEXT_PIN_SETTING = "exclusion_key_fingerprint_next"
_COMMENTS = {
    PIN_SETTING: _PIN_COMMENT,
    NEXT_PIN_SETTING: (
        "# The unit key a rotation under way moves to (written by `keys rotate`; docs/crypto.md).\n"
    ),
    RECOVERY_PIN_SETTING: (
        "# SHA-256 of the recovery public key, the only one unit keys are sealed to\n"
        "# (written by `init`, `keys new-recovery`, `keys verify-recovery`; docs/crypto.md).\n"
    ),
    EXCLUSION_PIN_SETTING: (
        "# The exclusion group's key, the only one reports with an exclusion are sealed to\n"
        "# (written by `init` or `keys init-exclusion`; docs/crypto.md).\n"
    ),
    EXCLUSION_NEXT_PIN_SETTING: (
        "# The exclusion key a rotation is committing (written by `keys rotate-exclusion`).\n"
    ),
}


@dataclass(frozen=True)
class Pins:
    """The key pins the instance config holds: the unit key reports are sealed to, the
    one a rotation under way moves to (None outside a rotation), the recovery key, and
    the exclusion group's key."""

    current: str | None
    next: str | None
    recovery: str | None = None
    exclusion: str | None = None
    exclusion_next: str | None = None


def read_pins(instance: Path) -> Pins:
    """The pins as the config file says now (not as this process loaded it).
    Raises SetupError if the file cannot be read."""
    config = instance / CONFIG_FILE_NAME
    try:
        values = tomllib.loads(config.read_text("utf-8")) if config.exists() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SetupError(f"cannot read the key pins in {config}: {exc}") from exc
    names = (
        PIN_SETTING,
        NEXT_PIN_SETTING,
        RECOVERY_PIN_SETTING,
        EXCLUSION_PIN_SETTING,
        EXCLUSION_NEXT_PIN_SETTING,
    )
    found = [values.get(name) for name in names]
    return Pins(*(value if isinstance(value, str) else None for value in found))


def pin_unit_key(instance: Path, fingerprint: str, next_fingerprint: str | None = None) -> None:
    """Record the unit key's fingerprint in the instance config, replacing any earlier
    pin: new reports are sealed only to that key, so a key planted in the database is
    never used. `next_fingerprint` is the key a rotation under way moves to; only it
    may be pinned by resuming one."""
    _set(instance, {PIN_SETTING: fingerprint, NEXT_PIN_SETTING: next_fingerprint})


def pin_recovery_key(instance: Path, public_key_sha256: str | None) -> None:
    """Record the recovery key (SHA-256 of its public key, hex): unit keys are sealed to
    no other."""
    _set(instance, {RECOVERY_PIN_SETTING: public_key_sha256})


def pin_exclusion_key(
    instance: Path, fingerprint: str | None, next_fingerprint: str | None = None
) -> None:
    """Record the exclusion group's key fingerprint: reports with an exclusion are sealed
    to that key only (`keyring.PinnedExclusionKey`). `next_fingerprint`: the key a
    rotation is about to commit, taken only once the pinned one is retired."""
    _set(
        instance,
        {EXCLUSION_PIN_SETTING: fingerprint, EXCLUSION_NEXT_PIN_SETTING: next_fingerprint},
    )


def recovery_pin(public_key: bytes) -> str:
    """The recovery key's pin: SHA-256 of its raw public key, in hex."""
    return hashlib.sha256(public_key).hexdigest()


def _set(instance: Path, values: dict[str, str | None]) -> None:
    """Replace these settings' lines (None removes one). The config is replaced whole,
    under a lock, by a new file made afresh (never through a link) with the old one's
    mode and owner, so a server re-reading it never sees half a file or a pin lost to
    a concurrent writer."""
    config = instance / CONFIG_FILE_NAME
    lock = os.open(instance / ".config.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = config.read_text("utf-8") if config.exists() else ""
        for name in values:
            text = text.replace(_COMMENTS[name], "")
            if name == PIN_SETTING:
                text = text.replace(_OLD_PIN_COMMENT, "")
            text = re.sub(rf"^{name}\s*=.*\n?", "", text, flags=re.MULTILINE)
        text = text.rstrip("\n") + "\n"
        for name, value in values.items():
            if value is not None:
                text += _COMMENTS[name] + f'{name} = "{value}"\n'
        _replace(config, text.lstrip("\n"))
    finally:
        os.close(lock)


def _replace(config: Path, text: str) -> None:
    draft = config.with_name(config.name + ".new")
    draft.unlink(missing_ok=True)  # a leftover (or a planted link): never written through
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            if config.exists():
                kept = config.stat()
                os.fchmod(handle.fileno(), kept.st_mode & 0o777)
                if (kept.st_uid, kept.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), kept.st_uid, kept.st_gid)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, config)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    folder = os.open(config.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
