"""Engines, sessions and the schema check. Nothing here runs at import time."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.sqlite_writer import QueuedWriterConnection

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code was written for."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_sqlite_file(url: str) -> bool:
    """A SQLite database in a file of its own (not in memory, not a URI)."""
    if not is_sqlite(url):
        return False
    database = make_url(url).database
    return (
        database is not None
        and database not in ("", ":memory:")
        and not database.startswith("file:")
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the loader; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA mmap_size=2147418112")
    cur.close()


def to_json(value: Any) -> str:
    # orjson: evidence documents are written on every request; the stdlib encoder was a
    # measurable share of a request's time.
    return orjson.dumps(value).decode()


def _no_auto_checkpoint(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def make_engine(settings: Settings, *, checkpoints_elsewhere: bool = False) -> Engine:
    """The engine for the settings' database. `checkpoints_elsewhere`: a server whose SQLite WAL
    checkpoints a thread of its own takes (identity/sqlite_checkpoint.py), so its connections'
    commits never do."""
    url = settings.database_url
    if is_sqlite(url):
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 5}
        if is_sqlite_file(url):
            # Write transactions queue in this process (FIFO) rather than poll SQLite's busy
            # handler: see identity/sqlite_writer.py.
            connect_args["factory"] = QueuedWriterConnection
        engine = create_engine(
            url,
            json_serializer=to_json,
            json_deserializer=orjson.loads,
            hide_parameters=True,  # SQL errors must never carry member data into logs
            connect_args=connect_args,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if checkpoints_elsewhere and is_sqlite_file(url):
            event.listen(engine, "connect", _no_auto_checkpoint)
        return engine
    engine = create_engine(
        url,
        json_serializer=to_json,
        json_deserializer=orjson.loads,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={"connect_timeout": max(1, int(settings.db_connect_timeout_s))},
    )
    ping_when_idle(engine, settings.db_ping_after_idle_s)
    return engine


_IDLE_SINCE = "identity.idle_since"


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection is alive before use only when it sat idle `idle_s` or longer.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip before each request's
    transaction and each group commit, two per match, that on a busy server only ever finds the
    connection it returned a moment ago. A connection used within the window is handed out as
    it is (as HikariCP's alive-bypass window does); a dead one found by the ping is replaced
    by the pool, which tries again with a fresh connection."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_s:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection was found closed") from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    if engine.dialect.name == "postgresql":
        event.listen(factory, "after_begin", _set_tenant)
    return factory


def bind_tenant(session: Session, tenant: str | Callable[[], str | None]) -> None:
    """Name the tenant a session acts for: a tenant id, or a function giving it when the
    transaction begins (a request's caller is known only after its dependencies ran)."""
    session.info["tenant"] = tenant


def _set_tenant(session: Session, _transaction: Any, connection: Connection) -> None:
    # PostgreSQL row-level security reads the tenant from this transaction-local setting; with
    # none set, tenant-scoped tables show no rows at all to the application role.
    tenant = session.info.get("tenant")
    if callable(tenant):
        tenant = tenant()
    if tenant:
        connection.execute(_SET_TENANT, {"tenant": tenant})


_SET_TENANT = text("SELECT set_config('identity.tenant', :tenant, true)")


def act_for(connection: Connection, tenant: str) -> None:
    """From here to the end of the transaction (or of the savepoint it is set in), PostgreSQL's
    row-level security admits `tenant`'s rows: for a transaction that writes for several
    tenants in turn (the group committer's)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_SET_TENANT, {"tenant": tenant})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for a CLI command: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
    except BaseException:
        finish(session, commit=False)
        raise
    finish(session, commit=True)


@contextmanager
def tenant_transaction(factory: sessionmaker[Session], tenant: str) -> Iterator[Session]:
    """A unit of work acting for one tenant outside a request (a worker's batch, a purge, a CLI
    command): PostgreSQL's row-level security admits that tenant's rows only."""
    with transaction(factory) as session:
        bind_tenant(session, tenant)
        yield session


def finish(session: Session, *, commit: bool) -> None:
    """End a unit of work: commit (or roll back), and roll back if the commit fails; then close."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Bound parameters per IN list of a set-based read: far below SQLite's limit (32,766) and
# PostgreSQL's (65,535).
IN_CHUNK = 5000
_Key = TypeVar("_Key", str, int)


def in_chunks(values: Collection[_Key]) -> Iterator[list[_Key]]:
    """The values in order, IN_CHUNK at a time: one IN list each."""
    ordered = sorted(values)
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema this code does not know, with the way out in the message."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaMismatch(
            f"database schema is at revision {current or '(empty)'}, this code expects {head}; "
            "run `identity db upgrade`"
        )


# --- one-row Core inserts for the hot path --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RowShape:
    table: Table
    columns: tuple[tuple[str, Column[Any]], ...]  # (attribute, column)
    autoincrement: tuple[str, Column[Any]] | None  # a key the database assigns


_shapes: dict[type[Any], _RowShape] = {}


def _shape(cls: type[Any]) -> _RowShape:
    shape = _shapes.get(cls)
    if shape is None:
        mapper = inspect(cls)
        table = cast(Table, mapper.local_table)
        columns = tuple(
            (prop.key, cast(Column[Any], prop.columns[0])) for prop in mapper.column_attrs
        )
        auto: tuple[str, Column[Any]] | None = next(
            ((k, c) for k, c in columns if c.primary_key and c is table.autoincrement_column),
            None,
        )
        shape = _shapes.setdefault(cls, _RowShape(table, columns, auto))
    return shape


# Set by identity.group_commit.stage: a list that `insert_row` appends (table, values) to instead
# of executing the INSERT.
STAGED_ROWS = "db.staged_rows"


def insert_row(session: Session, row: Any) -> None:
    """INSERT one mapped object now (or stage it, when the session's writes are staged for a
    group commit), with a Core statement, and leave it transient (not in the session). For
    rows written once on the hot path and never changed in the same transaction (a decision,
    its review item, a token, an attempt, an audit event): the unit of work's flush
    (identity map, dependency sort, per-object bookkeeping) cost more than the statement itself.
    Python-side column defaults are applied to the object first and a database-assigned key is
    read back, so the object reads as a flushed one would."""
    shape = _shape(type(row))
    values: dict[str, Any] = {}
    for key, column in shape.columns:
        value = getattr(row, key)
        if value is None and column.default is not None:
            default = column.default
            if default.is_callable:
                value = default.arg(None)  # type: ignore[attr-defined]
            elif default.is_scalar:
                value = default.arg  # type: ignore[attr-defined]
            setattr(row, key, value)
        if value is None and shape.autoincrement is not None and column is shape.autoincrement[1]:
            continue
        values[column.key] = value
    staged: list[tuple[Table, dict[str, Any]]] | None = session.info.get(STAGED_ROWS)
    auto_key_missing = (
        shape.autoincrement is not None and getattr(row, shape.autoincrement[0]) is None
    )
    if staged is not None and not auto_key_missing:
        staged.append((shape.table, values))  # written at the commit (identity/group_commit.py)
        return
    connection = session.connection()
    if shape.autoincrement is not None and getattr(row, shape.autoincrement[0]) is None:
        key, column = shape.autoincrement
        stmt = insert(shape.table).returning(column)
        setattr(row, key, connection.execute(stmt, values).scalar_one())
    else:
        connection.execute(insert(shape.table), values)
