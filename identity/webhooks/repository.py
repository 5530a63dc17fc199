"""All SQL about webhooks and their outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from identity.db import insert_row
from identity.models import ApiClient, ClientWebhook, MatchDecision, WebhookDelivery


def requester(session: Session, tenant: str, match_id: str) -> str | None:
    """The client that asked for the decision (None when unknown: bulk, or older than 0016)."""
    return session.scalar(
        select(MatchDecision.client_id).where(
            MatchDecision.tenant_id == tenant, MatchDecision.id == match_id
        )
    )


def get_webhook(session: Session, tenant: str, client_id: str) -> ClientWebhook | None:
    return session.scalar(
        select(ClientWebhook).where(
            ClientWebhook.tenant_id == tenant, ClientWebhook.client_id == client_id
        )
    )


def get_client(session: Session, client_id: str) -> ApiClient | None:
    return session.get(ApiClient, client_id)


def list_webhooks(session: Session, tenant: str | None) -> list[ClientWebhook]:
    query = select(ClientWebhook).order_by(ClientWebhook.tenant_id, ClientWebhook.client_id)
    if tenant is not None:
        query = query.where(ClientWebhook.tenant_id == tenant)
    return list(session.scalars(query))


def add_webhook(session: Session, webhook: ClientWebhook) -> None:
    session.add(webhook)
    session.flush()


def delete_webhook(session: Session, client_id: str) -> bool:
    result = session.execute(delete(ClientWebhook).where(ClientWebhook.client_id == client_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def add_delivery(session: Session, delivery: WebhookDelivery) -> None:
    insert_row(session, delivery)


def due_deliveries(session: Session, now: datetime) -> list[tuple[str, str]]:
    """(delivery id, tenant) of what is due, in every tenant, soonest first.

    On PostgreSQL through a SECURITY DEFINER function: the application role sees one tenant's
    rows at a time (row-level security), and this answer carries ids only."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text("SELECT * FROM identity_webhook_due(:at)"), {"at": now})
        return [(str(i), str(t)) for i, t in rows]
    found = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.tenant_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(100)
    )
    return [(i, t) for i, t in found]


def claim(
    session: Session, tenant: str, delivery_id: str, *, now: datetime, lease_until: datetime
) -> WebhookDelivery | None:
    """Take a due delivery for one attempt: its next attempt moves to the lease's end, so another
    worker leaves it alone, and a worker that dies mid-attempt leaves it due again then."""
    taken = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.tenant_id == tenant,
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None
    return session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant, WebhookDelivery.id == delivery_id
        )
    )


def get_delivery(session: Session, tenant: str, delivery_id: str) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant, WebhookDelivery.id == delivery_id
        )
    )


def deliveries_for(session: Session, tenant: str, client_id: str) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tenant, WebhookDelivery.client_id == client_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
    )
