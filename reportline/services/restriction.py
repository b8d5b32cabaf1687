"""Restricted cases: a case readable by named officers only, enforced by its seals.

A supervisor restricts a case to named officers: in one transaction its secret
is sealed to each of their public keys (holder 'officer') and to the recovery
key the config pins (holder 'recovery'), and every unit key seal is deleted, so
an officer outside the list cannot open it with the whole database and their
own password and key. Lifting seals it to the pinned unit key again and deletes
the officer and recovery seals. What restriction cannot undo, and what a
database reader learns: docs/security.md ("Restricted cases").

Everything derived from a case follows the same access (`visibility`): a case
that is not the unit's is listed, counted, linked and alerted only to officers
who can open one of its seals.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey, open_sealed
from reportline.models import Case, CaseSeal, Officer, RecoveryKey, ResealWaiting
from reportline.services import (
    audit,
    case_record,
    cases,
    instance,
    integrity,
    keyring,
    roles,
    triage_index,
)
from reportline.services.errors import NoKeyAccess, NotFound, ServiceError
from reportline.services.keyring import UnitKeyring

NOT_UNIT = text("cases.access <> 'unit'")  # as ix_cases_not_unit's condition reads


class AccessRefused(ServiceError):
    """A change of access that would break a rule; nothing was changed."""


class StaleAccess(ServiceError):
    """The case's access changed since the form was shown; nothing was changed."""


# ---------------------------------------------------------------- who may read what


@dataclass(frozen=True)
class Visibility:
    """The cases that are not the unit's, split by whether a keyring opens one of their
    seals. Few: a queue view leaves `hidden` out and treats `readable` apart."""

    hidden: frozenset[int]
    readable: frozenset[int]


def _can_open(pairs: Iterable[tuple[str, int]], keys: UnitKeyring) -> bool:
    seals = [_Pair(holder, holder_id) for holder, holder_id in pairs]
    return cases.openable_seal(seals, keys) is not None


@dataclass(frozen=True)
class _Pair:
    holder: str
    holder_id: int


def _holders_of(keys: UnitKeyring) -> set[tuple[str, int]]:
    """The seal holders besides unit key generations a keyring opens seals of."""
    found = set()
    if keys.officer_id is not None and keys.officer_key is not None:
        found.add((cases.OFFICER, keys.officer_id))
    found.update((cases.EXCLUSION_GROUP, group_id) for group_id in keys.group_keys)
    if keys.recovery is not None:
        found.add((cases.RECOVERY, keys.recovery[0]))
    return found


def visibility(session: Session, keys: UnitKeyring) -> Visibility:
    """Which cases that are not the unit's this keyring can open (by their seals).

    Read through the narrow index on (holder, holder_id, case_id), never the seal rows
    themselves: a case that is not the unit's has no unit key seal (a change of access
    deletes them), so the seals that open one are the officer's own, a held exclusion
    group key's, or the recovery key's.
    """
    candidates = frozenset(session.scalars(select(Case.id).where(NOT_UNIT)))
    if not candidates:
        return Visibility(frozenset(), frozenset())
    by_holder: dict[str, list[int]] = defaultdict(list)
    for holder, holder_id in _holders_of(keys):
        by_holder[holder].append(holder_id)
    opened: set[int] = set()
    for holder, ids in by_holder.items():
        opened.update(
            session.scalars(
                select(CaseSeal.case_id).where(
                    CaseSeal.holder == holder, CaseSeal.holder_id.in_(sorted(ids))
                )
            )
        )
    readable = candidates & opened
    return Visibility(candidates - readable, frozenset(readable))


def hidden_from(session: Session, case_id: int, keys: UnitKeyring) -> bool:
    """Whether the case exists but is not the unit's and `keys` opens none of its seals:
    to that officer it is as if it did not exist."""
    access = session.scalar(select(Case.access).where(Case.id == case_id))
    if access is None or access == cases.UNIT_ACCESS:
        return False
    pairs = session.execute(
        select(CaseSeal.holder, CaseSeal.holder_id).where(CaseSeal.case_id == case_id)
    ).all()
    return not _can_open(((h, i) for h, i in pairs), keys)


def check_visible(session: Session, case_id: int, keys: UnitKeyring) -> None:
    """Raise NotFound (as for a missing case) if the case is hidden from `keys`."""
    if hidden_from(session, case_id, keys):
        raise NotFound("no such case")


def readers(session: Session, case_id: int) -> list[int]:
    """The officers a case is sealed to, by id."""
    return sorted(
        session.scalars(
            select(CaseSeal.holder_id).where(
                CaseSeal.case_id == case_id, CaseSeal.holder == cases.OFFICER
            )
        )
    )


def _waiting_holds(session: Session, row: ResealWaiting, officer: Officer) -> bool:
    """Whether a re-seal waiting row is genuine: its MAC names the case, the officer and
    their current access epoch (a row planted in the database, or kept from before a
    revoke, does not hold)."""
    key: bytes | None = session.info.get("integrity_key")
    return (
        key is not None
        and row.mac is not None
        and hmac.compare_digest(
            row.mac,
            integrity.reseal_waiting_mac(key, row.case_id, officer.id, officer.access_epoch),
        )
    )


def waiting(session: Session, case_id: int) -> list[int]:
    """The officers whose seal on the case was lost with a password reset (rows that hold)."""
    rows = session.execute(
        select(ResealWaiting, Officer)
        .join(Officer, Officer.id == ResealWaiting.officer_id)
        .where(ResealWaiting.case_id == case_id)
    ).all()
    return sorted(officer.id for row, officer in rows if _waiting_holds(session, row, officer))


def access_version(case: Case, reader_ids: list[int], waiting_ids: list[int]) -> str:
    """A short digest of who may read the case: a form carries it, and a change made
    meanwhile by someone else makes it stale."""
    state = f"{case.access}|{','.join(map(str, reader_ids))}|{','.join(map(str, waiting_ids))}"
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def may_read(session: Session, officer: Officer) -> bool:
    """Whether a case may be sealed to the officer: active by an authenticated state,
    a key pair whose public key carries its MAC, and access to reports (not revoked)."""
    key: bytes | None = session.info.get("integrity_key")
    if key is None or not keyring.state_holds(session, officer) or officer.public_key is None:
        return False
    try:
        integrity.check_officer_key(key, officer)
    except DecryptionError:
        return False
    return keyring.holds_unit_key(session, officer.id)


def eligible_readers(session: Session) -> list[Officer]:
    """The officers a case may be restricted to, by e-mail."""
    everyone = session.scalars(
        select(Officer).where(Officer.active.is_(True)).order_by(Officer.email)
    ).all()
    return [officer for officer in everyone if may_read(session, officer)]


# ---------------------------------------------------------------- changing access


@dataclass(frozen=True)
class Change:
    """A change of access as the confirmation step shows it (e-mail addresses)."""

    access: str  # after the change: "unit" or "restricted"
    readers: tuple[str, ...]  # who may read it after (restricted only)
    losing: tuple[str, ...]
    gaining: tuple[str, ...]


def _unit_readers(session: Session) -> set[int]:
    active = session.scalars(select(Officer.id).where(Officer.active.is_(True))).all()
    return {officer_id for officer_id in active if keyring.holds_unit_key(session, officer_id)}


def _readers_now(session: Session, case: Case) -> set[int]:
    if case.access == cases.UNIT_ACCESS:
        return _unit_readers(session)
    return set(readers(session, case.id))


def _chosen_officers(session: Session, chosen: Iterable[int]) -> list[Officer]:
    """The chosen officers, each checked; raise AccessRefused naming what is wrong."""
    ids = sorted(set(chosen))
    if not ids:
        raise AccessRefused("choose at least one officer who may read the case")
    found = {
        o.id: o
        for o in session.scalars(
            select(Officer)
            .where(Officer.id.in_(ids))
            .order_by(Officer.id)
            .with_for_update()
            # read afresh once locked: a revoke, reset or demotion may just have committed
            .execution_options(populate_existing=True)
        )
    }
    for officer_id in ids:
        officer = found.get(officer_id)
        if officer is None:
            raise AccessRefused("one of the officers chosen does not exist")
        if not may_read(session, officer):
            raise AccessRefused(
                f"{officer.email} cannot be given the case: they are deactivated, have no "
                "key pair yet, or have no access to reports"
            )
    officers = [found[i] for i in ids]
    if not any(roles.is_supervisor(session, o) for o in officers):
        raise AccessRefused("include at least one supervisor, so that someone can manage it")
    return officers


def plan(session: Session, case: Case, chosen: Iterable[int] | None) -> Change:
    """What setting the case's access would do: `chosen` officer ids, or None for the
    whole unit. Raises AccessRefused (changing nothing) for a choice the rules refuse."""
    before = _readers_now(session, case)
    if chosen is None:
        if case.access == cases.UNIT_ACCESS:
            raise AccessRefused("the whole unit may read this case already")
        after = _unit_readers(session)
        names = _emails(session, before | after)
        return Change(
            cases.UNIT_ACCESS,
            (),
            tuple(sorted(names[i] for i in before - after)),
            tuple(sorted(names[i] for i in after - before)),
        )
    officers = _chosen_officers(session, chosen)
    after = {o.id for o in officers}
    if case.access == cases.RESTRICTED and after == before and not waiting(session, case.id):
        raise AccessRefused("those officers may read it already")
    names = _emails(session, before | after)
    return Change(
        cases.RESTRICTED,
        tuple(sorted(names[i] for i in after)),
        tuple(sorted(names[i] for i in before - after)),
        tuple(sorted(names[i] for i in after - before)),
    )


def _emails(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Officer.id, Officer.email).where(Officer.id.in_(ids))).all())


def pinned_recovery_key(session: Session, recovery_pin: str | None) -> RecoveryKey:
    """The recovery key the instance config pins, share-locked (taken before any case row):
    a replacement (`recovery.replace`, which locks it for update) cannot retire it until
    this transaction ends, and one that retired it meanwhile leaves nothing to seal to.
    Raise AccessRefused without one."""
    if recovery_pin is not None:
        for recovery in session.scalars(
            select(RecoveryKey)
            .where(RecoveryKey.retired_at.is_(None))
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        ):
            if hmac.compare_digest(instance.recovery_pin(recovery.public_key), recovery_pin):
                return recovery
    raise AccessRefused(
        "no recovery key is pinned in the instance config, or the pinned one is not in the "
        "database: a restricted case must stay open to it (docs/operating.md)"
    )


@dataclass(frozen=True)
class Pins:
    """What a change of access seals to besides officers: the pinned unit key (id and
    public key, checked against the config's pin) and the config's recovery key pin."""

    unit_key: tuple[int, PublicKey] | None
    recovery: str | None


def set_access(
    session: Session,
    keys: UnitKeyring,
    case_id: int,
    chosen: Iterable[int] | None,
    expected_version: str,
    by: Officer,
    now: datetime,
    pins: Pins,
) -> Change:
    """Restrict the case to `chosen` officers (or, None, give it back to the whole unit),
    re-sealing it in the caller's transaction; audited. A 'pending' case takes either.

    Raises AccessRefused for a non-supervisor or a choice the rules
    refuse, StaleAccess if its access changed since `expected_version` was shown,
    NoKeyAccess if `keys` cannot open it, DecryptionError if it was tampered with.
    """
    if not roles.is_supervisor(session, by):
        raise AccessRefused("only a supervisor sets who may read a case")
    if not keyring.no_rotation_running(session):
        raise AccessRefused(
            "a key rotation is running: change who may read the case when it has finished"
        )
    # The recovery key before the case row, the order a replacement takes them in.
    recovery = None if chosen is None else pinned_recovery_key(session, pins.recovery)
    case = cases.get_case(session, case_id, for_update=True)
    check_visible(session, case.id, keys)
    if access_version(case, readers(session, case.id), waiting(session, case.id)) != (
        expected_version
    ):
        raise StaleAccess("who may read this case changed since the form was shown")
    change = plan(session, case, chosen)
    secret = cases.open_case_secret(case, keys)
    cases.check_state(case, secret.mac_key())
    record = case_record.current_record(session, case, secret)
    was_unit = case.access == cases.UNIT_ACCESS
    new_seals: list[CaseSeal] = []
    if chosen is None:
        if pins.unit_key is None:
            raise AccessRefused("no unit key is pinned in the instance config")
        unit_key_id, unit_public = pins.unit_key
        new_seals.append(cases.seal_to(case.id, cases.UNIT_KEY, unit_key_id, secret, unit_public))
        access = cases.UNIT_ACCESS
    else:
        assert recovery is not None
        officers = _chosen_officers(session, chosen)
        for officer in officers:
            assert officer.public_key is not None  # may_read checked it
            public = PublicKey(officer.public_key)
            new_seals.append(cases.seal_to(case.id, cases.OFFICER, officer.id, secret, public))
        public = PublicKey(recovery.public_key)
        new_seals.append(cases.seal_to(case.id, cases.RECOVERY, recovery.id, secret, public))
        access = cases.RESTRICTED
        if case.assignee_id is not None and case.assignee_id not in {o.id for o in officers}:
            case.assignee_id = None  # an owner must be able to read the case
            case.assignee_declared_on = None
    for old in list(case.seals):
        session.delete(old)
    _consume_waiting(session, case.id)
    session.flush()
    session.expire(case, ["seals"])
    session.add_all(new_seals)
    case.access = access
    if access == cases.UNIT_ACCESS and case.unit_key_id in keys.keys:
        triage_index.record(
            session, keys, case.unit_key_id, case.id, record.categories, record.risk_flags
        )
    elif access == cases.RESTRICTED and was_unit:
        triage_index.forget(session, keys, case.id)
    cases.seal_state(case, secret.mac_key())
    session.flush()
    audit.record(
        session,
        by.email,
        "case.access_changed",
        now,
        case_id=case.id,
        access=case.access,
        readers=list(change.readers),
    )
    return change


# ---------------------------------------------------------------- staff changes


def officer_cases(session: Session, officer_id: int) -> list[int]:
    """The restricted cases sealed to the officer."""
    return sorted(
        session.scalars(
            select(CaseSeal.case_id).where(
                CaseSeal.holder == cases.OFFICER, CaseSeal.holder_id == officer_id
            )
        )
    )


def cases_left_without_supervisor(session: Session, officer: Officer) -> int:
    """How many restricted cases no other supervisor (whose role holds) could read if
    this officer lost their seal or their supervisor role."""
    mine = officer_cases(session, officer.id)
    if not mine:
        return 0
    others: dict[int, set[int]] = defaultdict(set)
    for case_id, holder_id in session.execute(
        select(CaseSeal.case_id, CaseSeal.holder_id).where(
            CaseSeal.holder == cases.OFFICER,
            CaseSeal.case_id.in_(mine),
            CaseSeal.holder_id != officer.id,
        )
    ):
        others[case_id].add(holder_id)
    people = {
        o.id: o
        for o in session.scalars(
            select(Officer).where(Officer.id.in_({i for ids in others.values() for i in ids}))
        )
    }
    supervisors = {i for i, o in people.items() if roles.is_supervisor(session, o)}
    return sum(1 for case_id in mine if not others[case_id] & supervisors)


def refuse_if_last_supervisor_reader(session: Session, officer: Officer) -> None:
    """Raise ServiceError if taking this officer's seals (or supervisor role) away would
    leave a restricted case that no supervisor can read."""
    count = cases_left_without_supervisor(session, officer)
    if count:
        raise ServiceError(
            f"they are the only supervisor who can read {count} restricted "
            f"case{'s' if count != 1 else ''}: change who may read "
            f"{'them' if count != 1 else 'it'} first"
        )


def drop_seals(session: Session, officer: Officer) -> int:
    """Delete the officer's seals on restricted cases (a revoke or deactivation); return
    how many."""
    removed = officer_cases(session, officer.id)
    session.execute(
        delete(CaseSeal).where(CaseSeal.holder == cases.OFFICER, CaseSeal.holder_id == officer.id)
    )
    session.execute(delete(ResealWaiting).where(ResealWaiting.officer_id == officer.id))
    return len(removed)


def _consume_waiting(session: Session, case_id: int, officer_id: int | None = None) -> None:
    """Delete the case's re-seal waiting rows (one officer's, or all) and raise each
    officer's access epoch, so a copy of a deleted row put back holds nothing (their
    grants and other waiting rows are carried over)."""
    query = select(ResealWaiting).where(ResealWaiting.case_id == case_id)
    if officer_id is not None:
        query = query.where(ResealWaiting.officer_id == officer_id)
    rows = session.scalars(query).all()
    for row in rows:
        session.delete(row)
    session.flush()
    # Every such officer, the row's MAC good or not (a writer could spoil it to spare
    # the epoch and put the genuine copy back); raising it authenticates nothing new.
    for officer_id_ in sorted({row.officer_id for row in rows}):
        officer = session.get(Officer, officer_id_)
        if officer is not None:
            keyring.advance_epoch(session, officer)


def await_reseal(session: Session, officer: Officer, now: datetime) -> int:
    """A password reset forgets the officer's key pair: their seals can no longer open.
    Delete them and list each case as waiting for a supervisor to re-seal it to the
    new key; return how many."""
    found = officer_cases(session, officer.id)
    session.execute(
        delete(CaseSeal).where(CaseSeal.holder == cases.OFFICER, CaseSeal.holder_id == officer.id)
    )
    key = keyring.session_integrity_key(session)
    # Rows still waiting from an earlier reset were carried to the new epoch with it;
    # any other row of theirs (planted) is dropped, so it cannot stand in for a genuine one.
    already = set()
    for row in session.scalars(select(ResealWaiting).where(ResealWaiting.officer_id == officer.id)):
        if _waiting_holds(session, row, officer):
            already.add(row.case_id)
        else:
            session.delete(row)
    session.flush()
    for case_id in found:
        if case_id not in already:
            mac = integrity.reseal_waiting_mac(key, case_id, officer.id, officer.access_epoch)
            session.add(
                ResealWaiting(case_id=case_id, officer_id=officer.id, since=now.date(), mac=mac)
            )
    session.flush()
    return len(found)


@dataclass(frozen=True)
class Waiting:
    """A restricted case waiting for a re-seal to an officer's new key."""

    case_id: int
    reference: str
    officer_id: int
    email: str
    since: object
    ready: bool  # the officer has a new key pair and access to reports again


def waiting_list(session: Session) -> list[Waiting]:
    """Every re-seal waiting, oldest first."""
    rows = session.execute(
        select(ResealWaiting, Officer)
        .join(Officer, Officer.id == ResealWaiting.officer_id)
        .order_by(ResealWaiting.since, ResealWaiting.case_id)
    ).all()
    return [
        Waiting(
            row.case_id,
            cases.reference(row.case_id),
            officer.id,
            officer.email,
            row.since,
            may_read(session, officer),
        )
        for row, officer in rows
        if _waiting_holds(session, row, officer)
    ]


def reseal(
    session: Session, keys: UnitKeyring, case_id: int, officer_id: int, by: Officer, now: datetime
) -> None:
    """Seal a waiting case to the officer's new key, opened with the supervisor's own seal;
    audited. Raises NotFound if nothing waits, AccessRefused for a non-supervisor or an
    officer who cannot be given it yet, NoKeyAccess if `keys` cannot open the case."""
    if not roles.is_supervisor(session, by):
        raise AccessRefused("only a supervisor re-seals a case")
    row = session.get(ResealWaiting, (case_id, officer_id), with_for_update=True)
    officer = session.get(Officer, officer_id)
    if row is None or officer is None or not _waiting_holds(session, row, officer):
        raise NotFound("nothing waits for that re-seal")
    case = cases.get_case(session, case_id, for_update=True)
    if not may_read(session, officer):
        raise AccessRefused(
            "they have no new key pair or no access to reports yet: give them access first"
        )
    assert officer.public_key is not None
    secret = cases.open_case_secret(case, keys)
    cases.check_state(case, secret.mac_key())
    for old in list(case.seals):
        if old.holder == cases.OFFICER and old.holder_id == officer.id:
            session.delete(old)
    _consume_waiting(session, case.id, officer.id)
    session.expire(case, ["seals"])
    session.add(
        cases.seal_to(case.id, cases.OFFICER, officer.id, secret, PublicKey(officer.public_key))
    )
    session.flush()
    audit.record(session, by.email, "case.resealed", now, case_id=case.id, officer=officer.id)


# ---------------------------------------------------------------- the recovery key


def move_recovery_seals(
    session: Session, old_id: int, old_private: PrivateKey, new: RecoveryKey
) -> int:
    """Re-seal every case sealed to the old recovery key to the new one (in the caller's
    transaction, with the rest of the replacement); return how many."""
    rows = session.scalars(
        select(CaseSeal).where(CaseSeal.holder == cases.RECOVERY, CaseSeal.holder_id == old_id)
    ).all()
    public = PublicKey(new.public_key)
    moved = 0
    for row in rows:
        raw = open_sealed(
            row.sealed, old_private, cases.seal_context(row.case_id, cases.RECOVERY, old_id)
        )
        secret = cases.CaseSecret(raw)
        session.add(cases.seal_to(row.case_id, cases.RECOVERY, new.id, secret, public))
        session.delete(row)
        moved += 1
    session.flush()
    return moved


# ---------------------------------------------------------------- inventory


@dataclass(frozen=True)
class RestrictedLine:
    """A restricted (or pending) case and who may read it."""

    reference: str
    access: str
    readers: tuple[str, ...]
    waiting: tuple[str, ...]


def restricted_cases(session: Session) -> list[RestrictedLine]:
    """Every case that is not the unit's, with its readers' e-mail addresses."""
    found = session.execute(select(Case.id, Case.access).where(NOT_UNIT).order_by(Case.id)).all()
    emails = dict(session.execute(select(Officer.id, Officer.email)).all())
    lines = []
    for case_id, access in found:
        lines.append(
            RestrictedLine(
                cases.reference(case_id),
                access,
                tuple(emails.get(i, str(i)) for i in readers(session, case_id)),
                tuple(emails.get(i, str(i)) for i in waiting(session, case_id)),
            )
        )
    return lines


# The categories and flags of restricted cases' records, opened once per record version
# and kept in this process's memory only (never at rest): a sealed filter over many
# restricted cases would otherwise open every record on every request. An entry names
# the seal holders whose own key opened it, and is served only to them: a seal planted
# in the database makes a case look readable, never its terms. Bounded; oldest out.
_Terms = tuple[frozenset[str], frozenset[str]]
_CARRIED: OrderedDict[tuple[int, int], tuple[_Terms, set[tuple[str, int]]]] = OrderedDict()
_CARRIED_LIMIT = 50_000
_CARRIED_LOCK = threading.Lock()


def _record_terms(session: Session, keys: UnitKeyring, case: Case) -> _Terms | None:
    """The record's terms, opened with this keyring's own seal, and remembered for it."""
    seal_ = cases.openable_seal(list(case.seals), keys)
    try:
        secret = cases.open_case_secret(case, keys)
        record = case_record.current_record(session, case, secret)
    except (DecryptionError, NoKeyAccess):
        return None
    terms = (frozenset(record.categories), frozenset(record.risk_flags))
    opener = (seal_.holder, seal_.holder_id) if seal_ is not None else None
    with _CARRIED_LOCK:
        entry = _CARRIED.get((case.id, case.triage_version))
        if entry is None or entry[0] != terms:
            entry = (terms, set())
            _CARRIED[(case.id, case.triage_version)] = entry
        if opener is not None:
            entry[1].add(opener)
        while len(_CARRIED) > _CARRIED_LIMIT:
            _CARRIED.popitem(last=False)
    return terms


def carrying(
    session: Session,
    keys: UnitKeyring,
    case_ids: Iterable[int],
    category: str | None,
    flag: str | None,
) -> set[int]:
    """Of the restricted cases given (those this keyring opens), the ones whose triage
    record carries `category` and `flag`, each record opened in memory (they are kept
    out of the sealed triage index) once per version and holder (`_CARRIED`)."""
    found = set()
    wanted = set(case_ids)
    mine = _holders_of(keys)
    # Through ix_cases_not_unit, which holds the version: no case row is read.
    versions = {
        case_id: version
        for case_id, version in session.execute(
            select(Case.id, Case.triage_version).where(NOT_UNIT)
        )
        if case_id in wanted
    }
    known: dict[int, _Terms | None] = {}
    with _CARRIED_LOCK:
        for case_id, version in versions.items():
            entry = _CARRIED.get((case_id, version))
            if entry is not None and entry[1] & mine:
                known[case_id] = entry[0]
    missing = [case_id for case_id in versions if case_id not in known]
    if missing:
        for case in session.scalars(select(Case).where(Case.id.in_(missing))):
            known[case.id] = _record_terms(session, keys, case)
    for case_id, terms in known.items():
        if terms is None:
            continue
        categories, flags = terms
        if (category is None or category in categories) and (flag is None or flag in flags):
            found.add(case_id)
    return found


def recover_unread(
    session: Session, recovery_keys: UnitKeyring, officer: Officer, now: datetime
) -> int:
    """With the recovery key (`reportline recover`): seal every restricted case that no
    active supervisor can read any more (its only supervisor reader's password was
    reset, say) to `officer`, a supervisor, opened through its recovery seal; audited.
    Cases some supervisor still reads keep their list. Returns how many."""
    if not roles.is_supervisor(session, officer) or not may_read(session, officer):
        return 0
    assert officer.public_key is not None
    restricted = session.scalars(
        select(Case).where(NOT_UNIT, Case.access == cases.RESTRICTED).order_by(Case.id)
    ).all()
    sealed = 0
    for case in restricted:
        reader_ids = readers(session, case.id)
        people = session.scalars(select(Officer).where(Officer.id.in_(reader_ids))).all()
        if any(roles.is_supervisor(session, o) for o in people):
            continue
        secret = cases.open_case_secret(case, recovery_keys)
        cases.check_state(case, secret.mac_key())
        for old in list(case.seals):
            if old.holder == cases.OFFICER and old.holder_id == officer.id:
                session.delete(old)
        _consume_waiting(session, case.id, officer.id)
        session.expire(case, ["seals"])
        public = PublicKey(officer.public_key)
        session.add(cases.seal_to(case.id, cases.OFFICER, officer.id, secret, public))
        audit.record(
            session, "cli", "case.access_recovered", now, case_id=case.id, officer=officer.id
        )
        sealed += 1
    session.flush()
    return sealed
