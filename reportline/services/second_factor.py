"""TOTP second factor and one-time recovery codes.

The TOTP seed is sealed to the officer's own public key, so it is readable only
after the password has unlocked the officer's private key. A code is accepted
once: the time step it matched is stored and no earlier or equal step is
accepted again. The clock window is one step either side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey, open_sealed, seal
from reportline.models import Officer, RecoveryCode

ISSUER = "ReportLine"
STEP_SECONDS = 30
WINDOW_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_totp_seed() -> str:
    """A random base32 TOTP seed (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(seed: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(seed).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> bytes:
    """The provisioning URI drawn as a standalone SVG QR code (no outside service)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, dark="#0b0c0c", light="#ffffff", xmldecl=False
    )
    return buffer.getvalue()


def _seed_context(officer_id: int) -> bytes:
    return context("officer-totp", officer=officer_id)


def store_totp_seed(officer: Officer, seed: str) -> None:
    """Seal the seed to the officer's public key and reset the replay guard."""
    if officer.public_key is None:
        raise ValueError("officer has no key pair yet")
    officer.totp_seed_sealed = seal(
        seed.encode("ascii"), PublicKey(officer.public_key), _seed_context(officer.id)
    )
    officer.totp_last_step = None


def open_totp_seed(officer: Officer, private_key: PrivateKey) -> str:
    """Read the officer's TOTP seed with their unlocked private key."""
    if officer.totp_seed_sealed is None:
        raise DecryptionError("no second factor is set up")
    return open_sealed(officer.totp_seed_sealed, private_key, _seed_context(officer.id)).decode(
        "ascii"
    )


def matching_step(seed: str, code: str, now: datetime) -> int | None:
    """The time step within the window whose code equals `code`, or None."""
    # ASCII digits only: str.isdigit() also takes other scripts' digits, which
    # compare_digest refuses with an exception instead of a mismatch.
    digits = "".join(ch for ch in code if ch in "0123456789")
    if len(digits) != 6:
        # Still compute codes so that a malformed code costs the same as a wrong one.
        digits = "xxxxxx"
    totp = pyotp.TOTP(seed)
    current = int(now.replace(tzinfo=UTC).timestamp()) // STEP_SECONDS
    found = None
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            found = step
    return found


def accept_totp(session: Session, officer: Officer, seed: str, code: str, now: datetime) -> bool:
    """Check a TOTP code and remember its step so the same code is refused next time.

    The step is recorded by a conditional UPDATE, so of two sign-ins racing with
    one code (on PostgreSQL, where they can run at once) only one succeeds.
    """
    step = matching_step(seed, code, now)
    if step is None or (officer.totp_last_step is not None and step <= officer.totp_last_step):
        return False
    session.flush()  # the officer's pending changes first, so they cannot overwrite the step
    result = session.execute(
        update(Officer)
        .where(
            Officer.id == officer.id,
            or_(Officer.totp_last_step.is_(None), Officer.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(officer, "totp_last_step", step)
    return True


def _normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch in _RECOVERY_ALPHABET)


def _hash_recovery_code(code: str) -> bytes:
    return hashlib.sha256(b"reportline:v1:recovery-code:" + code.encode("ascii")).digest()


def looks_like_recovery_code(code: str) -> bool:
    """Whether typed text has the shape of a recovery code rather than a 6-digit TOTP."""
    return len(_normalise_recovery_code(code)) == 16


def new_recovery_codes(session: Session, officer: Officer) -> list[str]:
    """Replace the officer's recovery codes with ten new ones; return them (shown once)."""
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.officer_id == officer.id)):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        session.add(RecoveryCode(code_hash=_hash_recovery_code(raw), officer_id=officer.id))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    session.flush()
    return codes


def use_recovery_code(session: Session, officer: Officer, code: str) -> bool:
    """Consume a recovery code if it is one of the officer's unused codes."""
    normalised = _normalise_recovery_code(code)
    if len(normalised) != 16:
        return False
    # One conditional DELETE: of two sign-ins racing with one code, only one deletes it.
    result = session.execute(
        delete(RecoveryCode)
        .where(
            RecoveryCode.code_hash == _hash_recovery_code(normalised),
            RecoveryCode.officer_id == officer.id,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def remaining_recovery_codes(session: Session, officer: Officer) -> int:
    """How many unused recovery codes the officer has."""
    return len(
        session.scalars(
            select(RecoveryCode.code_hash).where(RecoveryCode.officer_id == officer.id)
        ).all()
    )


def dummy_seed() -> str:
    """A throw-away seed used to make a failed login cost what a real one costs."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")
