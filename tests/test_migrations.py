"""The schema comes only from Alembic: it equals the models, and every revision goes both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from reportline.db import Base, make_engine
from reportline.migrate import alembic_config, downgrade, upgrade
from reportline.models import ExclusionKey, Officer, UnitKey, UrgentMark
from reportline.services import alerts, exclusion_keys, instance, keyring, officers, roles
from tests.conftest import empty_postgres
from tests.helpers import (
    Enrolled,
    MovableClock,
    first_reference,
    follow_up_sign_in,
    officer_notes,
    officer_records,
    officer_writes,
    reporter_replies,
    submit_report,
    unlock_officer_key,
)

# The first revision whose schema holds every table a case's life fills in.
OLDEST_WITH_DATA = "0004"


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database with no tables at all."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    url = str(request.getfixturevalue("postgres_url"))
    empty_postgres(url)  # rows an earlier test left (a restricted case cannot go below 0011)
    downgrade(url, "base")
    request.addfinalizer(lambda: upgrade(url))
    return url


def _revisions(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_migrations_produce_exactly_the_models_schema(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_every_revision_goes_up_and_down_cleanly(empty_database_url: str) -> None:
    revisions = _revisions(empty_database_url)
    assert revisions, "no migrations found"
    for revision in revisions:
        upgrade(empty_database_url, revision)
    downgrade(empty_database_url, "base")
    engine = make_engine(empty_database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    for revision in revisions:
        upgrade(empty_database_url, revision)
        if revision != revisions[0]:
            downgrade(empty_database_url, "-1")
            upgrade(empty_database_url, revision)


def test_reporter_tables_keep_no_insertion_order_on_sqlite(
    tmp_path: Path, sqlite_template: Path
) -> None:
    copy = tmp_path / "copy.sqlite3"
    shutil.copyfile(sqlite_template, copy)
    engine = make_engine(f"sqlite:///{copy}")
    with engine.connect() as connection:
        sql = dict(connection.exec_driver_sql("SELECT name, sql FROM sqlite_master").all())
    engine.dispose()
    for table in ("cases", "messages", "status_changes", "urgent_marks"):
        assert "WITHOUT ROWID" in sql[table]


def test_sqlite_runs_with_wal_foreign_keys_secure_delete_full_sync_and_memory_temp(
    tmp_path: Path,
) -> None:
    from sqlalchemy import text

    from reportline.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'settings.sqlite3'}")
    with engine.connect() as connection:
        pragmas = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in (
                "journal_mode",
                "foreign_keys",
                "secure_delete",
                "synchronous",
                "temp_store",
            )
        }
    engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "secure_delete": 1,
        "synchronous": 2,
        "temp_store": 2,  # sorts and IN-lists never spill to a temporary file
    }


# The tables whose rows a case's life fills, and which hold what opens it.
KEPT_TABLES = (
    "officers",
    "unit_key_grants",
    "cases",
    "case_seals",
    "messages",
    "status_changes",
    "triage_records",
    "notes",
    "audit_entries",
)


def _row_counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    present = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        found = {
            table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            for table in KEPT_TABLES
            if table in present
        }
    engine.dispose()
    return found


def test_a_working_database_keeps_every_row_down_and_up_through_each_revision(
    app: Flask,
    db: Session,
    unit: Enrolled,
    supervisor: FlaskClient,
    clock: MovableClock,
    database_url: str,
) -> None:
    """A revision that copies a table (SQLite's way to drop a column) must not let
    the copy's DROP TABLE cascade: with foreign keys on, 0009 once deleted every
    message, status change, record, note and seal of every case it moved."""
    receipt = submit_report(app.test_client(), what_happened="The migrated report")
    reference = first_reference(supervisor)
    assert officer_writes(supervisor, reference, "Thank you, we are looking").status_code == 303
    assert officer_records(supervisor, reference).status_code == 303
    assert officer_notes(supervisor, reference, "Checked the duty rota").status_code == 303
    reporter = app.test_client()
    follow_up_sign_in(reporter, receipt)
    assert reporter_replies(reporter, "One more thing").status_code == 303
    before = _row_counts(database_url)
    assert all(before[table] for table in ("case_seals", "messages", "triage_records", "notes"))
    app.extensions["reportline.engine"].dispose()
    db.close()

    revisions = _revisions(database_url)
    for step in range(len(revisions) - 1, revisions.index(OLDEST_WITH_DATA), -1):
        downgrade(database_url, revisions[step - 1])
        counts = _row_counts(database_url)
        assert counts == {t: n for t, n in before.items() if t in counts}, revisions[step - 1]
    upgrade(database_url)
    assert _row_counts(database_url) == before
    with db.begin():
        roles.authenticate_existing_roles(db, clock())  # as `reportline db upgrade` does
        keyring.authenticate_existing_grants(db)

    page = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert "The migrated report" in page and "Checked the duty rota" in page
    assert "One more thing" in page and "integrity" not in page.lower()
    follow_up_sign_in(reporter, receipt)
    assert "Thank you, we are looking" in reporter.get("/follow-up/case").get_data(as_text=True)


def test_an_instance_from_before_the_exclusion_key_gets_one_on_its_populated_database(
    app: Flask,
    db: Session,
    unit: Enrolled,
    supervisor: FlaskClient,
    clock: MovableClock,
    database_url: str,
    instance_path: Path,
) -> None:
    """Revision 0012 adds the exclusion key's tables to a working database and makes no
    key; `reportline keys init-exclusion` then makes one for its supervisors."""
    submit_report(app.test_client(), what_happened="The report from before")
    reference = first_reference(supervisor)
    app.extensions["reportline.engine"].dispose()
    db.close()
    downgrade(database_url, "0010")
    engine = make_engine(database_url)
    assert "exclusion_keys" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade(database_url)

    typed = {unit.email: unlock_officer_key(db, unit).public_key().fingerprint}
    made = exclusion_keys.initialise(db, clock(), instance.read_pins(instance_path).recovery, typed)
    db.commit()
    assert made.holders == (unit.email,)
    key_id, public = keyring.pinned_exclusion_key(db, made.fingerprint)
    officer_key = officers.unlock_private_key(
        db.get(Officer, unit.officer_id),  # type: ignore[arg-type]
        unit.password,
        instance.integrity_key(db.info["settings"]),
    )
    assert (
        keyring.unlock_group_keys(db, unit.officer_id, officer_key)[key_id].public_key() == public
    )
    page = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert "The report from before" in page


def test_below_0014_an_exclusions_urgent_mark_goes_and_an_ordinary_one_stays(
    app: Flask, db: Session, unit: Enrolled, clock: MovableClock, database_url: str
) -> None:
    """The old schema can name only a unit key: calling the whole unit instead would
    reach those the reporter asked to keep out, so an exclusion's mark is dropped."""
    unit_key_id = db.scalar(select(UnitKey.id))
    exclusion_key_id = db.scalar(select(ExclusionKey.id))
    alerts.mark_urgent(db, clock(), unit_key_id=unit_key_id)
    alerts.mark_urgent(db, clock(), exclusion_key_id=exclusion_key_id)
    db.commit()
    app.extensions["reportline.engine"].dispose()
    db.close()
    downgrade(database_url, "0013")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        kept = connection.exec_driver_sql("SELECT unit_key_id FROM urgent_marks").scalars()
        assert kept.all() == [unit_key_id]
    engine.dispose()
    upgrade(database_url)
    marks = db.scalars(select(UrgentMark)).all()
    assert [(mark.unit_key_id, mark.exclusion_key_id) for mark in marks] == [(unit_key_id, None)]
