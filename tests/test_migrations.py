"""The schema comes only from Alembic: it equals the models, and every revision goes both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from reportline.db import Base, make_engine
from reportline.migrate import alembic_config, downgrade, upgrade


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database with no tables at all."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    url = str(request.getfixturevalue("postgres_url"))
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
    for table in ("cases", "messages", "status_changes"):
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
                "journal_mode", "foreign_keys", "secure_delete", "synchronous", "temp_store"
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
