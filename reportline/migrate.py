"""Running the Alembic migrations from code (the CLI and the tests use this)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from reportline.db import make_engine


def migrations_path() -> Path:
    """The migrations folder: the source tree's, or the copy bundled into a built package."""
    source_tree = Path(__file__).resolve().parent.parent / "migrations"
    if (source_tree / "env.py").exists():
        return source_tree
    return Path(__file__).resolve().parent / "_migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic Config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database's schema up to `revision`."""
    _migrate(database_url, lambda config: command.upgrade(config, revision))


def _migrate(database_url: str, step: Callable[[Config], None]) -> None:
    """Run one Alembic command in one transaction.

    On SQLite, foreign keys are off while it runs, as SQLite's own procedure for
    schema changes says: Alembic's batch mode changes a table by copying it and
    dropping the original, and with foreign keys on, that drop deletes every row
    that points at it through ON DELETE CASCADE (a case's messages, history, record,
    notes and seals). `PRAGMA foreign_key_check` then proves nothing was left
    dangling before the transaction commits. The pragma is set on the driver's
    connection outside any transaction: inside one SQLite ignores it.
    """
    engine = make_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            if sqlite:
                driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with connection.begin():
                    config = alembic_config(database_url)
                    config.attributes["connection"] = connection
                    step(config)
                    if sqlite:
                        dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if dangling:
                            raise MigrationError(
                                f"the migration would leave {len(dangling)} rows pointing at "
                                f"nothing (first: {tuple(dangling[0])}); nothing was changed"
                            )
            finally:
                if sqlite:
                    driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    finally:
        engine.dispose()


class MigrationError(RuntimeError):
    """A migration would have broken the database; it was rolled back."""


def current_revision(database_url: str) -> str | None:
    """The revision the database is at (None before any migration)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def applies(before: str | None, revision: str) -> bool:
    """Whether upgrading to head from `before` applies `revision` (None: a new database)."""
    script = ScriptDirectory.from_config(alembic_config(""))
    if before is None:
        return True
    # iterate_revisions leaves out its lower bound: `revision` itself is added.
    at_or_after = {revision} | {r.revision for r in script.iterate_revisions("heads", revision)}
    return before not in at_or_after


def downgrade(database_url: str, revision: str) -> None:
    """Take the database's schema down to `revision`."""
    _migrate(database_url, lambda config: command.downgrade(config, revision))
