"""All SQL for match tokens. Every query names its tenant (row-level security backs this up on
PostgreSQL; on SQLite the filter is the isolation)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from identity.models import MatchToken, TokenIntrospection


def add_many(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """New tokens in one Core INSERT (executemany for a bulk batch's): a token is not changed in
    the transaction that issues it."""
    if rows:
        session.execute(insert(MatchToken), list(rows))


def by_hash(session: Session, tenant: str, token_hash: str) -> MatchToken | None:
    return session.scalars(
        select(MatchToken).where(
            MatchToken.tenant_id == tenant, MatchToken.token_hash == token_hash
        )
    ).one_or_none()


def exists(session: Session, tenant: str, token_id: str) -> bool:
    found = session.scalar(
        select(MatchToken.id).where(MatchToken.tenant_id == tenant, MatchToken.id == token_id)
    )
    return found is not None


def revoke_one(session: Session, tenant: str, token_id: str, *, now: datetime, reason: str) -> bool:
    """Revoke a token not yet revoked; False when it already was (the first revocation stands)."""
    stmt = (
        update(MatchToken)
        .where(
            MatchToken.tenant_id == tenant,
            MatchToken.id == token_id,
            MatchToken.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
        .returning(MatchToken.id)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def revoke_where(
    session: Session,
    tenant: str,
    *,
    now: datetime,
    reason: str,
    decision_id: str | None = None,
    member_id: str | None = None,
) -> list[str]:
    """Revoke every unrevoked, unexpired token of one decision or one member; their ids.

    One UPDATE … RETURNING, so no token slips between a read and a write. A token whose issuing
    transaction commits after this one is not seen: excluding that takes a persisted state the
    issuer checks (a withdrawn consent), not a lock here."""
    stmt = update(MatchToken).where(
        MatchToken.tenant_id == tenant,
        MatchToken.revoked_at.is_(None),
        MatchToken.expires_at > now,
    )
    if decision_id is not None:
        stmt = stmt.where(MatchToken.decision_id == decision_id)
    if member_id is not None:
        stmt = stmt.where(MatchToken.member_id == member_id)
    stmt = (
        stmt.values(revoked_at=now, revoked_reason=reason)
        .returning(MatchToken.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(stmt))


def remember_introspection(
    session: Session, tenant: str, token_id: str, client_id: str, *, now: datetime
) -> None:
    """Note that `client_id` introspected the token; the first time is kept (race-safe)."""
    insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert_(TokenIntrospection)
        .values(tenant_id=tenant, token_id=token_id, client_id=client_id, first_at=now)
        .on_conflict_do_nothing()
    )


def introspected_by(session: Session, tenant: str, token_id: str, client_id: str) -> bool:
    found = session.scalar(
        select(TokenIntrospection.token_id).where(
            TokenIntrospection.tenant_id == tenant,
            TokenIntrospection.token_id == token_id,
            TokenIntrospection.client_id == client_id,
        )
    )
    return found is not None
