"""Exclusion key rotation (`reportline keys rotate-exclusion`, the keys page): after a
supervisor is removed, reports with an exclusion that arrive later are sealed to a
key their kept copy never opens, while every member and the recovery key read every
pending case; a refusal changes nothing. On every backend."""

from __future__ import annotations

import json
import threading
import tomllib
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from reportline.cli import main
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, generate_private_key, open_sealed
from reportline.models import (
    AuditEntry,
    Case,
    CaseSeal,
    ExclusionKey,
    ExclusionKeyGrant,
    Officer,
    RecoveryKey,
)
from reportline.services import (
    cases,
    exclusion_keys,
    exclusion_rotation,
    instance,
    keyring,
    officers,
    roles,
    rotation,
)
from reportline.services.keyring import UnitKeyring, format_recovery_key
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_reader,
    csrf_token,
    post_form,
    sign_in,
    submit_report,
    unlock_officer_key,
)
from tests.test_keys import CONFIGURED

PAGE = "/triage/admin/keys"
EXCLUDE = "Sergeant Example of the unit"


def _config(instance_path: Path) -> str:
    return (instance_path / "config.toml").read_text()


def _pin(instance_path: Path) -> str:
    return str(tomllib.loads(_config(instance_path))["exclusion_key_fingerprint"])


def _member(db: Session, clock: MovableClock, unit: Enrolled, email: str) -> Enrolled:
    """A supervisor who reads reports and holds the exclusion key, their fingerprint read
    back to the granting supervisor."""
    who = add_reader(db, clock, unit, email, role="supervisor")
    db.expire_all()
    granter = db.get(Officer, unit.officer_id)
    row = db.get(Officer, who.officer_id)
    assert granter is not None and row is not None
    held = keyring.unlock_group_keys(db, granter.id, unlock_officer_key(db, unit))
    fingerprint = unlock_officer_key(db, who).public_key().fingerprint
    exclusion_keys.grant(db, held, row, granter, clock(), fingerprint)
    db.commit()
    return who


def _group_keys(db: Session, who: Enrolled) -> dict[int, PrivateKey]:
    db.expire_all()
    return keyring.unlock_group_keys(db, who.officer_id, unlock_officer_key(db, who))


def _pending(db: Session) -> list[Case]:
    db.expire_all()
    return list(db.scalars(select(Case).where(Case.access == cases.PENDING).order_by(Case.id)))


def _reads_every_pending_case(db: Session, ring: UnitKeyring) -> int:
    found = _pending(db)
    for case in found:
        opened = cases.open_report(cases.open_case_secret(case, ring), case)
        assert opened["what_happened"].startswith("excluded"), case.id
    return len(found)


def _member_ring(db: Session, who: Enrolled) -> UnitKeyring:
    return UnitKeyring({}, group_keys=_group_keys(db, who))


def _recovery_ring(db: Session, app: Flask) -> UnitKeyring:
    db.expire_all()
    key: PrivateKey = app.extensions["test.recovery_key"]
    recovery_id = db.scalars(select(RecoveryKey.id)).one()
    return UnitKeyring({}, recovery=(recovery_id, key))


def _opens_any_exclusion_seal(db: Session, copy: dict[int, PrivateKey]) -> bool:
    """Whether a kept copy of exclusion keys opens any report sealed to the group now,
    under any generation's context."""
    db.expire_all()
    ids = db.scalars(select(ExclusionKey.id)).all()
    for seal in db.scalars(select(CaseSeal).where(CaseSeal.holder == cases.EXCLUSION_GROUP)):
        for private in copy.values():
            for key_id in ids:
                context = cases.seal_context(seal.case_id, cases.EXCLUSION_GROUP, key_id)
                try:
                    open_sealed(seal.sealed, private, context)
                except DecryptionError:
                    continue
                return True
    return False


def _state(db: Session, instance_path: Path) -> tuple[object, ...]:
    """Everything a refused rotation must leave as it was."""
    db.expire_all()
    return (
        tomllib.loads(_config(instance_path)),
        db.scalars(select(ExclusionKey.id, ExclusionKey.retired_at)).all(),
        sorted((s.case_id, s.holder, s.holder_id, s.sealed) for s in db.scalars(select(CaseSeal))),
        db.scalars(select(ExclusionKeyGrant.id).order_by(ExclusionKeyGrant.id)).all(),
    )


@pytest.fixture
def group(
    app: Flask,
    app_settings: dict[str, Any],
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    reporter: FlaskClient,
    instance_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Two members, a supervisor removed after keeping a copy of the exclusion key, two
    pending reports and an ordinary one, the config the command reads (with the pins
    `init` wrote) and the recovery key file."""
    deputy = _member(db, clock, unit, "deputy@unit.example")
    leaving = _member(db, clock, unit, "leaving@unit.example")
    kept = _group_keys(db, leaving)
    assert kept
    row, me = db.get(Officer, leaving.officer_id), db.get(Officer, unit.officer_id)
    assert row is not None and me is not None
    officers.revoke_access(db, row, me, clock())
    db.commit()
    for number in range(2):
        submit_report(reporter, what_happened=f"excluded {number}", exclude=EXCLUDE)
    submit_report(reporter, what_happened="ordinary")
    lines = [f"{name} = {json.dumps(app_settings[name])}" for name in CONFIGURED]
    (instance_path / "config.toml").write_text("\n".join(lines) + "\n" + _config(instance_path))
    key_file = instance_path.parent / "recovery.txt"
    key_file.write_text(format_recovery_key(app.extensions["test.recovery_key"]))
    monkeypatch.setenv("REPORTLINE_INSTANCE", str(instance_path))
    return {"deputy": deputy, "kept": kept, "key_file": key_file}


def _rotate(*arguments: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["keys", "rotate-exclusion", *arguments], input=stdin)


def _rotated_properly(
    db: Session, app: Flask, unit: Enrolled, group: dict[str, Any], instance_path: Path
) -> ExclusionKey:
    """After a rotation: the old key retired, the new one pinned and held by each member
    and the recovery key, every pending case sealed to it alone and read by each."""
    db.expire_all()
    old, new = db.scalars(select(ExclusionKey).order_by(ExclusionKey.id)).all()
    assert old.retired_at is not None and new.retired_at is None
    assert _pin(instance_path) == new.fingerprint
    held = {
        (grant.officer_id, grant.recovery_key_id is not None)
        for grant in db.scalars(
            select(ExclusionKeyGrant).where(ExclusionKeyGrant.exclusion_key_id == new.id)
        )
    }
    assert held == {(unit.officer_id, False), (group["deputy"].officer_id, False), (None, True)}
    seals = db.scalars(select(CaseSeal).where(CaseSeal.holder == cases.EXCLUSION_GROUP)).all()
    assert {seal.holder_id for seal in seals} == {new.id}
    for ring in (
        _member_ring(db, unit),
        _member_ring(db, group["deputy"]),
        _recovery_ring(db, app),
    ):
        assert _reads_every_pending_case(db, ring) == len(seals) >= 2
    return new


def test_a_rotation_reseals_pending_reports_and_the_kept_copy_opens_none_that_arrive_later(
    app: Flask,
    group: dict[str, Any],
    unit: Enrolled,
    db: Session,
    reporter: FlaskClient,
    instance_path: Path,
) -> None:
    result = _rotate("--recovery-key-file", str(group["key_file"]))
    assert result.exit_code == 0, result.output
    assert "Exclusion key rotated" in result.output and "2 re-sealed" in result.output
    assert f"Held by {unit.email}, deputy@unit.example and the recovery key" in result.output
    new = _rotated_properly(db, app, unit, group, instance_path)

    # The running server read the new pin from its config: the next one goes to the new key.
    submit_report(reporter, what_happened="excluded after the rotation", exclude=EXCLUDE)
    assert len(_pending(db)) == 3
    seals = db.scalars(select(CaseSeal).where(CaseSeal.holder == cases.EXCLUSION_GROUP)).all()
    assert {seal.holder_id for seal in seals} == {new.id}
    assert _reads_every_pending_case(db, _member_ring(db, group["deputy"])) == 3
    assert not _opens_any_exclusion_seal(db, group["kept"])

    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "exclusion_key.rotated")).one()
    assert entry.actor == "cli" and entry.case_id is None and "case" not in entry.detail
    status = CliRunner().invoke(main, ["keys", "status"]).output
    assert f"Exclusion key {new.fingerprint}: current" in status
    assert "Cases still under a retired exclusion key: 0" in status
    assert "  cases sealed to it: 3" in status


def test_a_supervisor_rotates_with_password_and_code_and_a_wrong_code_changes_nothing(
    app: Flask, group: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    before = _state(db, instance_path)
    wrong = _rotate("--email", unit.email, stdin=f"{unit.password}\n000000\n")
    assert wrong.exit_code == 1 and "not accepted" in wrong.output
    assert _state(db, instance_path) == before
    code = pyotp.TOTP(unit.totp_seed).now()
    result = _rotate("--email", unit.email, stdin=f"{unit.password}\n{code}\n")
    assert result.exit_code == 0, result.output
    _rotated_properly(db, app, unit, group, instance_path)
    actors = db.scalars(
        select(AuditEntry.actor).where(AuditEntry.action == "exclusion_key.rotated")
    ).all()
    assert actors == [unit.email]


def test_refused_rotations_say_why_and_change_nothing(
    app: Flask, group: dict[str, Any], db: Session, instance_path: Path
) -> None:
    key_file = str(group["key_file"])
    before = _state(db, instance_path)
    lock = rotation.RotationLock(db.get_bind().engine)
    lock.acquire()
    try:
        busy = _rotate("--recovery-key-file", key_file)
    finally:
        lock.release()
    assert busy.exit_code == 1 and "Another key rotation" in busy.output
    assert _state(db, instance_path) == before

    recovery_pin = instance.read_pins(instance_path).recovery
    instance.pin_recovery_key(instance_path, None)
    unpinned = _rotate("--recovery-key-file", key_file)
    assert unpinned.exit_code == 1 and "No recovery key is pinned" in unpinned.output
    instance.pin_recovery_key(instance_path, recovery_pin)
    assert _state(db, instance_path) == before

    # A pin naming no current key (a key planted, or the config restored): refused.
    pin = _pin(instance_path)
    instance.pin_exclusion_key(instance_path, "0123456789abcdef")
    unknown = _rotate("--recovery-key-file", key_file)
    assert unknown.exit_code == 1 and "pins no current exclusion key" in unknown.output
    instance.pin_exclusion_key(instance_path, pin)
    assert _state(db, instance_path) == before

    # An instance set up before the exclusion key.
    db.execute(delete(Case).where(Case.access == cases.PENDING))
    db.execute(delete(ExclusionKeyGrant))
    db.execute(delete(ExclusionKey))
    instance.pin_exclusion_key(instance_path, None)
    none_yet = _rotate("--recovery-key-file", key_file)
    assert none_yet.exit_code == 1 and "no exclusion key yet" in none_yet.output
    assert "reportline keys init-exclusion" in none_yet.output
    assert db.scalars(select(ExclusionKey.id)).all() == []


def test_a_planted_seal_or_a_swapped_member_key_does_not_stop_the_rotation(
    app: Flask,
    group: dict[str, Any],
    unit: Enrolled,
    db: Session,
    reporter: FlaskClient,
    instance_path: Path,
) -> None:
    """A removed supervisor who can write the database plants a seal no key opens, and
    swaps a member's public key: the rotation still retires the key they kept, leaves
    the swapped member out and the planted seal where it is, and says both."""
    pending = _pending(db)[0]
    db.add(
        CaseSeal(case_id=pending.id, holder=cases.EXCLUSION_GROUP, holder_id=999, sealed=b"x" * 64)
    )
    db.execute(
        update(Officer)
        .where(Officer.id == group["deputy"].officer_id)
        .values(public_key=generate_private_key().public_key().raw)
    )
    db.commit()
    result = _rotate("--recovery-key-file", str(group["key_file"]))
    assert result.exit_code == 0, result.output
    assert "not given the new key" in result.output and "deputy@unit.example" in result.output
    assert "1 case seal could not be opened" in result.output
    db.expire_all()
    old, new = db.scalars(select(ExclusionKey).order_by(ExclusionKey.id)).all()
    assert old.retired_at is not None and _pin(instance_path) == new.fingerprint
    holders = db.scalars(
        select(ExclusionKeyGrant.officer_id).where(ExclusionKeyGrant.exclusion_key_id == new.id)
    ).all()
    assert group["deputy"].officer_id not in holders and unit.officer_id in holders
    submit_report(reporter, what_happened="excluded after the rotation", exclude=EXCLUDE)
    assert not _opens_any_exclusion_seal(db, group["kept"])
    assert _reads_every_pending_case(db, _member_ring(db, unit)) == 3


def _interrupted(app: Flask, db: Session, instance_path: Path, commit: bool) -> str:
    """A rotation whose process dies after its first config write (the new key as
    `_next`), before its commit or after it; returns the new key's fingerprint."""
    make_session: sessionmaker[Session] = app.extensions["reportline.sessionmaker"]
    with make_session() as session:
        session.info.update(db.info)
        opened = keyring.unlock_group_keys_with_recovery_key(
            session, app.extensions["test.recovery_key"]
        )
        pins = instance.read_pins(instance_path)
        done = exclusion_rotation.rotate(session, opened, "cli", MovableClock()(), pins)
        instance.pin_exclusion_key(instance_path, pins.exclusion, done.to_fingerprint)
        if commit:
            session.commit()
        else:
            session.rollback()
    return done.to_fingerprint


def _sealed_to(db: Session) -> set[str]:
    db.expire_all()
    keys = {key.id: key.fingerprint for key in db.scalars(select(ExclusionKey))}
    seals = db.scalars(select(CaseSeal).where(CaseSeal.holder == cases.EXCLUSION_GROUP))
    return {keys[seal.holder_id] for seal in seals}


def test_a_rotation_that_dies_between_its_config_writes_leaves_reports_flowing(
    app: Flask,
    group: dict[str, Any],
    unit: Enrolled,
    db: Session,
    reporter: FlaskClient,
    instance_path: Path,
) -> None:
    old = _pin(instance_path)
    # Died before its commit: the pinned key stays current and takes reports.
    _interrupted(app, db, instance_path, commit=False)
    submit_report(reporter, what_happened="excluded before", exclude=EXCLUDE)
    assert _sealed_to(db) == {old}
    # Died after it: the pinned key is retired, the `_next` one takes reports at once.
    new = _interrupted(app, db, instance_path, commit=True)
    assert _pin(instance_path) == old
    submit_report(reporter, what_happened="excluded after", exclude=EXCLUDE)
    assert _sealed_to(db) == {new}
    assert _reads_every_pending_case(db, _member_ring(db, unit)) == 4
    # The next run settles the config first, then rotates.
    result = _rotate("--recovery-key-file", str(group["key_file"]))
    assert result.exit_code == 0, result.output
    assert "exclusion_key_fingerprint_next" not in _config(instance_path)
    assert _pin(instance_path) not in (old, new)
    assert _reads_every_pending_case(db, _member_ring(db, unit)) == 4


def _press(client: FlaskClient) -> Any:
    token = csrf_token(client.get(PAGE).get_data(as_text=True))
    return client.post(f"{PAGE}/rotate-exclusion", data={"csrf_token": token})


def test_a_supervisor_rotates_from_the_keys_page_and_a_refusal_is_shown_next_to_the_button(
    app: Flask,
    group: dict[str, Any],
    supervisor: FlaskClient,
    unit: Enrolled,
    db: Session,
    instance_path: Path,
) -> None:
    before = _state(db, instance_path)
    lock = rotation.RotationLock(app.extensions["reportline.engine"])
    lock.acquire()
    try:
        busy = _press(supervisor)
    finally:
        lock.release()
    assert busy.status_code == 409
    assert "Another key rotation" in busy.get_data(as_text=True)
    assert _state(db, instance_path) == before

    answer = _press(supervisor)
    assert answer.status_code == 303
    shown = supervisor.get(answer.headers["Location"]).get_data(as_text=True)
    new = _rotated_properly(db, app, unit, group, instance_path)
    assert f"now sealed to {new.fingerprint}" in shown
    assert "Retired" in shown and "Cases still under a retired exclusion key" in shown


def test_a_supervisor_without_the_exclusion_key_cannot_rotate_it_from_the_page(
    app: Flask, group: dict[str, Any], unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    other = add_reader(db, clock, unit, "other@unit.example", role="supervisor")
    client = app.test_client()
    assert sign_in(client, other, clock).status_code == 303
    before = _state(db, Path(app.extensions["reportline.settings"].instance_path))
    refused = _press(client)
    assert refused.status_code == 409
    assert "You do not hold the current exclusion key" in refused.get_data(as_text=True)
    assert _state(db, Path(app.extensions["reportline.settings"].instance_path)) == before


@pytest.mark.parametrize("action", ["role", "revoke", "deactivate", "reset-password"])
def test_removing_a_member_offers_an_exclusion_key_rotation(
    app: Flask,
    supervisor: FlaskClient,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    action: str,
) -> None:
    member = _member(db, clock, unit, "member@unit.example")
    # Someone who never held it: a supervisor for a demotion, else an officer.
    role = "supervisor" if action == "role" else "officer"
    reader = add_reader(db, clock, unit, "reader@unit.example", role=role)
    offer = "Rotate the exclusion key on the keys page"
    for who, offered in ((reader, False), (member, True)):
        page = f"/triage/admin/officers/{who.officer_id}"
        data = {"role": "officer"} if action == "role" else {}
        answer = post_form(supervisor, page, f"{page}/{action}", data)
        if answer.status_code == 303:
            answer = supervisor.get(answer.headers["Location"])
        shown = answer.get_data(as_text=True)
        assert "Nothing was changed" not in shown, shown[shown.find("<main") :][:2000]
        assert (offer in shown) == offered, who.email
    row = db.get(Officer, member.officer_id)
    assert row is not None and not exclusion_keys.holds_a_copy(db, row.id)
    assert not roles.is_supervisor(db, row) or action != "role"


def test_a_released_rotation_lock_lets_another_connection_take_it(app: Flask, db: Session) -> None:
    """PostgreSQL: the lock is a session lock, so it is unlocked before the connection
    goes back to the pool; else every later rotation elsewhere is refused as running."""
    first = rotation.RotationLock(app.extensions["reportline.engine"])
    first.acquire()
    first.release()
    second = rotation.RotationLock(db.get_bind().engine)
    second.acquire()
    second.release()


def test_a_report_sent_while_a_rotation_commits_is_sealed_to_the_new_key(
    app: Flask,
    group: dict[str, Any],
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    reporter: FlaskClient,
    instance_path: Path,
) -> None:
    """The new pin is written just before the rotation commits: a report that reads it
    meanwhile waits for the commit, and is neither refused nor sealed to the old key."""
    failures: list[BaseException] = []

    def send() -> None:
        try:
            submit_report(reporter, what_happened="excluded meanwhile", exclude=EXCLUDE)
        except BaseException as exc:  # reported below, in the test's own thread
            failures.append(exc)

    with instance.database_session(db.info["settings"]) as session:
        opened = keyring.unlock_group_keys_with_recovery_key(
            session, app.extensions["test.recovery_key"]
        )
        pins = instance.read_pins(instance_path)
        done = exclusion_rotation.rotate(session, opened, "cli", clock(), pins)
        instance.pin_exclusion_key(instance_path, done.to_fingerprint)
        sender = threading.Thread(target=send)
        sender.start()
        session.commit()
    sender.join(timeout=120)
    assert not sender.is_alive() and failures == []
    assert len(_pending(db)) == 3
    _rotated_properly(db, app, unit, group, instance_path)
    assert not _opens_any_exclusion_seal(db, group["kept"])
