"""A lock on a key, held until the transaction ends, on both databases: what makes "count, then
decide, then record" atomic for the requests that share a key (the brute-force guard, a repeated
consent withdrawal), where reading first would let concurrent requests all see the same count.

PostgreSQL: a transaction-level advisory lock per key (READ COMMITTED shows each statement the
rows committed before it began, so whatever the previous holder wrote is counted). The keys are
taken in ascending order, so two transactions never wait for each other in a circle.
SQLite: there is one writer; beginning the write transaction now (a statement that writes nothing)
queues behind every other writer (identity/sqlite_writer.py), and the reads that follow see all
they committed. That serialises every writer of the file until this transaction ends, not only
those sharing a key: SQLite's writes are serial anyway. A transaction that has already begun
writing holds that lock until it ends, so a second call in it issues nothing ($member-match locks
its guard's keys, then the answered member's consent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

_PG_LOCK = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k ORDER BY k"
)
_SQLITE_BEGIN_WRITE = text("UPDATE alembic_version SET version_num = version_num WHERE 0")


def key_id(key: str) -> int:
    """A key as the signed 64-bit number advisory locks take (a collision only serialises)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Hold a lock on every key until the session's transaction ends."""
    ids = sorted({key_id(k) for k in keys})
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_LOCK, {"ids": ids})
    elif not _writing(session):
        session.execute(_SQLITE_BEGIN_WRITE)


def _writing(session: Session) -> bool:
    """SQLite: whether this transaction already holds the write lock. Python's sqlite3 opens a
    transaction only to write (BEGIN IMMEDIATE before the first write, identity/sqlite_writer.py;
    reads run outside one), so an open one is a writing one."""
    dbapi = session.connection().connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", False))
