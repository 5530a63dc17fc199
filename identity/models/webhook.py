"""A client's webhook (where it hears that a review of its request settled) and the outbox of
deliveries to it.

A delivery row is written in the transaction that settles the review item, so a decision that
rolls back leaves nothing to send; the webhook worker sends it afterwards, retrying with back-off.
Its payload holds ids and the outcome only, never demographics.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, JsonDoc, utcnow


class ClientWebhook(Base):
    __tablename__ = "client_webhook"
    __table_args__ = (Index(None, "tenant_id"),)

    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("api_client.client_id"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # The worker's look for what is due.
        Index(None, "status", "next_attempt_at"),
        Index(None, "tenant_id", "client_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the event's jti
    tenant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(48))  # review.settled
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)  # ids and outcome only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending -> delivered | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the next attempt is due; while an attempt is under way, when its lease lapses.
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_http_status: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(48))  # a code, never a response body
    finished_at: Mapped[datetime | None] = mapped_column()
