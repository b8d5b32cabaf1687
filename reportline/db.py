"""Database plumbing without Flask: the declarative base, engines and random ids.

The per-request session lives in `reportline.web.database`.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Connection, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The execution option `begin_read_only` sets on a session's connection.
READ_ONLY = "reportline_read_only"

# Identifiers of reporter-side rows are random, not sequential, so that their
# order says nothing about the order in which reports or replies arrived.
RANDOM_ID_BITS = 40


def random_id() -> int:
    """A random positive identifier below 2**40 (shown to officers as a reference)."""
    return secrets.randbelow(2**RANDOM_ID_BITS - 1) + 1


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # 64-bit integers everywhere; SQLite needs plain INTEGER for rowid primary keys.
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger().with_variant(Integer, "sqlite")
    }


def make_engine(url: str, *, binary_results: bool = False, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, secure_delete and a busy timeout.

    `binary_results`: on PostgreSQL, fetch results in binary (`_binary_results`). The
    app's own statements read every type they use that way; SQLAlchemy's schema
    reflection (Alembic's comparisons) does not, so migrations keep the default.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # No parallel workers: starting them cost a queue page more (~8 ms) than they
    # save on the index ranges its statements walk (docs/performance.md).
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"options": "-c max_parallel_workers_per_gather=0"},
        **kwargs,
    )
    if binary_results:
        event.listen(engine, "connect", _binary_results)
    event.listen(engine, "connect", _id_lists)
    return engine


class IdList(str):
    """Ids as PostgreSQL's text form of a bigint[] (`{1,2,3}`), for `IdArray`."""

    @classmethod
    def of(cls, ids: Any) -> IdList:
        return cls("{" + ",".join(map(str, ids)) + "}")


class IdArray(TypeDecorator[Any]):
    """A bigint[] parameter given as an `IdList`, sent as it is (`_id_lists`).

    psycopg adapts a Python list element by element, ~0.5 µs each: a sealed
    filter's 6,000 ids cost 3 ms a statement that way, 0.1 ms as text. The
    parameter is still typed bigint[], so the planner sees a constant array and
    hashes it; a text parameter cast in SQL would be a stable function call, not
    a constant, and `= ANY` would then compare each row with every id.
    """

    impl = ARRAY(BigInteger)
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def _id_lists(dbapi_connection: Any, _record: Any) -> None:
    """Send an `IdList` as the text of an int8[] parameter."""
    from psycopg import adapt, postgres, pq

    class IdListDumper(adapt.Dumper):
        format = pq.Format.TEXT
        oid = postgres.types["int8"].array_oid

        def dump(self, obj: Any) -> bytes:
            return str(obj).encode("ascii")

    dbapi_connection.adapters.register_dumper(IdList, IdListDumper)


def _binary_results(dbapi_connection: Any, _record: Any) -> None:
    """Have psycopg fetch results in PostgreSQL's binary format. Its default, text,
    sends each sealed value (bytea) as hex, twice its size, and parsing that costs
    ten times the transfer: a queue page fetches dozens of sealed values."""
    import psycopg
    from psycopg import pq

    class BinaryCursor(psycopg.Cursor):
        def __init__(self, connection: Any, *, row_factory: Any = None) -> None:
            super().__init__(connection, row_factory=row_factory)
            self.format = pq.Format.BINARY

    dbapi_connection.cursor_factory = BinaryCursor


def begin_read_only(session: Session) -> None:
    """Begin the session's next transaction as a read-only snapshot: SQLite takes no
    write lock for it (a plain BEGIN, with `query_only` on) and PostgreSQL runs it
    READ ONLY at REPEATABLE READ. Every statement in it sees the same snapshot; a
    write in it fails. Commit it before writing.

    Raises RuntimeError if the session is already in a transaction.
    """
    if session.in_transaction():
        raise RuntimeError("end the session's transaction before a read-only one")
    options: dict[str, Any] = {READ_ONLY: True}
    if session.get_bind().dialect.name == "postgresql":
        options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    session.connection(execution_options=options)


def _begin_sqlite(conn: Connection) -> None:
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    # query_only belongs to the connection, so it is switched only when it changes.
    pooled = conn.connection
    if pooled.info.get(READ_ONLY, False) != read_only:
        conn.exec_driver_sql(f"PRAGMA query_only = {int(read_only)}")
        pooled.info[READ_ONLY] = read_only
    # Any other transaction takes the write lock at BEGIN: one that reads and then
    # writes can then never fail half-way because another writer slipped in
    # between (in WAL mode that error is immediate, and it would lose a report).
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    # Sorts and IN-lists (a sealed filter's case ids) never spill to a temporary file.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def make_sessionmaker(
    engine: Engine,
    audit_key: bytes | None = None,
    ledger_key: bytes | None = None,
    integrity_key: bytes | None = None,
) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views render after committing).

    `audit_key` keys the audit log's hash chain, `ledger_key` the queue
    ledger's MAC and `integrity_key` officers' role MACs (all derived from the
    instance config): a session without them can read but not append to the
    audit log, nor count cases in or out of the queue, and treats every role
    as granting nothing.
    """
    return sessionmaker(
        engine,
        expire_on_commit=False,
        info={"audit_key": audit_key, "ledger_key": ledger_key, "integrity_key": integrity_key},
    )
