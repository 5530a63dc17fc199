"""Consent withdrawals: recorded, audited, and read by $member-match (single and bulk) so that a
withdrawn consent stays withdrawn. A withdrawal also revokes the member's outstanding tokens."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.clients.organization import OrgIdentifier
from identity.consent import repository
from identity.consent.withdrawal import CLOCK_LEEWAY, aware
from identity.errors import FieldError, InvalidInput
from identity.keyed_lock import lock_keys
from identity.models import ConsentWithdrawal
from identity.tokens import service as tokens


@dataclass(frozen=True, slots=True)
class Withdrawal:
    withdrawal_id: str
    member_id: str
    recipient: OrgIdentifier | None  # None: every recipient
    withdrawn_at: datetime
    revoked_tokens: int


def withdraw(
    session: Session,
    actor: Actor,
    member_id: str,
    recipient: OrgIdentifier | None,
    *,
    withdrawn_at: datetime | None = None,
    now: datetime,
) -> Withdrawal:
    """Record that the member withdrew consent (from `recipient`, or from every recipient) at
    `withdrawn_at` (as the consent system recorded it; default: now) and revoke their live match
    tokens. A withdrawal is its member, recipient and time: the same one again (a redelivery)
    records nothing and answers as the first time. Tokens do not record the recipient's
    organisation, so every live token of the member is revoked; a recipient the withdrawal does
    not name may ask again and is answered."""
    try:
        at = aware(withdrawn_at or now).astimezone(UTC)
    except OverflowError:  # e.g. the first day of year 1 in a zone east of UTC
        raise InvalidInput(
            "the withdrawal's time is out of range",
            errors=[FieldError("/withdrawn_at", "is not a representable UTC time")],
        ) from None
    if at > aware(now) + CLOCK_LEEWAY:
        raise InvalidInput(
            "a withdrawal cannot be in the future",
            errors=[FieldError("/withdrawn_at", "is later than now")],
        )
    lock_keys(session, [_member_lock(actor.tenant, member_id)])
    same = repository.same(session, actor.tenant, member_id, recipient, at)
    if same is not None:
        _audit(session, actor, same.id, member_id)
        return _answer(same)
    revoked = tokens.revoke_for_member(session, actor, member_id, "consent-withdrawn", now=now)
    row = ConsentWithdrawal(
        id=str(uuid.uuid4()),
        tenant_id=actor.tenant,
        member_id=member_id,
        recipient_system=recipient.system if recipient else None,
        recipient_value=recipient.value if recipient else None,
        withdrawn_at=at,
        recorded_by=actor.client_id or "",
        revoked_tokens=len(revoked),
    )
    repository.add(session, row)
    _audit(session, actor, row.id, member_id)
    return _answer(row)


def withdrawn_at(
    session: Session,
    tenant: str,
    member_ids: Collection[str],
    recipient: OrgIdentifier | None,
) -> dict[str, datetime]:
    """Member id -> when consent was last withdrawn from `recipient` (or from every recipient),
    for the members that have a withdrawal; a consent given before it cannot be honoured.

    The members stay locked until the transaction ends, as `withdraw` locks its member: a
    withdrawal being recorded meanwhile is either seen here, or waits and then revokes the token
    this transaction issues. Call it once per transaction with every member it may answer for
    (the locks are taken in order, so two transactions never wait for each other in a circle)."""
    if not member_ids:
        return {}
    lock_keys(session, [_member_lock(tenant, m) for m in member_ids])
    found = repository.latest_applying(session, tenant, member_ids, recipient)
    return {m: aware(at) for m, at in found.items()}


def _member_lock(tenant: str, member_id: str) -> str:
    return f"consent-withdrawal|{tenant}|{member_id}"


def _audit(session: Session, actor: Actor, withdrawal_id: str, member_id: str) -> None:
    audit.record(
        session,
        actor,
        action="consent.withdraw",
        outcome="success",
        object_type="consent_withdrawal",
        object_ids=[withdrawal_id, member_id],
    )


def _answer(row: ConsentWithdrawal) -> Withdrawal:
    recipient = (
        OrgIdentifier(row.recipient_system, row.recipient_value)
        if row.recipient_system and row.recipient_value
        else None
    )
    return Withdrawal(row.id, row.member_id, recipient, aware(row.withdrawn_at), row.revoked_tokens)
