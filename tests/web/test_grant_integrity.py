"""Unit key grants and officers' access state against a database writer without the
instance config (docs/security.md, "What a database writer cannot do"), and the
safeguards that must hold when two supervisors act at once."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from reportline.models import Officer, RecoveryKey, UnitKey, UnitKeyGrant
from reportline.services import enrolment, instance, keyring, officers, roles, rotation
from reportline.services.errors import InviteInvalid, ServiceError
from tests.helpers import (
    FAST_ARGON2,
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    first_reference,
    post_form,
    sign_in,
    submit_report,
    unlock_officer_key,
)

REPORT_TEXT = "Looked up an ex-partner"


def _grant_rows(db: Session, officer_id: int) -> list[dict[str, Any]]:
    """The officer's grant rows as a backup holds them."""
    return [
        dict(row._mapping)
        for row in db.execute(
            text("SELECT * FROM unit_key_grants WHERE officer_id = :o"), {"o": officer_id}
        )
    ]


def _put_back(db: Session, rows: list[dict[str, Any]]) -> None:
    """What a database writer does with rows from a backup: insert them again."""
    for row in rows:
        columns = ", ".join(row)
        values = ", ".join(f":{name}" for name in row)
        db.execute(text(f"INSERT INTO unit_key_grants ({columns}) VALUES ({values})"), row)


def _reads(app: Flask, who: Enrolled, clock: MovableClock, reference: str) -> bool:
    clock.advance(seconds=30)
    client = app.test_client()
    if sign_in(client, who, clock).status_code != 303:
        return False
    return REPORT_TEXT in client.get(f"/triage/cases/{reference}").get_data(as_text=True)


def _start_rotation(app: Flask, db: Session, unit: Enrolled, clock: MovableClock) -> int:
    make_session: sessionmaker[Session] = app.extensions["reportline.sessionmaker"]
    opened = keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    pin = db.scalars(select(UnitKey.fingerprint).where(UnitKey.active.is_(True))).one()
    recovery = db.scalars(select(RecoveryKey.public_key)).one()
    with make_session() as session:
        started = rotation.start(
            session,
            opened,
            "test",
            clock(),
            instance.integrity_key(db.info["settings"]),
            pin,
            instance.recovery_pin(recovery),
        )
        session.commit()
        return started.to_unit_key_id


def test_grants_put_back_from_a_backup_after_a_revoke_open_nothing(
    app: Flask,
    supervisor: FlaskClient,
    reporter: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    leaving = add_reader(db, clock, unit, "leaving@unit.example")
    backup = _grant_rows(db, leaving.officer_id)
    assert _reads(app, leaving, clock, reference)

    page = f"/triage/admin/officers/{leaving.officer_id}"
    post_form(supervisor, page, f"{page}/revoke", {})
    _put_back(db, backup)

    assert not _reads(app, leaving, clock, reference)
    listed = supervisor.get(page).get_data(as_text=True)
    assert "can no longer read reports" in listed or "Give access" in listed
    new_key = _start_rotation(app, db, unit, clock)
    assert (
        db.scalars(
            select(UnitKeyGrant).where(
                UnitKeyGrant.officer_id == leaving.officer_id, UnitKeyGrant.unit_key_id == new_key
            )
        ).first()
        is None
    )


def test_a_deactivation_undone_in_the_database_lets_nobody_in(
    app: Flask,
    supervisor: FlaskClient,
    reporter: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    submit_report(reporter)
    reference = first_reference(supervisor)
    gone = add_reader(db, clock, unit, "gone@unit.example")
    backup = _grant_rows(db, gone.officer_id)
    page = f"/triage/admin/officers/{gone.officer_id}"
    post_form(supervisor, page, f"{page}/deactivate", {})

    db.execute(text("UPDATE officers SET active = true WHERE id = :o"), {"o": gone.officer_id})
    _put_back(db, backup)

    assert not _reads(app, gone, clock, reference)
    new_key = _start_rotation(app, db, unit, clock)
    holders = set(
        db.scalars(
            select(UnitKeyGrant.officer_id).where(
                UnitKeyGrant.unit_key_id == new_key, UnitKeyGrant.officer_id.is_not(None)
            )
        )
    )
    assert holders == {unit.officer_id}


def test_a_grant_row_forged_in_the_database_makes_no_holder(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    accomplice = add_officer(db, clock, "accomplice@unit.example")
    current = db.scalars(select(UnitKey.id).where(UnitKey.active.is_(True))).one()
    genuine = db.scalars(
        select(UnitKeyGrant).where(UnitKeyGrant.officer_id == unit.officer_id)
    ).one()
    db.execute(
        text(
            "INSERT INTO unit_key_grants (unit_key_id, officer_id, sealed_private_key, mac,"
            " granted_at) VALUES (:k, :o, :s, :m, :t)"
        ),
        {
            "k": current,
            "o": accomplice.officer_id,
            "s": genuine.sealed_private_key,
            "m": genuine.mac,  # another officer's MAC does not fit this row
            "t": clock(),
        },
    )
    assert not keyring.holds_unit_key(db, accomplice.officer_id)
    assert (accomplice.officer_id, accomplice.email) not in _assignable(db)
    new_key = _start_rotation(app, db, unit, clock)
    holders = set(
        db.scalars(
            select(UnitKeyGrant.officer_id).where(
                UnitKeyGrant.unit_key_id == new_key, UnitKeyGrant.officer_id.is_not(None)
            )
        )
    )
    assert holders == {unit.officer_id}


def _assignable(db: Session) -> list[tuple[int, str]]:
    from reportline.services import queue_filters

    return queue_filters.assignable_officers(db)


def test_two_supervisors_revoking_each_other_at_once_leave_one_holder(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    deputy = add_reader(db, clock, unit, "deputy@unit.example", role="supervisor")
    make_session: sessionmaker[Session] = app.extensions["reportline.sessionmaker"]
    outcome: dict[str, object] = {}

    def deputy_revokes_chief() -> None:
        with make_session() as session:
            chief, by = (
                session.get(Officer, unit.officer_id),
                session.get(Officer, deputy.officer_id),
            )
            assert chief is not None and by is not None
            try:
                officers.revoke_access(session, chief, by, clock())
                session.commit()
                outcome["deputy"] = "revoked"
            except ServiceError as exc:
                session.rollback()
                outcome["deputy"] = str(exc)

    with make_session() as first:
        target, by = first.get(Officer, deputy.officer_id), first.get(Officer, unit.officer_id)
        assert target is not None and by is not None
        officers.revoke_access(first, target, by, clock())  # not yet committed
        other = threading.Thread(target=deputy_revokes_chief)
        other.start()
        other.join(timeout=1)  # it waits for the first revoke's locks (or finishes wrongly)
        first.commit()
    other.join()

    assert "last active officer who can read reports" in str(outcome["deputy"])
    assert keyring.holds_unit_key(db, unit.officer_id)
    assert not keyring.holds_unit_key(db, deputy.officer_id)


def test_a_reactivated_supervisor_comes_back_as_an_officer(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    former = add_officer(db, clock, "former.chief@unit.example", role="supervisor")
    page = f"/triage/admin/officers/{former.officer_id}"
    post_form(supervisor, page, f"{page}/deactivate", {})
    post_form(supervisor, page, f"{page}/reactivate", {})
    row = db.get(Officer, former.officer_id)
    assert row is not None
    db.refresh(row)
    assert row.role == roles.OFFICER and not roles.is_supervisor(db, row)
    clock.advance(seconds=30)
    client = app.test_client()
    assert sign_in(client, former, clock).status_code == 303
    assert client.get(f"/triage/admin/officers/{unit.officer_id}").status_code == 403


def test_an_enrolment_link_redeemed_twice_at_once_sets_one_password(
    app: Flask, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    make_session: sessionmaker[Session] = app.extensions["reportline.sessionmaker"]
    key = instance.integrity_key(db.info["settings"])
    with make_session() as session:
        newcomer = officers.new_officer_row(session, "newcomer@unit.example", "officer", clock())
        token = enrolment.new_link(session, newcomer, enrolment.ENROL, clock(), key)
        newcomer_id = newcomer.id
        session.commit()
    outcome: dict[str, object] = {}

    def second_redeems() -> None:
        with make_session() as session:
            try:
                enrolment.redeem_enrolment(
                    session, token, "second hazel quarry lantern", FAST_ARGON2, clock(), key
                )
                session.commit()
                outcome["second"] = "redeemed"
            except InviteInvalid as exc:
                session.rollback()
                outcome["second"] = str(exc)

    with make_session() as first:
        _, chosen = enrolment.redeem_enrolment(
            first, token, "first willow cobalt pepper", FAST_ARGON2, clock(), key
        )
        other = threading.Thread(target=second_redeems)
        other.start()
        other.join(timeout=1)  # it waits for the first's delete (or finishes wrongly)
        first.commit()
    other.join()

    assert outcome["second"] != "redeemed"  # refused: used (PostgreSQL) or gone (SQLite)
    row = db.get(Officer, newcomer_id)
    assert row is not None
    db.refresh(row)
    assert row.public_key == chosen.public_key().raw


def test_a_demoted_supervisors_old_role_put_back_grants_nothing(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    deputy = add_reader(db, clock, unit, "demoted@unit.example", role="supervisor")
    backup = db.execute(
        text("SELECT role, role_mac FROM officers WHERE id = :o"), {"o": deputy.officer_id}
    ).one()
    role_page = f"/triage/admin/officers/{deputy.officer_id}/role"
    post_form(supervisor, role_page, role_page, {"role": "officer"})
    db.execute(
        text("UPDATE officers SET role = :r, role_mac = :m WHERE id = :o"),
        {"r": backup.role, "m": backup.role_mac, "o": deputy.officer_id},
    )

    clock.advance(seconds=30)
    client = app.test_client()
    assert sign_in(client, deputy, clock).status_code == 303
    assert client.get("/triage/admin/").status_code == 403
    assert keyring.holds_unit_key(db, deputy.officer_id)  # a role change keeps the grant
