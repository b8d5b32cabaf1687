"""The audit log in the browser: supervisors filter and page through it, see whether the
chain is intact, and their own viewing is recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from reportline.models import AuditEntry
from reportline.services import audit, cases
from reportline.web.admin import audit_views
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_reader,
    csrf_token,
    sign_in,
    submit_report,
    transactions,
)

LOG = "/triage/admin/audit"
REFERENCE = re.compile(r"RL-[0-9A-Z]{4}-[0-9A-Z]{4}")
ROW = re.compile(r"<tr>\s*<td>([\d,]+)</td>(.*?)</tr>", re.S)


def _page(client: FlaskClient, query: str = "") -> str:
    response = client.get(LOG + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    return response.get_data(as_text=True)


def _rows(html: str) -> list[tuple[int, str]]:
    """(entry number, the rest of its row) for each row shown, in order."""
    return [(int(number.replace(",", "")), rest) for number, rest in ROW.findall(html)]


def _newest(db: Session) -> AuditEntry:
    db.expire_all()
    entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    assert entry is not None
    return entry


def _check_whole_log(client: FlaskClient) -> str:
    token = csrf_token(_page(client))
    response = client.post(f"{LOG}/check", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == LOG
    return _page(client)


@pytest.fixture
def two_cases(reporter: FlaskClient, supervisor: FlaskClient) -> tuple[str, str]:
    """Two reports, opened by the supervisor one after the other: (first, second) opened."""
    submit_report(reporter, what_happened="The first report")
    submit_report(reporter, what_happened="The second report")
    queue = supervisor.get("/triage/?status=all").get_data(as_text=True)
    references = sorted(set(REFERENCE.findall(queue)))
    assert len(references) == 2
    for reference in references:
        assert supervisor.get(f"/triage/cases/{reference}").status_code == 200
    return references[0], references[1]


# ---------------------------------------------------------------- what the page shows


def test_the_log_shows_entries_newest_first_in_words_with_links_to_cases(
    supervisor: FlaskClient, two_cases: tuple[str, str], unit: Enrolled
) -> None:
    first, second = two_cases
    html = _page(supervisor)
    numbers = [number for number, _row in _rows(html)]
    assert numbers == sorted(numbers, reverse=True) and numbers[-1] == 1
    opened = [row for _n, row in _rows(html) if "Opened a case" in row]
    assert len(opened) == 2
    assert f'<a href="/triage/cases/{second}">{second}</a>' in opened[0]
    assert f'<a href="/triage/cases/{first}">{first}</a>' in opened[1]
    assert all(unit.email in row for row in opened)
    assert "Set up ReportLine" in html and "Operator (command line)" in html
    assert "case.viewed" not in html.split("<tbody>")[1]  # labels, not codes
    assert "The first report" not in html and "The second report" not in html


def test_filtering_by_officer_shows_only_that_officers_entries(
    app: Flask,
    supervisor: FlaskClient,
    two_cases: tuple[str, str],
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    colleague = add_reader(db, clock, unit, "colleague@unit.example")
    browser = app.test_client()
    assert sign_in(browser, colleague, clock).status_code == 303
    browser.get(f"/triage/cases/{two_cases[0]}")
    html = _page(supervisor, f"?officer={colleague.officer_id}")
    rows = _rows(html)
    assert [row for _n, row in rows if "Opened a case" in row]
    assert all("colleague@unit.example" in row for _n, row in rows)
    everyone = _page(supervisor, "?officer=")
    assert unit.email in everyone.split("<tbody>")[1]
    operator = _rows(_page(supervisor, "?officer=cli"))
    assert operator and all("Operator (command line)" in row for _n, row in operator)


def test_filtering_by_case_reference_shows_only_that_cases_entries(
    supervisor: FlaskClient, two_cases: tuple[str, str]
) -> None:
    first, second = two_cases
    rows = _rows(_page(supervisor, f"?case={first}"))
    assert rows and all(f">{first}</a>" in row for _n, row in rows)
    assert not any(second in row for _n, row in rows)
    # Typed as people type it: lower case, spaces around. The view just made is listed too.
    again = _rows(_page(supervisor, f"?case=+{first.lower()}+"))
    assert again[1:] == rows and "Viewed the audit log" in again[0][1]


def test_filtering_by_action_and_combining_filters(
    supervisor: FlaskClient, two_cases: tuple[str, str], unit: Enrolled
) -> None:
    rows = _rows(_page(supervisor, "?action=case.viewed"))
    assert len(rows) == 2 and all("Opened a case" in row for _n, row in rows)
    combined = _rows(_page(supervisor, f"?action=case.viewed&case={two_cases[1]}"))
    assert len(combined) == 1 and two_cases[1] in combined[0][1]
    none = _page(supervisor, f"?action=case.viewed&officer=cli&case={two_cases[1]}")
    assert _rows(none) == [] and "No entries match these filters." in none


def test_pages_go_back_to_older_entries_and_forward_again_keeping_the_filters(
    supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    for page in range(1, 121):
        audit.record(db, unit.email, "queue.viewed", clock(), page=page, status="open")
    db.commit()
    first = _page(supervisor, "?action=queue.viewed")
    rows = _rows(first)
    assert len(rows) == audit_views.PAGE_SIZE
    assert "page: 120;" in rows[0][1] and "Newer entries" not in first
    older = re.search(r'href="([^"]+)" rel="next">Older entries', first)
    assert older
    link = older.group(1).replace("&amp;", "&")
    assert "action=queue.viewed" in link
    second = supervisor.get(link).get_data(as_text=True)
    second_rows = _rows(second)
    assert len(second_rows) == audit_views.PAGE_SIZE
    assert second_rows[0][0] < rows[-1][0] and "page: 70;" in second_rows[0][1]
    # Entries appended meanwhile do not move what a page holds.
    audit.record(db, unit.email, "queue.viewed", clock(), page=121, status="open")
    db.commit()
    assert _rows(supervisor.get(link).get_data(as_text=True)) == second_rows
    newer = re.search(r'href="([^"]+)" rel="prev">Newer entries', second)
    assert newer
    back = _rows(supervisor.get(newer.group(1).replace("&amp;", "&")).get_data(as_text=True))
    assert back == rows
    last = re.search(r'href="([^"]+)" rel="next">Older entries', second)
    assert last
    third = supervisor.get(last.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(_rows(third)) >= 20 and "Older entries" not in third


def test_viewing_the_log_is_recorded_with_the_filters_used_and_no_case_content(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session, unit: Enrolled
) -> None:
    first, _second = two_cases
    _page(supervisor, f"?officer={unit.officer_id}&action=case.viewed&case={first}")
    entry = _newest(db)
    assert (entry.action, entry.actor) == ("audit.viewed", unit.email)
    assert entry.case_id == cases.parse_reference(first)
    assert json.loads(entry.detail) == {
        "filters": {"officer": unit.officer_id, "action": "case.viewed"}
    }
    _page(supervisor, f"?before={entry.id}")
    paged = _newest(db)
    assert paged.case_id is None and json.loads(paged.detail) == {"before": entry.id, "filters": {}}
    assert "Viewed the audit log" in _page(supervisor)


# ---------------------------------------------------------------- the chain's state


def test_an_intact_chain_is_shown_as_checked_just_now(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session
) -> None:
    html = _page(supervisor)
    assert "Intact: checked just now" in html
    assert f"All {_newest(db).id - 1} entries were checked just now" in html


def test_an_entry_altered_in_the_database_breaks_the_chain_at_that_entry(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session
) -> None:
    target = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.viewed")).first()
    assert target is not None
    db.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(actor="someone else"))
    html = _page(supervisor)
    assert f"The audit log is broken at entry {target.id}" in html
    assert "Found just now." in html
    assert "changed, added or removed in the database" in html
    assert "Change nothing in the database" in html
    assert "Intact" not in html


def test_a_deleted_entry_breaks_the_chain_at_the_next_one(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session
) -> None:
    db.execute(delete(AuditEntry).where(AuditEntry.id == 3))
    assert "The audit log is broken at entry 4" in _page(supervisor)


def test_a_full_check_is_recorded_and_vouches_for_the_entries_before_it(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session, unit: Enrolled
) -> None:
    html = _check_whole_log(supervisor)
    check = db.scalars(select(AuditEntry).where(AuditEntry.action == audit.VERIFIED)).one()
    assert check.actor == unit.email
    assert json.loads(check.detail) == {
        "entries": check.id - 1,
        "broken": 0,
        "first_broken": None,
    }
    assert f"all {check.id - 1} entries before entry {check.id} are intact" in html
    assert "Intact when last checked in full" in html
    assert f"found entries 1 to {check.id - 1} intact" in html
    assert "23 Nov 2026" in html and unit.email in html
    # Entries recorded since the check (these views) are checked on each view.
    assert "recorded since" not in html
    assert "The entry recorded since was checked just now and is intact." in _page(supervisor)
    assert "The 2 entries recorded since were checked just now and are intact." in _page(supervisor)


def test_an_entry_altered_after_a_full_check_is_never_called_intact_now(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session
) -> None:
    _check_whole_log(supervisor)
    db.execute(update(AuditEntry).where(AuditEntry.id == 2).values(detail='{"officer":99}'))
    html = _page(supervisor)
    # The page says only what the last full check found, and when.
    assert "Intact when last checked in full" in html
    assert "Intact: checked just now" not in html
    assert "A change made to an older entry after that check shows only at the next" in html
    rechecked = _check_whole_log(supervisor)
    assert "The whole log was checked: it is broken at entry 2." in rechecked
    assert "The audit log is broken at entry 2" in rechecked
    assert "Found by the full check on" in rechecked
    assert "Intact" not in rechecked


def test_a_full_check_record_altered_in_the_database_is_itself_a_break(
    supervisor: FlaskClient, two_cases: tuple[str, str], db: Session
) -> None:
    _page(supervisor)  # an entry to break the chain with, before the check
    db.execute(update(AuditEntry).where(AuditEntry.id == 2).values(actor="someone else"))
    _check_whole_log(supervisor)
    check = db.scalars(select(AuditEntry).where(AuditEntry.action == audit.VERIFIED)).one()
    db.execute(update(AuditEntry).where(AuditEntry.id == 2).values(actor="cli"))
    db.execute(
        update(AuditEntry)
        .where(AuditEntry.id == check.id)
        .values(detail=json.dumps({"broken": 0, "entries": check.id - 1, "first_broken": None}))
    )
    assert f"The audit log is broken at entry {check.id}" in _page(supervisor)


def test_entries_beyond_what_one_view_checks_are_shown_as_not_checked(
    supervisor: FlaskClient,
    two_cases: tuple[str, str],
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_views, "VIEW_CHECK_LIMIT", 3)
    length = _newest(db).id
    html = _page(supervisor)
    assert "Not every entry has been checked" in html
    assert "The whole log has never been checked." in html
    assert "Entries 1 to 3 were checked just now and are intact." in html
    assert f"The {length - 3} newest entries have not been checked." in html
    assert "Intact" not in html
    after_check = _check_whole_log(supervisor)
    assert "Intact when last checked in full" in after_check


def _walks(transaction: list[str]) -> bool:
    """Whether a transaction reads entries in chain order (a check of the chain)."""
    return any(
        "FROM audit_entries" in sql and "ORDER BY audit_entries.id LIMIT" in sql
        for sql in transaction
    )


def _writes(transaction: list[str]) -> bool:
    return any(sql.startswith(("INSERT", "UPDATE", "DELETE")) for sql in transaction)


def test_the_log_is_read_and_checked_in_transactions_that_write_nothing(
    app: Flask, supervisor: FlaskClient, two_cases: tuple[str, str]
) -> None:
    engine = app.extensions["reportline.engine"]
    token = csrf_token(_page(supervisor))
    with transactions(engine) as viewing:
        _page(supervisor)
    with transactions(engine) as checking:
        supervisor.post(f"{LOG}/check", data={"csrf_token": token})
    for found in (viewing, checking):
        reading = [t for t in found if _walks(t) and not _writes(t)]
        assert reading, found
        if engine.dialect.name == "sqlite":  # no write lock while reading the log
            assert all("BEGIN" in t and "BEGIN IMMEDIATE" not in t for t in reading)
    # The view's own entry is appended after, in a write that checks nothing.
    assert [t for t in viewing if _writes(t) and "INSERT INTO audit_entries" in " ".join(t)]
    assert not [t for t in viewing if _writes(t) and _walks(t)]
    # The full check writes its record once, with appends locked, after what came meanwhile.
    assert len([t for t in checking if _writes(t) and _walks(t)]) == 1


# ---------------------------------------------------------------- who may, and bad input


def test_an_officer_who_is_not_a_supervisor_is_refused(
    app: Flask, supervisor: FlaskClient, db: Session, clock: MovableClock, unit: Enrolled
) -> None:
    officer = add_reader(db, clock, unit, "reader@unit.example")
    client = app.test_client()
    assert sign_in(client, officer, clock).status_code == 303
    before = _newest(db).id
    response = client.get(LOG)
    assert response.status_code == 403
    assert "You cannot see this page" in response.get_data(as_text=True)
    token = csrf_token(client.get("/triage/account").get_data(as_text=True))
    assert client.post(f"{LOG}/check", data={"csrf_token": token}).status_code == 403
    assert _newest(db).id == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?officer=999999", "Choose an officer from the list"),
        ("?officer=someone%40unit.example", "Choose an officer from the list"),
        ("?action=case.read_aloud", "Choose an action from the list"),
        ("?case=RL-NOPE", "Enter a case reference like RL-3K7D-Q9PX, or leave it empty"),
        ("?case=" + "A" * 21, "Use 20 characters or fewer"),
        ("?before=ten", "That page of the log does not exist"),
        ("?after=-1", "That page of the log does not exist"),
    ],
)
def test_a_bad_filter_is_answered_400_with_a_clear_message_and_nothing_recorded(
    supervisor: FlaskClient, db: Session, query: str, message: str
) -> None:
    before = _newest(db).id
    response = supervisor.get(LOG + query)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is a problem" in html and message in html
    assert "<tbody>" not in html
    assert _newest(db).id == before


@pytest.mark.parametrize(
    ("actor", "case_id", "detail"),
    [
        ("supervisor@unit.example", None, "{}"),
        ("cli", 2**40 - 1, '{"fields":["links"],"page":2}'),
        ("o'brien\"\\@unit.example", 7, '{"why":"tab\\there"}'),
        ("gwenllïan@uned.example", 0, '{"x":"\u2028 \ud83d\ude00 \u0000"}'),
        ("\x01\x1f\x7f\u00e9\U0001f600", None, "not json at all: \n\t\\"),
    ],
)
def test_an_entry_links_over_the_same_bytes_as_the_chain_always_has(
    actor: str, case_id: int | None, detail: str
) -> None:
    """Entries written before the chain check was made faster still verify."""
    import hashlib
    import hmac
    from datetime import datetime

    at = datetime(2026, 11, 23, 10, 0, 30)
    canonical = json.dumps(
        [41, at.isoformat(), actor, "case.viewed", case_id, detail],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    key, prev = bytes(range(32)), bytes(32)
    expected = hmac.new(key, prev + canonical, hashlib.sha256).digest()
    assert audit._link(key, prev, 41, at, actor, "case.viewed", case_id, detail) == expected


def test_every_action_the_services_record_has_a_label() -> None:
    root = Path(audit.__file__).parent.parent
    names = set()
    pattern = re.compile(
        r'"((?:instance|officer|recovery_key|exclusion_key|queue|queue_ledger|case|cases|audit|alerts|mail)'
        r'\.[a-z_]+)"'
    )
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "audit.record(" in source or "record_full_check" in source:
            names |= set(pattern.findall(source))
    assert names >= {"case.viewed", "officer.signed_in", "audit.viewed"}
    assert names - set(audit_views.ACTIONS) == set()
