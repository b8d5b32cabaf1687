"""Restricted cases: sealed to named officers and the recovery key only, and hidden from
everyone else everywhere (queue, counts, filters, case URLs, alerts); on every backend."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import open_sealed
from reportline.models import AuditEntry, Case, CaseSeal, Officer, RecoveryKey, ResealWaiting
from reportline.services import (
    alert_delivery,
    alert_mail,
    alerts,
    cases,
    instance,
    keyring,
    officers,
    passwords,
    recovery,
    restriction,
    roles,
    rotation,
    triage_index,
)
from reportline.services.alert_schedule import Schedule
from reportline.services.errors import NoKeyAccess, ServiceError
from tests.helpers import (
    OFFICER_PASSWORD,
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    csrf_token,
    first_reference,
    follow_up_sign_in,
    officer_records,
    reporter_replies,
    restrict_case,
    sign_in,
    submit_report,
    unlock_officer_key,
)

CATEGORY = "misuse-of-force-systems"
SECRET = "The custody sergeant deleted the footage"
VERSION = re.compile(r'name="version" value="([0-9a-f]+)"')


@pytest.fixture
def team(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, reporter: FlaskClient
) -> dict[str, Any]:
    """A supervisor (the unit's), a second supervisor, a reader and an outsider who both
    hold the unit key, a restricted-to-be case with a national category, and another."""
    chief = add_reader(db, clock, unit, "chief@unit.example", "supervisor")
    reader = add_reader(db, clock, unit, "reader@unit.example")
    outsider = add_reader(db, clock, unit, "outsider@unit.example")
    receipt = submit_report(reporter, what_happened=SECRET)
    boss = app.test_client()
    sign_in(boss, unit, clock)
    clock.advance(seconds=30)
    reference = first_reference(boss)
    assert officer_records(boss, reference).status_code == 303
    submit_report(app.test_client(), what_happened="An ordinary report")
    return {
        "chief": chief,
        "reader": reader,
        "outsider": outsider,
        "boss": boss,
        "reference": reference,
        "case_id": cases.parse_reference(reference),
        "receipt": receipt,
    }


def _client(app: Flask, who: Enrolled, clock: MovableClock) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, who, clock).status_code == 303
    clock.advance(seconds=30)
    return client


def _review(client: FlaskClient, reference: str, ids: list[int], lift: bool = False) -> Any:
    page = client.get(f"/triage/admin/cases/{reference}/access").get_data(as_text=True)
    match = VERSION.search(page)
    assert match, page[:500]
    data: dict[str, Any] = {"csrf_token": csrf_token(page), "version": match.group(1)}
    if lift:
        data["lift"] = "yes"
    else:
        data["officers"] = [str(i) for i in ids]
    return client.post(f"/triage/admin/cases/{reference}/access", data=data)


def _confirm(client: FlaskClient, reviewed: Any) -> Any:
    page = reviewed.get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "version": VERSION.search(page).group(1),  # type: ignore[union-attr]
        "officers": re.findall(r'name="officers" value="([0-9]+)"', page),
        "lift": re.search(r'name="lift" value="([a-z]*)"', page).group(1),  # type: ignore[union-attr]
        "confirm": "yes",
    }
    return client.post(reviewed.request.path, data=data)


def _seals(db: Session, case_id: int) -> set[tuple[str, int]]:
    db.expire_all()
    return {
        (s.holder, s.holder_id)
        for s in db.scalars(select(CaseSeal).where(CaseSeal.case_id == case_id))
    }


def _reset(db: Session, who: Officer, by: Officer, clock: MovableClock) -> None:
    """A supervisor resets the officer's forgotten password; committed."""
    integrity_key = instance.integrity_key(db.info["settings"])
    passwords.reset_forgotten_password(db, who, by, clock(), integrity_key)
    db.commit()


def _new_key_and_access(
    db: Session, unit: Enrolled, who: Officer, by: Officer, clock: MovableClock
) -> None:
    """After a reset: the officer sets a new password (a new key pair) and `unit` gives
    them the unit key again; committed."""
    settings = db.info["settings"]
    integrity_key = instance.integrity_key(settings)
    officers.set_password(who, OFFICER_PASSWORD, instance.argon2_cost(settings), integrity_key)
    db.commit()
    opened = keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    keyring.grant_unit_key(db, opened, who, by, clock(), integrity_key)
    db.commit()


def _plant_waiting(db: Session, case_id: int, officer_id: int, clock: MovableClock) -> None:
    """A re-seal waiting row written in the database alone (a MAC that cannot hold)."""
    db.add(
        ResealWaiting(case_id=case_id, officer_id=officer_id, since=clock().date(), mac=b"\0" * 32)
    )
    db.commit()


def _recovery_id(db: Session) -> int:
    return db.scalars(select(RecoveryKey.id).where(RecoveryKey.retired_at.is_(None))).one()


def test_a_restricted_case_opens_only_for_its_readers_and_is_hidden_from_everyone_else(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    boss, reference, case_id = team["boss"], team["reference"], team["case_id"]
    reader, outsider, chief = team["reader"], team["outsider"], team["chief"]
    reviewed = _review(boss, reference, [unit.officer_id, reader.officer_id])
    shown = reviewed.get_data(as_text=True)
    assert reviewed.status_code == 200 and "Who will lose access" in shown
    losing = shown.split("Who will lose access")[1].split("Who will gain access")[0]
    assert outsider.email in losing and chief.email in losing and reader.email not in losing
    assert _seals(db, case_id) == {("unit_key", 1)}  # nothing changes before confirming

    done = _confirm(boss, reviewed)
    assert done.status_code == 303 and done.headers["Location"].endswith(reference)
    assert _seals(db, case_id) == {
        ("officer", unit.officer_id),
        ("officer", reader.officer_id),
        ("recovery", _recovery_id(db)),
    }
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.access_changed")).one()
    assert SECRET not in str(entry.detail) and reader.email in str(entry.detail)

    # The outsider with the whole database, their password and their key opens nothing.
    own_key = unlock_officer_key(db, outsider)
    held = keyring.unlock_unit_keys(db, outsider.officer_id, own_key)
    for row in db.scalars(select(CaseSeal).where(CaseSeal.case_id == case_id)):
        for key in (own_key, *held.keys.values()):
            context = cases.seal_context(case_id, row.holder, row.holder_id)
            with pytest.raises(DecryptionError):
                open_sealed(row.sealed, key, context)
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    with pytest.raises(NoKeyAccess):
        cases.open_case_secret(case, held)

    # ...nor sees it: queue, counts, the sealed filter, its URL.
    them = _client(app, outsider, clock)
    queue = them.get("/triage/?status=all").get_data(as_text=True)
    assert reference not in queue and "restricted case" not in queue
    assert reference not in them.get("/triage/").get_data(as_text=True)
    assert reference not in them.get(f"/triage/?category={CATEGORY}").get_data(as_text=True)
    assert them.get(f"/triage/cases/{reference}").status_code == 404
    assert them.get("/triage/cases/RL-0000-0001").status_code == 404
    theirs = restriction.visibility(db, held)
    assert theirs.hidden == {case_id}

    # The reader sees and opens it, and finds it by its category (kept out of the index).
    mine = _client(app, reader, clock)
    assert reference in mine.get("/triage/?status=all").get_data(as_text=True)
    assert reference in mine.get(f"/triage/?category={CATEGORY}").get_data(as_text=True)
    assert SECRET in mine.get(f"/triage/cases/{reference}").get_data(as_text=True)
    boss_keys = keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    assert case_id not in triage_index.load(db, boss_keys).entries

    # A supervisor outside it is told how many such cases exist, and nothing else.
    other = _client(app, chief, clock)
    page = other.get("/triage/").get_data(as_text=True)
    assert "1 restricted case you cannot read" in page and reference not in page
    headline = re.search(r"Open[^0-9]*([0-9]+)", page)
    assert headline is not None


def test_counts_and_filters_leave_out_what_the_officer_cannot_read(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    restrict_case(db, unit, team["case_id"], [unit.officer_id], clock())
    from reportline.services import queue

    def page(who: Enrolled, **view: str) -> queue.QueuePage:
        keys = keyring.unlock_unit_keys(db, who.officer_id, unlock_officer_key(db, who))
        officer = db.get(Officer, who.officer_id)
        assert officer is not None
        filters = queue.QueueFilters(**view)
        return queue.read_queue(
            db, keys, officer, clock().date(), filters, 1, 50, ("Misuse of force systems",)
        )

    mine, theirs = page(unit), page(team["outsider"])
    assert mine.headline is not None and theirs.headline is not None
    assert (mine.headline.open, theirs.headline.open) == (2, 1)
    assert (mine.headline.unassigned, theirs.headline.unassigned) == (2, 1)
    assert (page(unit, status="all").total, page(team["outsider"], status="all").total) == (2, 1)
    assert [r.case_id for r in page(unit, category=CATEGORY).rows] == [team["case_id"]]
    assert page(team["outsider"], category=CATEGORY).rows == []
    assert theirs.ledger is not None and theirs.ledger.difference == 0  # counts them all
    assert (mine.hidden, theirs.hidden) == (0, 1)


def test_lifting_the_restriction_gives_the_case_back_to_the_unit(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    boss, reference, case_id = team["boss"], team["reference"], team["case_id"]
    restrict_case(db, unit, case_id, [unit.officer_id], clock())
    reviewed = _review(boss, reference, [], lift=True)
    assert team["outsider"].email in reviewed.get_data(as_text=True).split("Who will gain")[1]
    assert _confirm(boss, reviewed).status_code == 303
    assert _seals(db, case_id) == {("unit_key", 1)}
    them = _client(app, team["outsider"], clock)
    assert SECRET in them.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert reference in them.get(f"/triage/?category={CATEGORY}").get_data(as_text=True)
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None and case.access == "unit"


def test_bad_choices_are_refused_clearly_and_change_nothing(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    boss, reference, case_id = team["boss"], team["reference"], team["case_id"]
    keyless = add_officer(db, clock, "keyless@unit.example")
    leaver = add_reader(db, clock, unit, "leaver@unit.example")
    leaver_row, boss_row = db.get(Officer, leaver.officer_id), db.get(Officer, unit.officer_id)
    assert leaver_row is not None and boss_row is not None
    officers.deactivate(db, leaver_row, boss_row, clock())
    db.commit()
    cases_ = [
        ([], "choose at least one officer"),
        ([unit.officer_id, keyless.officer_id], "keyless@unit.example cannot be given"),
        ([unit.officer_id, leaver.officer_id], "leaver@unit.example cannot be given"),
        ([team["reader"].officer_id], "include at least one supervisor"),
    ]
    for ids, message in cases_:
        refused = _review(boss, reference, ids)
        assert refused.status_code == 400, ids
        assert message in refused.get_data(as_text=True), ids
    assert _seals(db, case_id) == {("unit_key", 1)}
    # A form shown before someone else changed the list is refused as stale.
    stale = _review(boss, reference, [unit.officer_id])
    restrict_case(db, unit, case_id, [unit.officer_id, team["reader"].officer_id], clock())
    before = _seals(db, case_id)
    refused = _confirm(boss, stale)
    assert refused.status_code == 409 and "changed since the form" in refused.get_data(as_text=True)
    assert _seals(db, case_id) == before
    # A choice smuggled past the review is checked again when it is confirmed.
    with pytest.raises(restriction.AccessRefused):
        restrict_case(db, unit, case_id, [team["reader"].officer_id], clock())
    assert _seals(db, case_id) == before
    # An officer (not a supervisor) cannot reach the page at all.
    assert (
        _client(app, team["reader"], clock)
        .get(f"/triage/admin/cases/{reference}/access")
        .status_code
        == 403
    )


def test_revoke_deactivate_and_role_change_keep_a_supervisor_reader(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    chief, reader, case_id = team["chief"], team["reader"], team["case_id"]
    restrict_case(db, unit, case_id, [chief.officer_id, reader.officer_id], clock())
    rows = {who.officer_id: db.get(Officer, who.officer_id) for who in (unit, chief, reader)}
    boss, chief_row, reader_row = (
        rows[unit.officer_id],
        rows[chief.officer_id],
        rows[reader.officer_id],
    )
    assert boss and chief_row and reader_row
    for attempt in (
        lambda: officers.revoke_access(db, chief_row, boss, clock()),
        lambda: officers.deactivate(db, chief_row, boss, clock()),
        lambda: roles.change_role(db, chief_row, "officer", boss, clock()),
    ):
        with pytest.raises(ServiceError, match="only supervisor who can read 1 restricted case"):
            attempt()
        db.rollback()
    assert ("officer", chief.officer_id) in _seals(db, case_id)
    officers.revoke_access(db, reader_row, boss, clock())
    db.commit()
    assert _seals(db, case_id) == {("officer", chief.officer_id), ("recovery", _recovery_id(db))}


def test_a_reset_password_waits_for_a_reseal_that_a_supervisor_makes_in_one_click(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    reader, boss, reference = team["reader"], team["boss"], team["reference"]
    restrict_case(db, unit, team["case_id"], [unit.officer_id, reader.officer_id], clock())
    reader_row, boss_row = db.get(Officer, reader.officer_id), db.get(Officer, unit.officer_id)
    assert reader_row is not None and boss_row is not None
    _reset(db, reader_row, boss_row, clock)
    assert ("officer", reader.officer_id) not in _seals(db, team["case_id"])
    page = boss.get("/triage/admin/keys").get_data(as_text=True)
    assert reference in page and "Once they have set a new password" in page
    # They choose a new password (a new key pair) and are given access again.
    _new_key_and_access(db, unit, reader_row, boss_row, clock)
    page = boss.get("/triage/admin/keys").get_data(as_text=True)
    action = f"/triage/admin/cases/{reference}/reseal/{reader.officer_id}"
    assert action in page
    done = boss.post(action, data={"csrf_token": csrf_token(page)})
    assert done.status_code == 303
    assert ("officer", reader.officer_id) in _seals(db, team["case_id"])
    key = unlock_officer_key(db, reader)
    case = db.get(Case, team["case_id"], populate_existing=True)
    assert case is not None
    secret = cases.open_case_secret(case, keyring.unlock_unit_keys(db, reader.officer_id, key))
    assert cases.open_report(secret, case)["what_happened"] == SECRET
    assert "case.resealed" in db.scalars(select(AuditEntry.action)).all()


def test_a_reseal_planted_in_the_database_is_neither_listed_nor_carried_out(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    """A database writer lists a restricted case as waiting for their own new key: the
    supervisor is not offered it and the re-seal address refuses it."""
    outsider, boss, reference = team["outsider"], team["boss"], team["reference"]
    restrict_case(db, unit, team["case_id"], [unit.officer_id, team["reader"].officer_id], clock())
    _plant_waiting(db, team["case_id"], outsider.officer_id, clock)
    page = boss.get("/triage/admin/keys").get_data(as_text=True)
    action = f"/triage/admin/cases/{reference}/reseal/{outsider.officer_id}"
    assert action not in page
    access = boss.get(f"/triage/admin/cases/{reference}/access").get_data(as_text=True)
    assert f'value="{outsider.officer_id}" checked' not in access
    refused = boss.post(action, data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "Nothing was changed: nothing waits for that re-seal." in refused.get_data(as_text=True)
    assert ("officer", outsider.officer_id) not in _seals(db, team["case_id"])


def test_a_reseal_row_put_back_after_it_was_used_or_overruled_holds_nothing(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    """A database writer keeps a copy of a genuine waiting row and puts it back after the
    re-seal was made, or after a supervisor took the officer off the case: neither is
    offered again."""
    reader, case_id = team["reader"], team["case_id"]
    restrict_case(db, unit, case_id, [unit.officer_id, reader.officer_id], clock())
    reader_row, boss_row = db.get(Officer, reader.officer_id), db.get(Officer, unit.officer_id)
    assert reader_row is not None and boss_row is not None
    _reset(db, reader_row, boss_row, clock)
    row = db.get(ResealWaiting, (case_id, reader.officer_id))
    assert row is not None
    copy = {"case_id": case_id, "officer_id": reader.officer_id, "since": row.since}
    copy["mac"] = row.mac
    _new_key_and_access(db, unit, reader_row, boss_row, clock)
    keys = keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    restriction.reseal(db, keys, case_id, reader.officer_id, boss_row, clock())
    db.commit()
    db.add(ResealWaiting(**copy))
    db.commit()
    assert restriction.waiting(db, case_id) == []  # used: the copy is dead
    db.execute(delete(ResealWaiting))
    _reset(db, reader_row, boss_row, clock)  # forgotten again: a new genuine row
    again = db.get(ResealWaiting, (case_id, reader.officer_id))
    assert again is not None and restriction.waiting(db, case_id) == [reader.officer_id]
    copy = {**copy, "since": again.since, "mac": again.mac}
    # The writer spoils the row's MAC first, hoping the change of access then leaves
    # the epoch alone, and puts the genuine copy back after.
    db.execute(update(ResealWaiting).values(mac=b"\0" * 32))
    chief = team["chief"].officer_id
    restrict_case(db, unit, case_id, [unit.officer_id, chief], clock())  # they stay off it
    db.add(ResealWaiting(**copy))
    db.commit()
    assert restriction.waiting(db, case_id) == []
    assert ("officer", reader.officer_id) not in _seals(db, case_id)


def test_a_deactivation_undone_in_the_database_stays_undone_through_a_change_of_access(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    """A database writer sets a deactivated supervisor active again and plants a re-seal
    row for them: changing the case's access (which deletes its rows) does not make the
    state they wrote authentic."""
    chief = team["chief"]
    chief_row, boss_row = db.get(Officer, chief.officer_id), db.get(Officer, unit.officer_id)
    assert chief_row is not None and boss_row is not None
    officers.deactivate(db, chief_row, boss_row, clock())
    db.commit()
    db.execute(update(Officer).where(Officer.id == chief.officer_id).values(active=True))
    _plant_waiting(db, team["case_id"], chief.officer_id, clock)
    restrict_case(db, unit, team["case_id"], [unit.officer_id], clock())
    db.expire_all()
    chief_row = db.get(Officer, chief.officer_id)
    assert chief_row is not None
    assert not keyring.state_holds(db, chief_row) and not roles.is_supervisor(db, chief_row)
    assert sign_in(app.test_client(), chief, clock).status_code != 303


def test_a_planted_seal_lists_nothing_from_what_a_reader_filtered_before(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    """The terms a sealed filter opened for a reader stay theirs: a database writer who
    plants a seal in another supervisor's name gets the case no filter lists for them."""
    reference, boss = team["reference"], team["boss"]
    restrict_case(db, unit, team["case_id"], [unit.officer_id, team["reader"].officer_id], clock())
    assert reference in boss.get(f"/triage/?category={CATEGORY}").get_data(as_text=True)
    db.add(
        CaseSeal(
            case_id=team["case_id"],
            holder=cases.OFFICER,
            holder_id=team["chief"].officer_id,
            sealed=b"x" * 64,
        )
    )
    db.commit()
    chief = _client(app, team["chief"], clock)
    assert reference not in chief.get(f"/triage/?category={CATEGORY}").get_data(as_text=True)


def test_the_audit_log_and_keys_page_name_a_restricted_case_only_to_its_readers(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    reference, boss = team["reference"], team["boss"]
    restrict_case(db, unit, team["case_id"], [unit.officer_id, team["reader"].officer_id], clock())
    chief = _client(app, team["chief"], clock)  # a supervisor who is not a reader
    page = chief.get("/triage/admin/audit").get_data(as_text=True)
    assert reference not in page and "A restricted case you cannot read" in page
    filtered = chief.get(f"/triage/admin/audit?case={reference}").get_data(as_text=True)
    assert "No entries match these filters." in filtered
    mine = boss.get(f"/triage/admin/audit?case={reference}").get_data(as_text=True)
    assert reference in mine and "A restricted case you cannot read" not in mine
    keys_page = " ".join(chief.get("/triage/admin/keys").get_data(as_text=True).split())
    assert reference not in keys_page
    assert "1 restricted case you cannot read is not listed here" in keys_page
    assert reference in boss.get("/triage/admin/keys").get_data(as_text=True)


def test_resetting_the_only_supervisor_reader_warns_that_recover_is_the_way_back(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    chief, reader, boss = team["chief"], team["reader"], team["boss"]
    restrict_case(db, unit, team["case_id"], [chief.officer_id, reader.officer_id], clock())
    page = boss.get(f"/triage/admin/officers/{chief.officer_id}/reset-password")
    text = " ".join(page.get_data(as_text=True).split())
    assert "1 restricted case they may read will wait" in text
    assert "only supervisor who can read 1 restricted case" in text
    assert "reportline recover" in text
    other = boss.get(f"/triage/admin/officers/{reader.officer_id}/reset-password")
    assert "only supervisor who can read" not in other.get_data(as_text=True)


def test_a_waiting_reseal_survives_a_role_change_but_not_a_deactivation_put_back(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    reader, case_id = team["reader"], team["case_id"]
    restrict_case(db, unit, case_id, [unit.officer_id, reader.officer_id], clock())
    reader_row, boss_row = db.get(Officer, reader.officer_id), db.get(Officer, unit.officer_id)
    assert reader_row is not None and boss_row is not None
    _reset(db, reader_row, boss_row, clock)
    assert restriction.waiting(db, case_id) == [reader.officer_id]
    roles.change_role(db, reader_row, "supervisor", boss_row, clock())
    db.commit()
    assert restriction.waiting(db, case_id) == [reader.officer_id]  # carried to the new epoch
    kept = db.get(ResealWaiting, (case_id, reader.officer_id))
    assert kept is not None
    copy = (kept.since, kept.mac)
    officers.deactivate(db, reader_row, boss_row, clock())
    db.commit()
    assert restriction.waiting(db, case_id) == []
    officers.reactivate(db, reader_row, boss_row, clock())
    db.add(ResealWaiting(case_id=case_id, officer_id=reader.officer_id, since=copy[0], mac=copy[1]))
    db.commit()
    assert restriction.waiting(db, case_id) == []  # the row from before it is dead


def test_a_restriction_made_while_the_recovery_key_is_replaced_is_never_sealed_to_the_old_one(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    """The replacement holds the recovery key row; a restriction waits for it, then finds
    the key it would seal to retired and refuses (on SQLite, writers queue anyway)."""
    make_session: sessionmaker[Session] = app.extensions["reportline.sessionmaker"]
    old_private = app.extensions["test.recovery_key"]
    pins = instance.read_pins(db.info["settings"].instance_path)
    outcome: dict[str, object] = {}

    def restrict() -> None:
        with make_session() as session:
            session.info.update(db.info)
            try:
                restrict_case(session, unit, team["case_id"], [unit.officer_id], clock())
                outcome["restrict"] = "restricted"
            except ServiceError as exc:
                outcome["restrict"] = str(exc)

    with make_session() as first:
        recovery.replace(first, old_private, clock(), pins.recovery, pins.exclusion)
        other = threading.Thread(target=restrict)
        other.start()
        other.join(timeout=1)  # it waits for the replacement's locks
        first.commit()
    other.join()

    assert "no recovery key is pinned" in str(outcome["restrict"])
    assert {holder for holder, _ in _seals(db, team["case_id"])} == {"unit_key"}
    retired = db.scalars(select(RecoveryKey.id).where(RecoveryKey.retired_at.is_not(None))).one()
    assert ("recovery", retired) not in _seals(db, team["case_id"])


def test_a_change_of_access_waits_for_no_running_rotation(
    app: Flask,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    team: dict[str, Any],
    backend: str,
) -> None:
    """On PostgreSQL a rotation batch and a restriction could wait for each other: while a
    rotation runs, a change of access is refused and changes nothing. SQLite's writers
    take turns, so there it goes through."""
    lock = rotation.RotationLock(app.extensions["reportline.engine"])
    lock.acquire()
    try:
        if backend == "postgresql":
            with pytest.raises(ServiceError, match="a key rotation is running"):
                restrict_case(db, unit, team["case_id"], [unit.officer_id], clock())
            assert {holder for holder, _ in _seals(db, team["case_id"])} == {"unit_key"}
        else:
            restrict_case(db, unit, team["case_id"], [unit.officer_id], clock())
            assert "unit_key" not in {holder for holder, _ in _seals(db, team["case_id"])}
    finally:
        lock.release()
    restrict_case(db, unit, team["case_id"], [unit.officer_id, team["chief"].officer_id], clock())


def test_replies_and_deadlines_of_a_restricted_case_are_counted_only_for_its_readers(
    app: Flask,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    team: dict[str, Any],
    reporter: FlaskClient,
) -> None:
    schedule = Schedule.from_settings(db.info["settings"])
    alerts.make_regular_batch(db, schedule, clock(), off_schedule=True)
    db.commit()
    restrict_case(db, unit, team["case_id"], [unit.officer_id, team["reader"].officer_id], clock())
    follow_up_sign_in(reporter, team["receipt"])
    assert reporter_replies(reporter, "More about the footage").status_code == 303
    clock.advance(minutes=5)
    alerts.make_regular_batch(db, schedule, clock(), off_schedule=True)
    db.commit()
    from reportline.models import PendingAlert

    db.expire_all()
    boss_alert = db.get(PendingAlert, unit.officer_id)
    chief_alert = db.get(PendingAlert, team["chief"].officer_id)
    assert boss_alert is not None and boss_alert.new_replies == 1
    assert chief_alert is None or chief_alert.new_replies == 0
    _people, allowed = alert_delivery._recipients(db)
    audience = -team["case_id"]
    assert audience in allowed[unit.officer_id] and audience in allowed[team["reader"].officer_id]
    assert audience not in allowed[team["chief"].officer_id]
    assert audience not in allowed[team["outsider"].officer_id]
    due = alert_mail.deadline_counts(db, clock().date())
    assert (audience, 0) in due


def test_a_pending_case_opens_with_a_held_group_key_and_a_supervisor_sets_its_access(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, team: dict[str, Any]
) -> None:
    """A report sealed to the exclusion group alone (as the reporter's exclusion will
    leave it) is hidden from the unit, and becomes restricted when a supervisor holding
    the group key chooses its readers."""
    from reportline.crypto.keys import generate_private_key
    from reportline.services import case_record

    case_id = team["case_id"]
    boss = keyring.unlock_unit_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    secret = cases.open_case_secret(case, boss)
    group = generate_private_key()
    for row in list(case.seals):
        db.delete(row)
    db.flush()
    # A generation id nobody holds (the unit's supervisor holds the real exclusion key).
    db.add(cases.seal_to(case_id, cases.EXCLUSION_GROUP, 9999, secret, group.public_key()))
    case.access = cases.PENDING
    cases.seal_state(case, secret.mac_key())
    db.commit()
    assert restriction.hidden_from(db, case_id, boss)
    assert _client(app, unit, clock).get(f"/triage/cases/{team['reference']}").status_code == 404
    member = keyring.UnitKeyring(boss.keys, boss.officer_id, boss.officer_key, {9999: group})
    assert not restriction.hidden_from(db, case_id, member)
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    version = restriction.access_version(case, [], [])
    supervisor = db.get(Officer, unit.officer_id)
    assert supervisor is not None
    pins = instance.read_pins(db.info["settings"].instance_path)
    restriction.set_access(
        db,
        member,
        case_id,
        [unit.officer_id, team["reader"].officer_id],
        version,
        supervisor,
        clock(),
        restriction.Pins(None, pins.recovery),
    )
    db.commit()
    assert _seals(db, case_id) == {
        ("officer", unit.officer_id),
        ("officer", team["reader"].officer_id),
        ("recovery", _recovery_id(db)),
    }
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None and case.access == "restricted"
    assert case_record.current_record(db, case, cases.open_case_secret(case, boss)).categories
