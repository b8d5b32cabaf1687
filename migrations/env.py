"""Alembic environment: the same database settings as the app.

A caller may pass an open connection in `config.attributes["connection"]`
(the app's CLI and the tests do); otherwise the URL comes from the instance
config and REPORTLINE_* variables, exactly as the app reads them.
"""

from __future__ import annotations

import os

from alembic import context

from reportline import models  # noqa: F401  (registers every table)
from reportline.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from reportline.config import instance_path_from

    env = dict(os.environ)
    explicit = env.get("REPORTLINE_DATABASE_URL")
    if explicit:
        return explicit
    instance = instance_path_from(env)
    # Read only the database URL: migrations must not need the app's secrets.
    import tomllib

    config_file = instance / "config.toml"
    if config_file.exists():
        data = tomllib.loads(config_file.read_text("utf-8"))
        if data.get("database_url"):
            return str(data["database_url"])
    return f"sqlite:///{instance / 'reportline.sqlite3'}"


def run_migrations_offline() -> None:
    """Emit SQL to stdout for review instead of running it."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations over the caller's connection or a fresh engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_database_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
