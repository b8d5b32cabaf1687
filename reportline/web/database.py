"""One database session per request, closed when the request ends."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from reportline.db import make_engine, make_sessionmaker


def init_app(
    app: Flask, url: str, audit_key: bytes, ledger_key: bytes, integrity_key: bytes
) -> None:
    """Attach an engine and session factory to the app; close sessions after each request."""
    engine = make_engine(url, binary_results=True)
    app.extensions["reportline.engine"] = engine
    app.extensions["reportline.sessionmaker"] = make_sessionmaker(
        engine, audit_key, ledger_key, integrity_key
    )
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The current request's database session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["reportline.sessionmaker"]()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
