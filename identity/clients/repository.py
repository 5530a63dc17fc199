"""All SQL for registered clients and the client-assertion replay store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from identity.models import ApiClient, ClientAssertion


def get(session: Session, client_id: str) -> ApiClient | None:
    return session.get(ApiClient, client_id)


def list_for_tenant(session: Session, tenant: str | None) -> list[ApiClient]:
    query = select(ApiClient).order_by(ApiClient.tenant_id, ApiClient.name)
    if tenant is not None:
        query = query.where(ApiClient.tenant_id == tenant)
    return list(session.scalars(query))


def add(session: Session, client: ApiClient) -> None:
    session.add(client)
    session.flush()


def remember_assertion(session: Session, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Store an assertion id; False when it was already there (a replay). Race-safe: two
    concurrent requests with one jti cannot both insert it."""
    values = {"client_id": client_id, "jti": jti, "expires_at": expires_at}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: drivers do not agree on rowcount for ON CONFLICT DO NOTHING.
    stmt = (
        insert(ClientAssertion)
        .values(values)
        .on_conflict_do_nothing()
        .returning(ClientAssertion.jti)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def forget_expired_assertions(session: Session, client_id: str, now: datetime) -> None:
    session.execute(
        delete(ClientAssertion).where(
            ClientAssertion.client_id == client_id, ClientAssertion.expires_at < now
        )
    )
