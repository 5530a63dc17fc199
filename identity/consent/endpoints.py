"""HTTP for consent withdrawal: the payer's consent system tells us a member withdrew consent; the
withdrawal is recorded (later $member-match requests for the member honour it) and every match
token issued for that member stops working at once."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from identity.api_deps import PROBLEM, DbSession, Idempotency
from identity.audit.http import request_actor
from identity.auth.dependencies import ConsentManager
from identity.clients.organization import MAX_SYSTEM, MAX_VALUE, OrgIdentifier
from identity.consent import service
from identity.idempotency.http import json_response

router = APIRouter(prefix="/v1", tags=["consent"])

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class Recipient(BaseModel):
    """An organisation identifier, as a consent's recipient (IRCP) names it (e.g. an NPI)."""

    model_config = ConfigDict(extra="forbid")
    system: str = Field(min_length=1, max_length=MAX_SYSTEM, pattern=_PRINTABLE)
    value: str = Field(min_length=1, max_length=MAX_VALUE, pattern=_PRINTABLE)


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    # The organisation the member withdrew consent from; absent: every recipient.
    recipient: Recipient | None = None
    # When the member withdrew, as the consent system recorded it (with its zone); absent: now.
    # The same withdrawal sent again with the same time records nothing.
    withdrawn_at: AwareDatetime | None = None


class WithdrawalResult(BaseModel):
    withdrawal_id: str
    member_id: str
    recipient: Recipient | None
    withdrawn_at: datetime
    revoked_tokens: int


@router.post(
    "/consent-withdrawals",
    response_model=WithdrawalResult,
    responses={401: PROBLEM, 403: PROBLEM, 415: PROBLEM, 422: PROBLEM},
    summary="A member withdrew consent: record it and revoke every match token issued for them",
)
def withdraw_consent(
    body: Withdrawal,
    request: Request,
    session: DbSession,
    caller: ConsentManager,
    idempotency: Idempotency,
) -> Response:
    def withdraw() -> WithdrawalResult:
        recipient = body.recipient
        done = service.withdraw(
            session,
            request_actor(request, caller),
            body.member_id,
            OrgIdentifier(recipient.system, recipient.value) if recipient else None,
            withdrawn_at=body.withdrawn_at,
            now=datetime.now(UTC),
        )
        return WithdrawalResult(
            withdrawal_id=done.withdrawal_id,
            member_id=done.member_id,
            recipient=(
                Recipient(system=done.recipient.system, value=done.recipient.value)
                if done.recipient
                else None
            ),
            withdrawn_at=done.withdrawn_at,
            revoked_tokens=done.revoked_tokens,
        )

    return json_response(session, caller, idempotency, withdraw)
