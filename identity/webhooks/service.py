"""Webhook use cases: register a client's webhook, and enqueue a settled review's event for the
client that asked.

The event is written to an outbox (`webhook_delivery`) in the caller's transaction, so a decision
that rolls back sends nothing; the webhook worker (identity/webhooks/worker.py) delivers it after
the commit. The payload holds ids and the outcome only: the caller of `/v1/match` already learns
member ids in its answer, so the linked member's id may travel; no demographics ever do.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from identity.errors import FieldError, InvalidInput, NotFound
from identity.models import ClientWebhook, ReviewItem, WebhookDelivery
from identity.webhooks import repository

EVENT = "review.settled"
# What a settlement was, as /v1/matches/{id} and the webhook name it.
KINDS = frozenset(
    {"link", "keep_apart", "new_person", "same_person", "not_same_person", "escalate"}
)
# Set on the session by `review_settled`, read after the commit (the metrics, the worker's
# wake-up) and dropped when the transaction ends: nothing is counted or sent for a transaction
# that rolls back.
SETTLED_INFO = "identity.review_settled"
MAX_URL = 2048


@dataclass(frozen=True, slots=True)
class Settled:
    """One settlement of this transaction, for the metrics: its kind and how long the item
    waited (None when the item is not at hand)."""

    kind: str
    waited_s: float | None
    queued_delivery: bool


def review_settled(
    session: Session,
    *,
    tenant: str,
    item_id: str,
    match_id: str,
    kind: str,
    member_id: str | None,
    now: datetime,
) -> None:
    """A review item settled, or its settlement changed: queue one delivery for the webhook of
    the client that made the match request. A no-op when that client has no webhook."""
    queued = False
    client_id = repository.requester(session, tenant, match_id)
    webhook = repository.get_webhook(session, tenant, client_id) if client_id else None
    if webhook is not None:
        repository.add_delivery(
            session,
            WebhookDelivery(
                id=str(uuid.uuid4()),
                tenant_id=tenant,
                client_id=webhook.client_id,
                event=EVENT,
                payload=event_payload(
                    match_id=match_id,
                    item_id=item_id,
                    kind=kind,
                    member_id=member_id,
                    settled_at=now,
                ),
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            ),
        )
        queued = True
    item = session.get(ReviewItem, item_id)
    waited = (now - _aware(item.created_at, now)).total_seconds() if item is not None else None
    session.info.setdefault(SETTLED_INFO, []).append(Settled(kind, waited, queued))


def settled_in(session: Session) -> list[Settled]:
    """This session's settlements, for an `after_commit` listener (see `forget_at_end`)."""
    return list(session.info.get(SETTLED_INFO, ()))


def forget_at_end(factory: sessionmaker[Session]) -> None:
    """Drop a session's settlements when its transaction ends, committed (after every
    `after_commit` listener read them) or rolled back. Idempotent per factory."""
    if not event.contains(factory, "after_transaction_end", _forget):
        event.listen(factory, "after_transaction_end", _forget)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(SETTLED_INFO, None)


def event_payload(
    *, match_id: str, item_id: str, kind: str, member_id: str | None, settled_at: datetime
) -> dict[str, Any]:
    """The event's body: ids and the outcome only. The member id is the one a link or a
    same-person marking names; other kinds name none."""
    return {
        "match_id": match_id,
        "review_item_id": item_id,
        "kind": kind,
        "member_id": member_id if kind in ("link", "same_person") else None,
        "settled_at": settled_at.isoformat(),
    }


def check_url(url: str) -> str:
    """An https URL, or http to a loopback address (development and tests); no credentials in
    it, no fragment. Redirects are never followed, so this is where the delivery goes."""
    errors: list[FieldError] = []
    parts = urlsplit(url)
    if len(url) > MAX_URL or not parts.hostname:
        errors.append(FieldError("/url", "an absolute http(s) URL of at most 2048 characters"))
    elif parts.scheme == "http" and not _loopback(parts.hostname):
        errors.append(FieldError("/url", "https is required (http only to a loopback address)"))
    elif parts.scheme not in ("https", "http"):
        errors.append(FieldError("/url", "https is required"))
    if parts.username or parts.password:
        errors.append(FieldError("/url", "no user name or password in the URL"))
    if parts.fragment:
        errors.append(FieldError("/url", "no fragment"))
    if errors:
        raise InvalidInput("not a usable webhook URL", errors=errors)
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_webhook(session: Session, client_id: str, url: str, *, now: datetime) -> ClientWebhook:
    """Register (or replace) a client's webhook; the owner's CLI runs this."""
    url = check_url(url)
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFound("no client with that id")
    webhook = repository.get_webhook(session, client.tenant_id, client_id)
    if webhook is None:
        webhook = ClientWebhook(
            client_id=client_id, tenant_id=client.tenant_id, url=url, created_at=now
        )
        repository.add_webhook(session, webhook)
    webhook.url = url
    webhook.updated_at = now
    session.flush()
    return webhook


def remove_webhook(session: Session, client_id: str) -> None:
    """Stop sending to a client: deliveries already queued for it are given up at their next
    attempt (no webhook to send to)."""
    if not repository.delete_webhook(session, client_id):
        raise NotFound("that client has no webhook")


def list_webhooks(session: Session, tenant: str | None) -> list[ClientWebhook]:
    return repository.list_webhooks(session, tenant)


def _aware(value: datetime, now: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=now.tzinfo)
