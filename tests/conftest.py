"""Shared fixtures: a real, migrated database per test, a movable clock, signed-in clients.

Every test that touches the database runs on SQLite and, when
REPORTLINE_TEST_DATABASE_URL is set, on that database too (PostgreSQL in CI).
The schema always comes from the Alembic migrations, never from create_all.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from reportline import create_app
from reportline.config import load_settings
from reportline.db import Base, make_engine, make_sessionmaker
from reportline.migrate import upgrade
from reportline.services import instance
from tests.helpers import (
    FAST_ARGON2,
    SUPERVISOR_PASSWORD,
    Enrolled,
    MovableClock,
    initialise_unit,
    sign_in,
)

TEST_DATABASE_URL = os.environ.get("REPORTLINE_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


# ---------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    # The last connection closing checkpoints the WAL into the file and removes it.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for this run, migrated to head once."""
    if not TEST_DATABASE_URL:
        pytest.fail("postgresql backend requested without REPORTLINE_TEST_DATABASE_URL")
    admin_url = make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg")
    name = f"reportline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_postgres(url: str) -> None:
    """Delete every row of a migrated PostgreSQL database (the schema stays)."""
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on."""
    return str(request.param)


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    """A fresh instance folder."""
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def database_url(backend: str, instance_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database for this test."""
    if backend == "sqlite":
        target = instance_path / "reportline.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url = str(request.getfixturevalue("postgres_url"))
    empty_postgres(url)
    return url


# ---------------------------------------------------------------- the app


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock, starting at a fixed moment."""
    return MovableClock()


def settings_for_test(instance_path: Path, database_url: str, **extra: Any) -> dict[str, Any]:
    """Settings overrides for a test app: real secrets, fast Argon2id."""
    return {
        "instance_path": instance_path,
        "database_url": database_url,
        "secret_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "receipt_pepper": base64.b64encode(secrets.token_bytes(32)).decode(),
        "argon2_time_cost": FAST_ARGON2.time_cost,
        "argon2_memory_cost_kib": FAST_ARGON2.memory_cost_kib,
        "argon2_parallelism": FAST_ARGON2.parallelism,
        # The tests fill in forms at once; the minimum time has tests of its own.
        "min_form_seconds": 0,
        **extra,
    }


@pytest.fixture
def app_settings(instance_path: Path, database_url: str) -> dict[str, Any]:
    """Overrides used to build `app`; tests may add to them before `app` is made."""
    return settings_for_test(instance_path, database_url)


@pytest.fixture
def app(app_settings: dict[str, Any], clock: MovableClock) -> Iterator[Flask]:
    """The application, on this test's database, with the movable clock."""
    application = create_app(app_settings, clock=clock)
    application.config["TESTING"] = True
    yield application
    application.extensions["reportline.engine"].dispose()


@pytest.fixture
def make_app(app_settings: dict[str, Any], clock: MovableClock) -> Iterator[Callable[..., Flask]]:
    """Another server on this test's database, with settings changed by keyword.

    Each app's connections are closed when the test ends, pass or fail: a
    connection left to the garbage collector fails a later test.
    """
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made.append(create_app({**app_settings, **overrides}, clock=clock))
        return made[-1]

    yield make
    for application in made:
        application.extensions["reportline.engine"].dispose()


@pytest.fixture
def db(database_url: str, app_settings: dict[str, Any], instance_path: Path) -> Iterator[Session]:
    """A session for arranging and inspecting, outside any request.

    It runs in autocommit mode, so it never holds a lock or an old snapshot
    while the app works: every read sees what the app has committed.
    `db.info["settings"]` holds the app's settings (for its secrets).
    """
    engine = create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    if database_url.startswith("sqlite"):
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    overrides = {k: v for k, v in app_settings.items() if k != "instance_path"}
    settings = load_settings({}, instance_path, overrides)
    with make_sessionmaker(
        engine,
        instance.audit_key(settings),
        instance.ledger_key(settings),
        instance.integrity_key(settings),
    )() as session:
        session.info["settings"] = settings
        yield session
    engine.dispose()


@pytest.fixture
def unit(app: Flask, app_settings: dict[str, Any], db: Session, clock: MovableClock) -> Enrolled:
    """An initialised instance: unit key, recovery key and a supervisor who holds the key."""
    result = initialise_unit(app, db, clock())
    app_settings["unit_key_fingerprint"] = result.unit_key_fingerprint  # for apps made later
    app.extensions["test.recovery_key"] = result.recovery_key
    new = result.supervisor
    return Enrolled(
        new.officer.email, SUPERVISOR_PASSWORD, new.totp_seed, new.officer.id, new.recovery_codes
    )


# ---------------------------------------------------------------- clients


@pytest.fixture
def reporter(app: Flask) -> FlaskClient:
    """A reporter's browser."""
    return app.test_client()


@pytest.fixture
def supervisor(app: Flask, unit: Enrolled, clock: MovableClock) -> FlaskClient:
    """A browser signed in as the supervisor who holds the unit key."""
    client = app.test_client()
    response = sign_in(client, unit, clock)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    clock.advance(seconds=30)  # the next sign-in needs a fresh code
    return client
