"""Unit key rotation: a new unit key for the same holders, every case re-sealed to it.

Why and what it protects: docs/security.md ("Key events"). The order of steps
keeps every case readable by every entitled officer at every instant, even
when the process is killed between any two of them:

1. one transaction makes the new generation and seals it to every active
   officer who holds the old one and to the recovery key (`start`);
2. the caller pins the new key in the instance config, so new reports are
   sealed to it (a server not yet re-pinned keeps sealing to the old key,
   which everyone still holds);
3. case seals move from the old generation to the new in small transactions,
   each deleting an old seal and adding its replacement (`reseal_batch`);
4. one transaction retires the old key once no case is sealed to it
   (`retire`); then any report sealed to it by a process that had not yet
   seen the retirement is moved too (`reseal_batch` again), and the rotation
   is recorded as finished (`finish`).

The old generation's grants stay: they open nothing new (no report is sealed
to it after step 4) and keep a straggler readable. An interrupted rotation
is resumed by starting it again; only one runs at a time (`RotationLock`).
"""

from __future__ import annotations

import fcntl
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey, open_sealed, seal
from reportline.db import begin_read_only
from reportline.models import CaseSeal, KeyRotation, Officer, RecoveryKey, UnitKey, UnitKeyGrant
from reportline.services import (
    audit,
    cases,
    instance,
    integrity,
    keyring,
    officers,
    roles,
    second_factor,
)
from reportline.services.errors import NoKeyAccess, ServiceError, SetupError
from reportline.services.keyring import UnitKeyring

BATCH = 1000
# A number only ReportLine's rotations take as a PostgreSQL advisory lock.
ADVISORY_LOCK = keyring.ROTATION_ADVISORY_LOCK


class RotationRunning(ServiceError):
    """Another rotation holds the rotation lock."""


class RotationRefused(ServiceError):
    """The database holds a rotation or a key the instance config does not know."""


@dataclass(frozen=True)
class Progress:
    """How far a rotation is: case seals moved out of `total`."""

    rotation_id: int
    from_fingerprint: str
    to_fingerprint: str
    total: int
    remaining: int
    finished: bool

    @property
    def moved(self) -> int:
        """Case seals already under the new key."""
        return max(self.total - self.remaining, 0)


class RotationLock:
    """Held while a rotation runs; the operating system frees it if the process dies.

    PostgreSQL: a session advisory lock on a connection of its own. SQLite (one
    server): an exclusive `flock` on a file beside the database.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        """Take the lock; raise RotationRunning if another process or thread holds it."""
        if self._engine.dialect.name == "postgresql":
            connection = self._engine.connect()
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK}
            ).scalar()
            connection.commit()
            if not taken:
                connection.close()
                raise RotationRunning("another rotation of the unit key is running")
            self._connection = connection
            return
        handle = open(_lock_path(self._engine), "ab")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RotationRunning("another rotation of the unit key is running") from None
        self._file = handle

    def release(self) -> None:
        """Free the lock (a process that dies frees it too)."""
        if self._connection is not None:
            # Unlocked before the connection goes back to the pool, which keeps it open
            # (and a session lock with it); if that fails, it is closed for good.
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK}
                )
                self._connection.commit()
            except DBAPIError:
                self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _lock_path(engine: Engine) -> Path:
    database = engine.url.database or ""
    if database in ("", ":memory:"):
        raise SetupError("a rotation needs a database file")
    return Path(database).with_name(Path(database).name + ".rotation-lock")


def running(session: Session) -> KeyRotation | None:
    """The rotation not yet finished, if any."""
    return session.scalars(
        select(KeyRotation).where(KeyRotation.finished_at.is_(None)).order_by(KeyRotation.id)
    ).first()


def _seals_under(session: Session, unit_key_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CaseSeal)
            .where(CaseSeal.holder == cases.UNIT_KEY, CaseSeal.holder_id == unit_key_id)
        )
        or 0
    )


def _pinned_generation(session: Session, pin: str | None) -> UnitKey:
    """The generation whose fingerprint the config pins, checked against the pin."""
    if pin is None:
        raise SetupError("no unit key is pinned in the instance config (run `reportline init`)")
    unit_key = session.scalars(
        select(UnitKey).where(UnitKey.fingerprint == pin).order_by(UnitKey.id.desc())
    ).first()
    if unit_key is None:
        raise SetupError("no unit key has the fingerprint pinned in the instance config")
    integrity.check_unit_key(pin, unit_key)
    return unit_key


def _refuse_other_active(session: Session, *known: int) -> None:
    """A generation marked active that no pin names was made in the database alone."""
    if session.scalars(
        select(UnitKey.id).where(UnitKey.active.is_(True), UnitKey.id.not_in(known))
    ).first():
        raise RotationRefused(
            "a unit key the instance config does not pin is marked active in the database: "
            'nothing was changed (docs/operating.md, "A key the config does not know")'
        )


def pinned_recovery_key(session: Session, recovery_pin: str | None) -> RecoveryKey:
    """The current recovery key, the one the config pins; raise RotationRefused if the
    config pins none (an instance set up before the pin) or the database lacks it."""
    if recovery_pin is None:
        raise RotationRefused(
            "no recovery key is pinned in the instance config: run `reportline keys "
            "verify-recovery --recovery-key-file PATH` once with the offline key to pin it"
        )
    for recovery in session.scalars(
        select(RecoveryKey).where(RecoveryKey.retired_at.is_(None)).with_for_update()
    ):
        if hmac.compare_digest(instance.recovery_pin(recovery.public_key), recovery_pin):
            return recovery
    raise RotationRefused(
        "the recovery key pinned in the instance config is not in the database: nothing "
        'was changed (docs/operating.md, "A key the config does not know")'
    )


def start(
    session: Session,
    unit_keys: UnitKeyring,
    actor: str,
    now: datetime,
    integrity_key: bytes,
    pin: str | None,
    recovery_pin: str | None,
) -> KeyRotation:
    """Make the new unit key and seal it to the old one's holders and the recovery key.

    The old key is the one `pin` (the config's) names, never the database's choice;
    the recovery key is the one `recovery_pin` names.
    Raises RotationRunning if a rotation is unfinished (resume it instead),
    RotationRefused if another generation is marked active, NoKeyAccess if
    `unit_keys` does not open the pinned key, SetupError without one,
    DecryptionError if the pinned row or a holder's public key fails its check.
    """
    if running(session) is not None:
        raise RotationRunning("a rotation is unfinished: resume it")
    old = _pinned_generation(session, pin)
    if not old.active:
        raise SetupError("the pinned unit key was retired: pin the active key first")
    _refuse_other_active(session, old.id)
    unit_keys.get(old.id)  # NoKeyAccess before anything is made
    recovery = pinned_recovery_key(session, recovery_pin)
    # Locked, so a revoke or deactivation committing meanwhile waits and then applies
    # to the new key too; only a grant whose MAC holds (current epoch) makes a holder.
    locked = session.execute(
        select(Officer, UnitKeyGrant)
        .join(UnitKeyGrant, UnitKeyGrant.officer_id == Officer.id)
        .where(UnitKeyGrant.unit_key_id == old.id, Officer.active.is_(True))
        .order_by(Officer.id)
        .with_for_update(of=Officer)
        .execution_options(populate_existing=True)
    ).all()
    holders = [o for o, grant in locked if keyring.grant_holds(session, o, grant)]
    for officer in holders:
        integrity.check_officer_key(integrity_key, officer)
    new, new_private = keyring.create_unit_key(session, now)
    for officer in holders:
        keyring.seal_grant(session, new.id, new_private, officer, now)
    keyring.seal_recovery_grant(session, new.id, new_private, recovery, now)
    rotation = KeyRotation(
        from_unit_key_id=old.id,
        to_unit_key_id=new.id,
        started_at=now,
        total=_seals_under(session, old.id),
    )
    session.add(rotation)
    session.flush()
    audit.record(
        session, actor, "unit_key.rotation_started", now, rotation=rotation.id, holders=len(holders)
    )
    return rotation


def progress(session: Session, rotation: KeyRotation) -> Progress:
    """Where `rotation` stands now."""
    old = session.get(UnitKey, rotation.from_unit_key_id)
    new = session.get(UnitKey, rotation.to_unit_key_id)
    assert old is not None and new is not None  # foreign keys
    return Progress(
        rotation.id,
        old.fingerprint,
        new.fingerprint,
        rotation.total,
        _seals_under(session, old.id),
        rotation.finished_at is not None,
    )


def reseal_batch(session: Session, rotation: KeyRotation, unit_keys: UnitKeyring) -> int:
    """Move up to BATCH case seals from the old key to the new; return how many moved.

    The seals are opened and sealed in a read-only snapshot, then one short write
    replaces those still there (a case deleted meanwhile is skipped), so reporters
    wait for a few milliseconds of writing, never for the cryptography.
    """
    from_id, to_id = rotation.from_unit_key_id, rotation.to_unit_key_id
    old_private = unit_keys.get(from_id)
    new_public = PublicKey(unit_keys.get(to_id).public_key().raw)
    session.commit()
    begin_read_only(session)
    rows = session.execute(
        select(CaseSeal.case_id, CaseSeal.sealed)
        .where(CaseSeal.holder == cases.UNIT_KEY, CaseSeal.holder_id == from_id)
        .order_by(CaseSeal.case_id)
        .limit(BATCH)
    ).all()
    session.commit()
    if not rows:
        return 0
    resealed = {}
    for case_id, sealed in rows:
        raw = open_sealed(sealed, old_private, cases.grant_context(case_id, from_id))
        resealed[case_id] = seal(raw, new_public, cases.grant_context(case_id, to_id))
    still_there = session.scalars(
        delete(CaseSeal)
        .where(
            CaseSeal.holder == cases.UNIT_KEY,
            CaseSeal.holder_id == from_id,
            CaseSeal.case_id.in_(list(resealed)),
        )
        .returning(CaseSeal.case_id)
    ).all()
    if still_there:
        session.execute(
            insert(CaseSeal),
            [
                {
                    "case_id": case_id,
                    "holder": cases.UNIT_KEY,
                    "holder_id": to_id,
                    "sealed": resealed[case_id],
                }
                for case_id in still_there
            ],
        )
    session.commit()
    return len(still_there)


def retire(session: Session, rotation: KeyRotation, now: datetime) -> bool:
    """Retire the old key if no case is sealed to it any more; return whether it was.
    Nothing is sealed to a retired key afterwards (`keyring.PinnedUnitKey` refuses it)."""
    # Locked first: a submission that read the old key as active (FOR SHARE) commits
    # before this goes on, so its seal is counted here or found by the last sweep.
    old = session.get(UnitKey, rotation.from_unit_key_id, with_for_update=True)
    assert old is not None
    if _seals_under(session, rotation.from_unit_key_id):
        return False
    old.active = False
    old.retired_at = now
    return True


def finish(session: Session, rotation: KeyRotation, actor: str, now: datetime) -> None:
    """Record the rotation as done (after the last sweep for reports sealed to the old
    key by a process that had not yet seen it retired)."""
    rotation.finished_at = now
    audit.record(session, actor, "unit_key.rotated", now, rotation=rotation.id)


def checked_keys(
    session: Session, rotation: KeyRotation, pins: instance.Pins, unit_keys: UnitKeyring
) -> UnitKeyring:
    """The old and new private keys of `rotation`, checked against the config's pins.

    Raises RotationRefused (changing nothing) for a rotation the config does not
    know: one planted in the database, or one whose new key's grant was swapped.
    """
    old = session.get(UnitKey, rotation.from_unit_key_id)
    new = session.get(UnitKey, rotation.to_unit_key_id)
    assert old is not None and new is not None  # foreign keys
    unknown = RotationRefused(
        "the instance config does not know this unfinished rotation (its "
        "unit_key_fingerprint_next is not the new key's): nothing was changed "
        '(docs/operating.md, "A key the config does not know")'
    )
    if pins.next is None or new.fingerprint != pins.next:
        raise unknown
    before_pinning = pins.current != pins.next
    if before_pinning and old.fingerprint != pins.current:
        raise unknown
    _refuse_other_active(session, old.id, new.id)
    # Each key's own fingerprint, not its row's: only these are sealed to.
    try:
        new_private, old_private = unit_keys.get(new.id), unit_keys.get(old.id)
    except NoKeyAccess:
        raise RotationRefused(
            "the key given does not open both keys of this rotation (or a grant was "
            "altered in the database): nothing was changed"
        ) from None
    if not hmac.compare_digest(new_private.public_key().fingerprint, pins.next) or (
        before_pinning
        and not hmac.compare_digest(old_private.public_key().fingerprint, pins.current or "")
    ):
        raise unknown
    return UnitKeyring({old.id: old_private, new.id: new_private})


# The steps a caller may watch (and a test may stop a process at).
STARTED, PINNED, BATCH_DONE, RETIRED = "started", "pinned", "batch", "retired"


@dataclass
class Rotator:
    """Runs or resumes a rotation to the end, reporting each step.

    The instance config in `instance_path` anchors it (docs/crypto.md, "Pins"):
    `start` rotates from the pinned key, and the new key's fingerprint is written
    there as `unit_key_fingerprint_next` before the rotation commits; a rotation
    found in the database is resumed only if that entry names its new key, and
    only to a private key whose own fingerprint it is.
    `on_step(step, progress)` is called after each step (a progress bar).
    `retire_old` False stops before retiring, for fleets that re-pin every
    server first (docs/operating.md).
    """

    session: Session
    unit_keys: Callable[[], UnitKeyring]
    actor: str
    clock: Callable[[], datetime]
    integrity_key: bytes = field(repr=False)
    instance_path: Path
    on_step: Callable[[str, Progress], None]
    retire_old: bool = True

    def run(self) -> Progress:
        """Start or resume, move every seal, retire; return the final progress."""
        session = self.session
        pins = instance.read_pins(self.instance_path)
        rotation = running(session)
        if rotation is None:
            rotation = start(
                session,
                self.unit_keys(),
                self.actor,
                self.clock(),
                self.integrity_key,
                pins.current,
                pins.recovery,
            )
            state = progress(session, rotation)
            assert pins.current is not None  # start checked it
            instance.pin_unit_key(self.instance_path, pins.current, state.to_fingerprint)
            pins = instance.Pins(pins.current, state.to_fingerprint, pins.recovery)
            session.commit()
            self.on_step(STARTED, state)
        checked = checked_keys(session, rotation, pins, self.unit_keys())
        state = progress(session, rotation)
        session.commit()
        instance.pin_unit_key(self.instance_path, state.to_fingerprint, state.to_fingerprint)
        self.on_step(PINNED, state)
        old = session.get(UnitKey, rotation.from_unit_key_id)
        assert old is not None
        if old.active:
            while self._reseal(rotation, checked):
                self.on_step(BATCH_DONE, progress(session, rotation))
                session.commit()
            if not self.retire_old:
                return progress(session, rotation)
            while not retire(session, rotation, self.clock()):
                session.rollback()
                self._reseal(rotation, checked)
            session.commit()
            self.on_step(RETIRED, progress(session, rotation))
        while self._reseal(rotation, checked):
            pass
        finish(session, rotation, self.actor, self.clock())
        session.commit()
        instance.pin_unit_key(self.instance_path, state.to_fingerprint)
        return progress(session, rotation)

    def _reseal(self, rotation: KeyRotation, keys: UnitKeyring) -> int:
        """One batch, tried again when a concurrent change made it fail (on PostgreSQL,
        a case deleted between reading its seal and writing its new one)."""
        for attempt in range(RETRIES):
            try:
                return reseal_batch(self.session, rotation, keys)
            except DBAPIError:
                self.session.rollback()
                if attempt == RETRIES - 1:
                    raise
        return 0


RETRIES = 5


class NotAccepted(ServiceError):
    """The e-mail address, password or second-factor code was not accepted."""


def supervisor_key(
    session: Session, email: str, password: str, code: str, now: datetime, integrity_key: bytes
) -> tuple[Officer, PrivateKey]:
    """An active supervisor's private key, opened with their password and a current code.

    Raises NotAccepted (saying no more, as a sign-in would) for an unknown address, a
    wrong password or code, or an officer who is not an active supervisor.
    """
    officer = session.scalars(select(Officer).where(Officer.email == email.strip().lower())).first()
    refused = NotAccepted("the e-mail address, password or code was not accepted")
    # roles.is_supervisor: active, and a role whose MAC holds (one set in the database
    # alone does not let its holder rotate).
    if officer is None or not roles.is_supervisor(session, officer):
        raise refused
    try:
        private_key = officers.unlock_private_key(officer, password, integrity_key)
        seed = second_factor.open_totp_seed(officer, private_key)
    except DecryptionError:
        raise refused from None
    if not second_factor.accept_totp(session, officer, seed, code.strip(), now):
        raise refused
    return officer, private_key
