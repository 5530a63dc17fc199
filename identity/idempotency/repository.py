"""All SQL for idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from identity.models import IdempotencyRecord


def claim(
    session: Session,
    *,
    tenant: str,
    client_id: str,
    key: str,
    request_hash: str,
    now: datetime,
    expires_at: datetime,
) -> bool:
    """Insert the in-progress record; False when the key is already held. This is the
    transaction's first write on purpose: a concurrent duplicate waits here (on PostgreSQL for
    the first transaction's outcome, on SQLite for the write lock) instead of doing work."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(IdempotencyRecord)
        .values(
            tenant_id=tenant,
            client_id=client_id,
            key=key,
            request_hash=request_hash,
            created_at=now,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def forget_expired(session: Session, tenant: str, client_id: str, now: datetime) -> None:
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant,
            IdempotencyRecord.client_id == client_id,
            IdempotencyRecord.expires_at < now,
        )
    )


def find_held(session: Session, tenant: str, client_id: str, key: str) -> IdempotencyRecord | None:
    return session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant,
            IdempotencyRecord.client_id == client_id,
            IdempotencyRecord.key == key,
        )
    ).one_or_none()
