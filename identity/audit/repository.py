"""All SQL about audit events and the per-tenant chain heads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from identity.audit.chain import GENESIS, StoredEvent, fields_of
from identity.db import insert_row
from identity.models import AuditChainHead, AuditEvent

_EVENT_COLUMNS = (
    AuditEvent.id,
    AuditEvent.tenant_id,
    AuditEvent.seq,
    AuditEvent.occurred_at,
    AuditEvent.request_id,
    AuditEvent.client_id,
    AuditEvent.action,
    AuditEvent.outcome,
    AuditEvent.http_status,
    AuditEvent.object_type,
    AuditEvent.object_ids,
    AuditEvent.policy_version,
    AuditEvent.person,
    AuditEvent.prev_hash,
    AuditEvent.hash,
)


_HEAD = cast(Table, AuditChainHead.__table__)
# Built once: a statement object caches its compiled form's key (a request appends 1–3 events).
_LOCK_HEAD = (
    select(_HEAD.c.seq, _HEAD.c.hash)
    .where(_HEAD.c.tenant_id == bindparam("tenant"))
    .with_for_update()
)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.tenant_id == bindparam("b_tenant"))
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)


def _holds_sqlite_write_lock(connection: Connection) -> bool:
    """On SQLite a SELECT reads under the write lock only inside a transaction that has already
    written (Python's sqlite3 begins one at the first write)."""
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))


def lock_head(session: Session, tenant: str) -> tuple[int, str]:
    """The tenant's chain head (seq, hash), locked until the transaction ends.

    On PostgreSQL the row lock (FOR UPDATE) orders a tenant's concurrent appends; other tenants
    are not held up. On SQLite the database's write lock does: when the transaction holds it
    already (a request's change was written first), the head is simply read; otherwise an
    insert comes first, which takes the lock before the head is read (a plain SELECT would run
    outside the transaction and two writers could read the same head). A tenant without a head
    gets one, race-safely, by the same insert-if-missing."""
    connection = session.connection()
    if connection.dialect.name == "postgresql" or _holds_sqlite_write_lock(connection):
        found = connection.execute(_LOCK_HEAD, {"tenant": tenant}).first()
        if found is not None:
            return int(found.seq), str(found.hash)
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(_HEAD)
        .values(tenant_id=tenant, seq=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    seq, hash_ = connection.execute(_LOCK_HEAD, {"tenant": tenant}).one()
    return int(seq), str(hash_)


def append(session: Session, event: AuditEvent) -> None:
    """Insert the event and move its tenant's head onto it (the head must be locked). Core
    statements: an event is never changed after it is written."""
    insert_row(session, event)
    session.connection().execute(
        _MOVE_HEAD, {"b_tenant": event.tenant_id, "b_seq": event.seq, "b_hash": event.hash}
    )


def append_many(session: Session, events: list[AuditEvent]) -> None:
    """Insert a tenant's consecutive events and move its head onto the last (head locked).
    Core statements (the events stay transient, their database keys read back in order): the
    ORM's flush cost more than the statements for a group commit's events."""
    if not events:
        return
    connection = session.connection()
    rows = [{key: getattr(event, key) for key in _WRITTEN} for event in events]
    ids = connection.execute(_INSERT_EVENTS, rows).scalars().all()
    for event, id_ in zip(events, ids, strict=True):
        event.id = int(id_)
    # One event at a time, as the head's trigger demands (a jump would hide a cut), in a single
    # executemany.
    connection.execute(
        _MOVE_HEAD,
        [{"b_tenant": e.tenant_id, "b_seq": e.seq, "b_hash": e.hash} for e in events],
    )


_EVENTS = cast(Table, AuditEvent.__table__)
_WRITTEN = tuple(column.key for column in _EVENTS.columns if column.key != "id")
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)


def head(session: Session, tenant: str) -> tuple[int, str] | None:
    row = session.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.tenant_id == tenant)
    ).one_or_none()
    return None if row is None else (int(row.seq), str(row.hash))


def tenants(session: Session) -> list[str]:
    """Every tenant with events or a chain head (a head without events is a truncated chain)."""
    query = union(
        select(AuditEvent.tenant_id).distinct(), select(AuditChainHead.tenant_id).distinct()
    )
    return sorted(str(t) for t in session.scalars(select(query.subquery().c.tenant_id)))


def stored_events(
    session: Session, tenant: str, *, after_seq: int = 0, batch: int = 1000
) -> Iterator[StoredEvent]:
    """A tenant's events after `after_seq` in chain order, read in keyset batches so memory
    stays flat however long the chain.

    Ordered by (seq, id), not seq alone: should the unique key be dropped, a duplicated seq is
    still read (and reported) rather than skipped."""
    query = select(*_EVENT_COLUMNS).where(AuditEvent.tenant_id == tenant)
    keyset = AuditEvent.seq > after_seq
    while True:
        rows = session.execute(
            query.where(keyset).order_by(AuditEvent.seq, AuditEvent.id).limit(batch)
        ).all()
        for row in rows:
            yield StoredEvent(
                id=int(row.id), prev_hash=row.prev_hash, hash=row.hash, fields=fields_of(row)
            )
        if len(rows) < batch:
            return
        seq, id_ = int(rows[-1].seq), int(rows[-1].id)
        keyset = (AuditEvent.seq > seq) | ((AuditEvent.seq == seq) & (AuditEvent.id > id_))


def event_id_at(session: Session, tenant: str, seq: int) -> int | None:
    found = session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.tenant_id == tenant, AuditEvent.seq == seq)
        .order_by(AuditEvent.id)
        .limit(1)
    )
    return None if found is None else int(found)


def page(session: Session, tenant: str, *, after_seq: int, limit: int) -> list[AuditEvent]:
    """A tenant's events after `after_seq`, oldest first (the export's keyset page)."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant, AuditEvent.seq > after_seq)
            .order_by(AuditEvent.seq)
            .limit(limit)
        )
    )
