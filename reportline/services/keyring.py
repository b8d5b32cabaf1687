"""The unit key, the exclusion group's key, who holds them, and the recovery key
(security.md, key hierarchy).

officer password -> officer private key -> unit private key -> case secret
                                        -> exclusion private key (supervisors)
recovery private key (offline)          -> unit and exclusion private keys

The exclusion key's grants work as the unit key's (one MAC, one epoch, one check,
`grant_holds`); who is given it is decided in `services.exclusion_keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, bindparam, exists, select, text
from sqlalchemy.orm import Session

from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import (
    PrivateKey,
    PublicKey,
    generate_private_key,
    open_sealed,
    seal,
)
from reportline.models import (
    ExclusionKey,
    ExclusionKeyGrant,
    Officer,
    RecoveryKey,
    ResealWaiting,
    UnitKey,
    UnitKeyGrant,
)
from reportline.services import audit, integrity
from reportline.services.errors import NoKeyAccess, SetupError

# The migration that adds grant and officer-state MACs: the rows it finds get them then.
GRANT_MAC_REVISION = "0010"
RECOVERY_BEGIN = "-----BEGIN REPORTLINE RECOVERY KEY-----"
RECOVERY_END = "-----END REPORTLINE RECOVERY KEY-----"


@dataclass(frozen=True, repr=False)
class UnitKeyring:
    """What a request may open case secrets with: the unit private keys unlocked for it,
    by generation, and (services.cases.open_case_secret) the signed-in officer's own key
    for their 'officer' seals, exclusion group keys by id, or the recovery key."""

    keys: dict[int, PrivateKey]
    officer_id: int | None = None
    officer_key: PrivateKey | None = None
    group_keys: dict[int, PrivateKey] = field(default_factory=dict)
    recovery: tuple[int, PrivateKey] | None = None

    def __repr__(self) -> str:
        return f"UnitKeyring(generations={sorted(self.keys)}, officer={self.officer_id})"

    def get(self, unit_key_id: int) -> PrivateKey:
        """The private key of one unit key generation; raise NoKeyAccess if not held."""
        try:
            return self.keys[unit_key_id]
        except KeyError:
            raise NoKeyAccess("this officer does not hold that unit key") from None


@dataclass(frozen=True)
class _Kind:
    """A key officers are granted: its generations' table, its grants' table, and the
    name its id goes by in contexts and MACs."""

    name: str  # "unit_key" or "exclusion_key"
    generation: type[UnitKey] | type[ExclusionKey]
    grant: type[UnitKeyGrant] | type[ExclusionKeyGrant]

    def key_id(self, grant: UnitKeyGrant | ExclusionKeyGrant) -> int:
        """The generation a grant seals."""
        return grant.unit_key_id if isinstance(grant, UnitKeyGrant) else grant.exclusion_key_id

    @property
    def key_column(self) -> Any:
        """The grant table's column naming the generation."""
        return getattr(self.grant, f"{self.name}_id")


UNIT = _Kind("unit_key", UnitKey, UnitKeyGrant)
EXCLUSION = _Kind("exclusion_key", ExclusionKey, ExclusionKeyGrant)


def _kind_of(grant: UnitKeyGrant | ExclusionKeyGrant) -> _Kind:
    return UNIT if isinstance(grant, UnitKeyGrant) else EXCLUSION


def _grant_context(
    key_id: int,
    *,
    officer_id: int | None = None,
    recovery_key_id: int | None = None,
    kind: _Kind = UNIT,
) -> bytes:
    purpose = f"{kind.name.replace('_', '-')}-grant"
    if officer_id is not None:
        return context(purpose, officer=officer_id, **{kind.name: key_id})
    return context(purpose, recovery=recovery_key_id, **{kind.name: key_id})


def active_unit_key(session: Session, pinned_fingerprint: str | None) -> UnitKey:
    """The unit key new reports are sealed to, checked against the pinned fingerprint.

    Raises SetupError before `init`, DecryptionError for a planted or altered row.
    """
    unit_key = session.scalars(
        select(UnitKey).where(UnitKey.active.is_(True)).order_by(UnitKey.id.desc()).limit(1)
    ).first()
    if unit_key is None:
        raise SetupError("no unit key: run `reportline init` first")
    integrity.check_unit_key(pinned_fingerprint, unit_key)
    return unit_key


class _ConfigPin:
    """A key's fingerprint pinned in the instance config (`setting`). With `config_path`,
    the pin is read again from the file whenever the file changes, so a new pin reaches
    a running server without a restart."""

    setting = ""

    def __init__(self, fingerprint: str | None, config_path: Path | None = None) -> None:
        self.fingerprint = self.configured = fingerprint
        self._config_path = config_path
        self._config_mtime = _mtime(config_path)
        self._checked: dict[str, tuple[int, PublicKey]] = {}

    def is_pinned(self) -> bool:
        """Whether the config pins a key (no database read; while none is pinned, the
        config is read afresh each time, so a pin written after start is found)."""
        return self._current_pin(reread=self.fingerprint is None) is not None

    def _current_pin(self, reread: bool = False) -> str | None:
        mtime = _mtime(self._config_path)
        if (reread or mtime != self._config_mtime) and self._config_path is not None:
            self._config_mtime = mtime
            pin = _pin_in_file(self._config_path, self.setting)
            if pin is not None:
                self.fingerprint = pin  # else kept, as at load (config.py checks the same)
        return self.fingerprint


def _pin_in_file(config_path: Path | None, setting: str) -> str | None:
    """A 16-hex pin as the config file says now; None without one, or for a half-edited
    file (a caller keeps its last pin until it parses)."""
    if config_path is None:
        return None
    try:
        pin = tomllib.loads(config_path.read_text("utf-8")).get(setting)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return pin if isinstance(pin, str) and re.fullmatch(r"[0-9a-f]{16}", pin) else None


class PinnedUnitKey(_ConfigPin):
    """The unit key reports are sealed to: the one pinned in the instance config.

    `read` reads the pinned generation's row (one indexed row) so a retired key is
    never sealed to; its public key is checked against the pin once per process and
    row. A submission makes the same check inside its own INSERT instead, with the row
    `last_checked` remembers (`pinned_row_is_active`). The pin is re-read when the
    config changes (a rotation moves it).
    """

    setting = "unit_key_fingerprint"

    def get(self, session: Session) -> tuple[int, PublicKey]:
        """(generation id, public key) of the pinned key. Raises SetupError before
        `init` or when the pinned key was retired, DecryptionError for a planted or
        altered row."""
        _pin, unit_key_id, public = self.read(session)
        return unit_key_id, public

    def read(self, session: Session) -> tuple[str, int, PublicKey]:
        """`get`, with the pin the row was read by."""
        # A retired row read once more with the config read afresh: the read may have
        # waited for a rotation that moved the pin and retired the old key meanwhile.
        for reread in (False, True):
            pin = self._current_pin(reread)
            if pin is None:
                raise SetupError(
                    "no unit key is pinned in the instance config (run `reportline init`)"
                )
            row = session.execute(_PINNED_ROW, {"fingerprint": pin}).first()
            if row is None:
                raise SetupError(
                    "no unit key has the pinned fingerprint: run `reportline init` first"
                )
            unit_key_id, active = row
            if active:
                break
        else:
            raise SetupError(
                "the pinned unit key was retired by a rotation: set unit_key_fingerprint "
                "to the new key's (docs/operating.md)"
            )
        # Kept by pin, and used only for the row it was checked on: a row given the
        # pinned fingerprint in the database is checked afresh (and refused).
        checked = self._checked.get(pin)
        if checked is None or checked[0] != unit_key_id:
            unit_key = session.get(UnitKey, unit_key_id)
            assert unit_key is not None  # the row was just read
            integrity.check_unit_key(pin, unit_key)
            checked = self._checked[pin] = (unit_key_id, PublicKey(unit_key.public_key))
        return pin, *checked

    def last_checked(self) -> tuple[str, int, PublicKey] | None:
        """The current pin with the row `read` last checked for it, reading no database:
        for a statement that itself requires that row to be the pin's newest and active
        (`pinned_row_is_active`); None when this pin was not read yet."""
        pin = self._current_pin()
        checked = self._checked.get(pin) if pin is not None else None
        return None if checked is None or pin is None else (pin, *checked)


def pinned_row_is_active(unit_keys: Any) -> ColumnElement[bool]:
    """The condition `read` checks, for a statement's WHERE over `unit_keys` (the table or
    an alias): the row of id :unit_key_id is active and the newest with fingerprint :pin."""
    newer = UnitKey.__table__.alias("newer_unit_key")
    return and_(
        unit_keys.c.id == bindparam("unit_key_id"),
        unit_keys.c.fingerprint == bindparam("pin"),
        unit_keys.c.active.is_(True),
        ~exists().where(newer.c.fingerprint == bindparam("pin"), newer.c.id > unit_keys.c.id),
    )


class PinnedExclusionKey(_ConfigPin):
    """The exclusion group's key that reports with an exclusion are sealed to: the one
    pinned in the instance config (`exclusion_key_fingerprint`), whatever the database
    says. A key planted there, or a row given the pinned fingerprint, is refused: a
    database writer cannot redirect such reports to a key of their own."""

    setting = "exclusion_key_fingerprint"

    def get(self, session: Session) -> tuple[int, PublicKey]:
        """(generation id, public key) of the pinned exclusion key. Raises SetupError when
        none is pinned or the pinned one is retired or missing, DecryptionError for a row
        whose public key is not the pinned one."""
        # Read once more with the config read afresh: a server started before
        # `keys init-exclusion` wrote the pin finds it, and so does a report that waited
        # for a rotation (`exclusion_rotation`) to retire the key it read.
        for attempt in ("as loaded", "reread", "next"):
            pin = self._current_pin(attempt == "reread")
            if attempt == "reread":
                # A rotation writes the new pin just before it commits the new row:
                # wait for the current row it holds, then the new one is there.
                session.execute(_CURRENT_EXCLUSION_KEYS).all()
            elif attempt == "next":
                # A rotation interrupted after its commit, before its last config write:
                # the pinned key is retired and `_next` names the one it committed.
                following = _pin_in_file(self._config_path, "exclusion_key_fingerprint_next")
                if following is None:
                    continue
                pin = following
            row = (
                None
                if pin is None
                else session.execute(
                    select(ExclusionKey.id, ExclusionKey.retired_at)
                    .where(ExclusionKey.fingerprint == pin)
                    .order_by(ExclusionKey.id.desc())
                    .limit(1)
                    # PostgreSQL: held until the report commits, so a rotation (FOR
                    # UPDATE) waits for it and re-seals it; SQLite writes one at a time.
                    .with_for_update(read=True)
                ).first()
            )
            if row is not None and row.retired_at is None:
                break
        else:
            if pin is None:
                raise SetupError(
                    "no exclusion key is pinned in the instance config "
                    "(run `reportline keys init-exclusion`)"
                )
            raise SetupError("no current exclusion key has the pinned fingerprint")
        assert pin is not None
        checked = self._checked.get(pin)
        if checked is None or checked[0] != row.id:
            exclusion_key = session.get(ExclusionKey, row.id)
            assert exclusion_key is not None  # the row was just read
            integrity.check_pinned_key(pin, exclusion_key.public_key, "the exclusion key")
            checked = self._checked[pin] = (row.id, PublicKey(exclusion_key.public_key))
        return checked


def pinned_exclusion_key(session: Session, fingerprint: str | None) -> tuple[int, PublicKey]:
    """(id, public key) of the exclusion key `fingerprint` (the instance config's
    `exclusion_key_fingerprint`) pins, checked afresh; raises as
    `PinnedExclusionKey.get`. A server keeps one `PinnedExclusionKey` instead, which
    checks a row once and notices a new pin in the config."""
    return PinnedExclusionKey(fingerprint).get(session)


_CURRENT_EXCLUSION_KEYS = (
    select(ExclusionKey.id).where(ExclusionKey.retired_at.is_(None)).with_for_update(read=True)
)
PIN_SETTING = PinnedUnitKey.setting
_PINNED_ROW = (
    select(UnitKey.id, UnitKey.active)
    .where(UnitKey.fingerprint == bindparam("fingerprint"))
    .order_by(UnitKey.id.desc())
    .limit(1)
    # PostgreSQL: held until the report commits, so a rotation retiring this key
    # (`rotation.retire`, FOR UPDATE) waits for it and its last sweep finds the report.
    # SQLite writes one transaction at a time anyway.
    .with_for_update(read=True)
)


def _mtime(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def create_unit_key(session: Session, now: datetime) -> tuple[UnitKey, PrivateKey]:
    """Generate the unit key pair. The caller must grant it before the request ends."""
    private_key = generate_private_key()
    public_key = private_key.public_key()
    unit_key = UnitKey(
        public_key=public_key.raw,
        fingerprint=public_key.fingerprint,
        active=True,
        created_at=now,
    )
    session.add(unit_key)
    session.flush()
    return unit_key, private_key


def create_recovery_key(
    session: Session, unit_key: UnitKey, unit_private_key: PrivateKey, now: datetime
) -> PrivateKey:
    """Generate the recovery key pair and seal the unit key to it; return the private half.

    The private half is returned once and never stored: the caller hands it out.
    """
    private_key = generate_private_key()
    public_key = private_key.public_key()
    recovery = RecoveryKey(
        public_key=public_key.raw, fingerprint=public_key.fingerprint, created_at=now
    )
    session.add(recovery)
    session.flush()
    seal_recovery_grant(session, unit_key.id, unit_private_key, recovery, now)
    return private_key


def seal_recovery_grant(
    session: Session,
    unit_key_id: int,
    unit_private_key: PrivateKey,
    recovery: RecoveryKey,
    now: datetime,
    kind: _Kind = UNIT,
) -> None:
    """Seal one unit key (or, with `kind=EXCLUSION`, exclusion key) generation to the
    recovery key."""
    session.add(
        kind.grant(
            **{f"{kind.name}_id": unit_key_id},
            recovery_key_id=recovery.id,
            sealed_private_key=seal(
                unit_private_key.raw,
                PublicKey(recovery.public_key),
                _grant_context(unit_key_id, recovery_key_id=recovery.id, kind=kind),
            ),
            granted_at=now,
        )
    )


def seal_grant(
    session: Session,
    unit_key_id: int,
    unit_private_key: PrivateKey,
    officer: Officer,
    now: datetime,
    granted_by: Officer | None = None,
    kind: _Kind = UNIT,
) -> None:
    """Seal one unit key (or exclusion key) generation to an officer whose key the caller
    has checked, with the grant's MAC bound to their current access epoch."""
    assert officer.public_key is not None
    sealed = seal(
        unit_private_key.raw,
        PublicKey(officer.public_key),
        _grant_context(unit_key_id, officer_id=officer.id, kind=kind),
    )
    session.add(
        kind.grant(
            **{f"{kind.name}_id": unit_key_id},
            officer_id=officer.id,
            sealed_private_key=sealed,
            mac=integrity.key_grant_mac(
                _integrity_key(session),
                kind.name,
                officer.id,
                unit_key_id,
                officer.access_epoch,
                sealed,
            ),
            granted_at=now,
            granted_by_id=granted_by.id if granted_by else None,
        )
    )


def _integrity_key(session: Session) -> bytes:
    key: bytes | None = session.info.get("integrity_key")
    if key is None:
        raise SetupError("this database session cannot authenticate unit key grants")
    return key


def session_integrity_key(session: Session) -> bytes:
    """The instance integrity key the session carries; raise SetupError without it."""
    return _integrity_key(session)


def set_access_state(session: Session, officer: Officer, *, active: bool) -> None:
    """Make the (flushed) officer active or not and raise their access epoch, MAC'd: every
    grant made before no longer counts, nor does any earlier state (or role) put back.
    A role that held is MAC'd again under the new epoch."""
    key = _integrity_key(session)
    epoch = officer.access_epoch or 0
    role_held = officer.role_mac is not None and hmac.compare_digest(
        officer.role_mac, integrity.officer_role_mac(key, officer.id, officer.role, epoch)
    )
    waiting = [
        row
        for row in session.scalars(
            select(ResealWaiting).where(ResealWaiting.officer_id == officer.id)
        )
        if row.mac is not None
        and hmac.compare_digest(
            row.mac, integrity.reseal_waiting_mac(key, row.case_id, officer.id, epoch)
        )
    ]
    officer.active = active
    officer.access_epoch = epoch + 1
    officer.state_mac = integrity.officer_state_mac(key, officer.id, active, officer.access_epoch)
    officer.role_mac = (
        integrity.officer_role_mac(key, officer.id, officer.role, officer.access_epoch)
        if role_held
        else None
    )
    for row in waiting:  # re-seals that waited keep waiting (a revoke deletes them itself)
        row.mac = integrity.reseal_waiting_mac(key, row.case_id, officer.id, officer.access_epoch)


def advance_epoch(session: Session, officer: Officer) -> None:
    """Raise the officer's access epoch keeping what they hold: their grants that held are
    MAC'd again under it (a role change; an earlier role row put back no longer holds)."""
    key = _integrity_key(session)
    grants: list[UnitKeyGrant | ExclusionKeyGrant] = [
        *session.scalars(select(UnitKeyGrant).where(UnitKeyGrant.officer_id == officer.id)),
        *session.scalars(
            select(ExclusionKeyGrant).where(ExclusionKeyGrant.officer_id == officer.id)
        ),
    ]
    held = [grant for grant in grants if grant_holds(session, officer, grant)]
    # Active only by a state that holds: `active` set in the database alone is not
    # MAC'd afresh here.
    set_access_state(session, officer, active=state_holds(session, officer))
    for grant in held:
        grant.mac = _grant_mac(key, officer, grant)


def _grant_mac(key: bytes, officer: Officer, grant: UnitKeyGrant | ExclusionKeyGrant) -> bytes:
    kind = _kind_of(grant)
    return integrity.key_grant_mac(
        key,
        kind.name,
        officer.id,
        kind.key_id(grant),
        officer.access_epoch,
        grant.sealed_private_key,
    )


def state_holds(session: Session, officer: Officer) -> bool:
    """Whether the officer is active by an authenticated state."""
    key: bytes | None = session.info.get("integrity_key")
    return (
        key is not None
        and officer.active
        and officer.state_mac is not None
        and hmac.compare_digest(
            officer.state_mac,
            integrity.officer_state_mac(key, officer.id, True, officer.access_epoch),
        )
    )


def grant_holds(
    session: Session, officer: Officer, grant: UnitKeyGrant | ExclusionKeyGrant
) -> bool:
    """Whether `grant` (of the unit key or the exclusion key) is a genuine grant to this
    active officer made in their current access epoch (THE check wherever an officer's
    grant gives anything)."""
    key: bytes | None = session.info.get("integrity_key")
    return (
        key is not None
        and grant.officer_id == officer.id
        and grant.mac is not None
        and state_holds(session, officer)
        and hmac.compare_digest(grant.mac, _grant_mac(key, officer, grant))
    )


def held_generations(session: Session, officer: Officer) -> set[int]:
    """The unit key generations the officer holds by a grant whose MAC holds."""
    grants = session.scalars(select(UnitKeyGrant).where(UnitKeyGrant.officer_id == officer.id))
    return {g.unit_key_id for g in grants if grant_holds(session, officer, g)}


def authenticate_existing_grants(session: Session) -> int:
    """MAC every officer's state and every officer grant that has none: run once, by
    `reportline db upgrade`, when the revision that adds those MACs is applied.
    Returns how many grants were authenticated."""
    key = _integrity_key(session)
    for officer in session.scalars(select(Officer).where(Officer.state_mac.is_(None))):
        officer.state_mac = integrity.officer_state_mac(
            key, officer.id, officer.active, officer.access_epoch
        )
        before_epochs = integrity.officer_role_mac(key, officer.id, officer.role)
        if officer.role_mac is not None and hmac.compare_digest(officer.role_mac, before_epochs):
            officer.role_mac = integrity.officer_role_mac(
                key, officer.id, officer.role, officer.access_epoch
            )
    count = 0
    rows = session.execute(
        select(UnitKeyGrant, Officer)
        .join(Officer, Officer.id == UnitKeyGrant.officer_id)
        .where(UnitKeyGrant.mac.is_(None))
    )
    for grant, officer in rows:
        grant.mac = integrity.unit_key_grant_mac(
            key, officer.id, grant.unit_key_id, officer.access_epoch, grant.sealed_private_key
        )
        count += 1
    session.flush()
    return count


def grant_unit_key(
    session: Session,
    keyring: UnitKeyring,
    officer: Officer,
    granted_by: Officer | None,
    now: datetime,
    integrity_key: bytes,
) -> None:
    """Seal every unit key generation the granter holds to `officer`'s public key.

    Raises SetupError for an officer who is deactivated or has no key pair yet,
    DecryptionError if their public key was swapped in the database.
    """
    if not state_holds(session, officer):
        raise SetupError("a deactivated officer cannot be given access")
    if officer.public_key is None:
        raise SetupError("the officer has not chosen a password yet")
    integrity.check_officer_key(integrity_key, officer)
    seal_missing_grants(session, keyring.keys, officer, now, granted_by)
    audit.record(
        session,
        granted_by.email if granted_by else "cli",
        "officer.granted_unit_key",
        now,
        officer=officer.id,
    )


def seal_missing_grants(
    session: Session,
    keys: Mapping[int, PrivateKey],
    officer: Officer,
    now: datetime,
    granted_by: Officer | None,
    kind: _Kind = UNIT,
) -> int:
    """Seal each generation in `keys` to an officer whose key the caller has checked,
    keeping a grant that holds and replacing one that does not (forged, or from an
    earlier epoch); return how many were sealed."""
    sealed = 0
    for key_id, private_key in sorted(keys.items()):
        existing = session.scalars(
            select(kind.grant).where(kind.key_column == key_id, kind.grant.officer_id == officer.id)
        ).first()
        if existing is not None:
            if grant_holds(session, officer, cast(UnitKeyGrant | ExclusionKeyGrant, existing)):
                continue
            session.delete(existing)
            session.flush()
        seal_grant(session, key_id, private_key, officer, now, granted_by, kind=kind)
        sealed += 1
    session.flush()
    return sealed


def revoke_unit_key(session: Session, officer: Officer) -> int:
    """Delete the officer's sealed copies of the unit key (and of the exclusion key) and
    raise their access epoch (so a copy put back from a backup does not count); return
    how many unit key copies were removed."""
    grants = session.scalars(select(UnitKeyGrant).where(UnitKeyGrant.officer_id == officer.id))
    removed = 0
    for grant in grants:
        session.delete(grant)
        removed += 1
    revoke_group_keys(session, officer)
    set_access_state(session, officer, active=state_holds(session, officer))
    session.flush()
    return removed


def revoke_group_keys(session: Session, officer: Officer) -> int:
    """Delete the officer's sealed copies of the exclusion key (they stop being a
    supervisor, or lose access); return how many."""
    removed = 0
    for grant in session.scalars(
        select(ExclusionKeyGrant).where(ExclusionKeyGrant.officer_id == officer.id)
    ):
        session.delete(grant)
        removed += 1
    session.flush()
    return removed


def holds_group_key(session: Session, officer_id: int) -> bool:
    """Whether the officer holds a current exclusion key generation by a grant whose MAC
    holds."""
    officer = session.get(Officer, officer_id)
    if officer is None:
        return False
    grants = session.scalars(
        select(ExclusionKeyGrant)
        .join(ExclusionKey, ExclusionKey.id == ExclusionKeyGrant.exclusion_key_id)
        .where(ExclusionKeyGrant.officer_id == officer_id, ExclusionKey.retired_at.is_(None))
    )
    return any(grant_holds(session, officer, grant) for grant in grants)


def holds_unit_key(session: Session, officer_id: int) -> bool:
    """Whether the officer holds the active unit key by a grant whose MAC holds."""
    officer = session.get(Officer, officer_id)
    if officer is None:
        return False
    grants = session.scalars(
        select(UnitKeyGrant)
        .join(UnitKey, UnitKey.id == UnitKeyGrant.unit_key_id)
        .where(UnitKeyGrant.officer_id == officer_id, UnitKey.active.is_(True))
    )
    return any(grant_holds(session, officer, grant) for grant in grants)


def _opened(raw: bytes, public_key: bytes) -> PrivateKey | None:
    """The private key a grant opened if it is the half of its generation's public key,
    else None (the grant is then left out, as if not held).

    A database writer can seal a key of their own to any public key; it opens, but is
    not the generation's, and re-sealing to it would hand them every case.
    """
    private_key = PrivateKey(raw)
    if not hmac.compare_digest(private_key.public_key().raw, public_key):
        return None
    return private_key


def _unlock(
    session: Session, kind: _Kind, officer_id: int, officer_key: PrivateKey
) -> dict[int, PrivateKey]:
    """Every `kind` generation sealed to this officer by a grant whose MAC holds, opened
    (leaving out a grant that opens another key than its generation's)."""
    keys: dict[int, PrivateKey] = {}
    officer = session.get(Officer, officer_id)
    if officer is None:
        return keys
    grants = session.execute(
        select(kind.grant, kind.generation.public_key)
        .join(kind.generation, kind.generation.id == kind.key_column)
        .where(kind.grant.officer_id == officer_id)
    )
    for row, public_key in grants:
        grant = cast(UnitKeyGrant | ExclusionKeyGrant, row)
        if not grant_holds(session, officer, grant):
            continue
        key_id = kind.key_id(grant)
        raw = open_sealed(
            grant.sealed_private_key,
            officer_key,
            _grant_context(key_id, officer_id=officer_id, kind=kind),
        )
        if (opened := _opened(raw, public_key)) is not None:
            keys[key_id] = opened
    return keys


def unlock_unit_keys(session: Session, officer_id: int, officer_key: PrivateKey) -> UnitKeyring:
    """Open every unit key generation sealed to this officer by a grant whose MAC holds
    (leaving out a grant that opens another key than its generation's); raise
    NoKeyAccess if none."""
    keys = _unlock(session, UNIT, officer_id, officer_key)
    if not keys:
        raise NoKeyAccess("awaiting access to the unit key")
    return UnitKeyring(keys, officer_id, officer_key)


def unlock_group_keys(
    session: Session, officer_id: int, officer_key: PrivateKey
) -> dict[int, PrivateKey]:
    """Open every exclusion key generation sealed to this officer by a grant whose MAC
    holds, checked as `unlock_unit_keys` does; {} if they hold none."""
    return _unlock(session, EXCLUSION, officer_id, officer_key)


def _unlock_with_recovery(
    session: Session, kind: _Kind, recovery_private: PrivateKey
) -> dict[int, PrivateKey]:
    fingerprint = recovery_private.public_key().fingerprint
    recovery = session.scalars(
        select(RecoveryKey).where(RecoveryKey.fingerprint == fingerprint)
    ).first()
    if recovery is None:
        raise NoKeyAccess("this recovery key does not belong to this instance")
    keys: dict[int, PrivateKey] = {}
    grants = session.execute(
        select(kind.key_column, kind.grant.sealed_private_key, kind.generation.public_key)
        .join(kind.generation, kind.generation.id == kind.key_column)
        .where(kind.grant.recovery_key_id == recovery.id)
    )
    for key_id, sealed, public_key in grants:
        raw = open_sealed(
            sealed,
            recovery_private,
            _grant_context(key_id, recovery_key_id=recovery.id, kind=kind),
        )
        if (opened := _opened(raw, public_key)) is not None:
            keys[key_id] = opened
    return keys


def unlock_with_recovery_key(session: Session, recovery_private: PrivateKey) -> UnitKeyring:
    """Open every unit key generation with the offline recovery key (each checked as
    `unlock_unit_keys` does)."""
    keys = _unlock_with_recovery(session, UNIT, recovery_private)
    if not keys:
        raise NoKeyAccess("no unit key is sealed to this recovery key")
    recovery_id = session.scalars(
        select(RecoveryKey.id).where(
            RecoveryKey.fingerprint == recovery_private.public_key().fingerprint
        )
    ).first()
    return UnitKeyring(keys, recovery=(recovery_id, recovery_private) if recovery_id else None)


def unlock_group_keys_with_recovery_key(
    session: Session, recovery_private: PrivateKey
) -> dict[int, PrivateKey]:
    """Open every exclusion key generation with the offline recovery key (checked as
    `unlock_unit_keys` does); {} if none is sealed to it. Raises NoKeyAccess for a
    recovery key of another instance."""
    return _unlock_with_recovery(session, EXCLUSION, recovery_private)


def grant_with_recovery_key(
    session: Session,
    recovery_private: PrivateKey,
    email: str,
    now: datetime,
    integrity_key: bytes,
) -> Officer:
    """Seal the unit key to an officer using the recovery key; audited as its use.

    Raises NoKeyAccess for a recovery key of another instance, SetupError for
    an unknown, deactivated or keyless officer.
    """
    opened = unlock_with_recovery_key(session, recovery_private)
    officer = session.scalars(select(Officer).where(Officer.email == email.strip().lower())).first()
    if officer is None:
        raise SetupError(f"no officer with e-mail {email}")
    audit.record(session, "cli", "recovery_key.used", now, officer=officer.id)
    grant_unit_key(session, opened, officer, None, now, integrity_key)
    return officer


def format_recovery_key(private_key: PrivateKey) -> str:
    """The recovery key as a text file: a warning, then base64 with a checksum."""
    checksum = hashlib.sha256(private_key.raw).digest()[:4]
    body = base64.b64encode(private_key.raw + checksum).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(
        [
            "ReportLine recovery key. Anyone holding this file can read every report.",
            "Store it offline (printed, in a safe). It is never kept on the server.",
            f"Fingerprint: {private_key.public_key().fingerprint}",
            "",
            RECOVERY_BEGIN,
            *lines,
            RECOVERY_END,
            "",
        ]
    )


def parse_recovery_key(text: str) -> PrivateKey:
    """Read a recovery key file; raise DecryptionError if it is damaged."""
    try:
        body = text.split(RECOVERY_BEGIN, 1)[1].split(RECOVERY_END, 1)[0]
        data = base64.b64decode("".join(body.split()), validate=True)
    except (IndexError, binascii.Error, ValueError) as exc:
        raise DecryptionError("not a ReportLine recovery key file") from exc
    raw, checksum = data[:-4], data[-4:]
    if hashlib.sha256(raw).digest()[:4] != checksum:
        raise DecryptionError("the recovery key file is damaged (checksum mismatch)")
    return PrivateKey(raw)


# A rotation holds it (rotation.RotationLock); a change of access takes its shared side.
ROTATION_ADVISORY_LOCK = 0x524C_524F_5441  # "RLROTA"


def no_rotation_running(session: Session) -> bool:
    """On PostgreSQL, take the shared side of the rotation lock until the transaction ends
    and say whether it was free: a change that deletes unit key seals (`set_access`) waits
    for no rotation batch, which could be waiting for it (a deadlock). SQLite: True
    (writers take turns)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": ROTATION_ADVISORY_LOCK}
        ).scalar()
    )
