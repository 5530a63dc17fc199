"""All SQL for consent withdrawals. Every query names its tenant."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from identity.clients.organization import OrgIdentifier
from identity.db import in_chunks, insert_row
from identity.models import ConsentWithdrawal

_W = ConsentWithdrawal


def _scope(recipient: OrgIdentifier | None) -> ColumnElement[bool]:
    """The withdrawals naming exactly this recipient (None: those naming every recipient)."""
    if recipient is None:
        return and_(_W.recipient_system.is_(None), _W.recipient_value.is_(None))
    return and_(_W.recipient_system == recipient.system, _W.recipient_value == recipient.value)


def same(
    session: Session,
    tenant: str,
    member_id: str,
    recipient: OrgIdentifier | None,
    withdrawn_at: datetime,
) -> ConsentWithdrawal | None:
    """The withdrawal already recorded for this member, recipient scope and time, if any."""
    return session.scalars(
        select(_W).where(
            _W.tenant_id == tenant,
            _W.member_id == member_id,
            _scope(recipient),
            _W.withdrawn_at == withdrawn_at,
        )
    ).first()


def latest_applying(
    session: Session,
    tenant: str,
    member_ids: Collection[str],
    recipient: OrgIdentifier | None,
) -> dict[str, datetime]:
    """Member id -> the time of its newest withdrawal that applies to `recipient`: one naming
    every recipient or this one. With no recipient known, every withdrawal applies."""
    applies: ColumnElement[bool] | None = None
    if recipient is not None:
        applies = or_(_scope(None), _scope(recipient))
    found: dict[str, datetime] = {}
    for chunk in in_chunks(member_ids):
        stmt = (
            select(_W.member_id, func.max(_W.withdrawn_at))
            .where(_W.tenant_id == tenant, _W.member_id.in_(chunk))
            .group_by(_W.member_id)
        )
        if applies is not None:
            stmt = stmt.where(applies)
        for member_id, withdrawn_at in session.execute(stmt):
            found[member_id] = withdrawn_at
    return found


def add(session: Session, row: ConsentWithdrawal) -> None:
    insert_row(session, row)
