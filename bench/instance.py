"""A ReportLine instance set up the way `reportline init` sets one up, for benchmarking.

The instance folder gets a config.toml with fresh secrets, the database is
migrated with `reportline.migrate.upgrade` and initialised with
`reportline.services.setup.initialise` (unit key, recovery key, a supervisor
who holds the unit key). The supervisor's credentials are written beside it in
bench-credentials.json so a later run can sign in again: bench data only,
git-ignored, never a real instance.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from reportline import utcnow
from reportline.config import CONFIG_FILE_NAME, Settings, load_settings
from reportline.crypto.kdf import Argon2Cost
from reportline.db import make_engine, make_sessionmaker
from reportline.migrate import upgrade
from reportline.services import setup

SUPERVISOR_EMAIL = "supervisor@bench.reportline.invalid"
SUPERVISOR_PASSWORD = "violet kettle harbour sketch lantern"
# Argon2id cost for instances where sign-in speed is not what is measured.
FAST_ARGON2 = Argon2Cost(time_cost=1, memory_cost_kib=1024, parallelism=1)
CREDENTIALS_FILE = "bench-credentials.json"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Credentials:
    """How to sign in as the instance's supervisor."""

    email: str
    password: str
    totp_seed: str
    officer_id: int


def create_instance(
    folder: Path, database_url: str | None = None, argon2: Argon2Cost | None = None
) -> Credentials:
    """Write a config, migrate, initialise; return the supervisor's credentials.

    `database_url` defaults to SQLite in the folder; `argon2` to production defaults.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f'secret_key = "{base64.b64encode(secrets.token_bytes(32)).decode()}"',
        f'receipt_pepper = "{base64.b64encode(secrets.token_bytes(32)).decode()}"',
    ]
    if database_url:
        lines.append(f'database_url = "{database_url}"')
    if argon2:
        lines += [
            f"argon2_time_cost = {argon2.time_cost}",
            f"argon2_memory_cost_kib = {argon2.memory_cost_kib}",
            f"argon2_parallelism = {argon2.parallelism}",
        ]
    (folder / CONFIG_FILE_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = instance_settings(folder)
    upgrade(settings.database_url)
    with open_session(settings) as session:
        result = setup.initialise(
            session, SUPERVISOR_EMAIL, SUPERVISOR_PASSWORD, settings.argon2, utcnow()
        )
        session.commit()
    new = result.supervisor
    credentials = Credentials(new.officer.email, SUPERVISOR_PASSWORD, new.totp_seed,
                              new.officer.id)
    (folder / CREDENTIALS_FILE).write_text(json.dumps(asdict(credentials)), encoding="utf-8")
    return credentials


def load_credentials(folder: Path) -> Credentials:
    """The supervisor credentials written by `create_instance`."""
    return Credentials(**json.loads((folder / CREDENTIALS_FILE).read_text(encoding="utf-8")))


def instance_settings(folder: Path) -> Settings:
    """The instance's settings as the app would load them (ignoring the environment)."""
    return load_settings({}, folder)


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A database session on the instance's database, outside any request."""
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def scratch_postgres(prefix: str, admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database for one run, dropped afterwards; yields its URL."""
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
