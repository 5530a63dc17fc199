"""HTTP for consent withdrawal: the payer's consent system tells us a member withdrew consent, and
every match token issued for that member stops working at once."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from identity.api_deps import PROBLEM, DbSession, Idempotency
from identity.audit.http import request_actor
from identity.auth.dependencies import ConsentManager
from identity.idempotency.http import json_response
from identity.tokens import service as tokens

router = APIRouter(prefix="/v1", tags=["consent"])


class Withdrawal(BaseModel):
    member_id: str = Field(min_length=1, max_length=64)


class WithdrawalResult(BaseModel):
    revoked_tokens: int


@router.post(
    "/consent-withdrawals",
    response_model=WithdrawalResult,
    responses={401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
    summary="A member withdrew consent: revoke every match token issued for them",
)
def withdraw_consent(
    body: Withdrawal,
    request: Request,
    session: DbSession,
    caller: ConsentManager,
    idempotency: Idempotency,
) -> Response:
    def revoke() -> WithdrawalResult:
        revoked = tokens.revoke_for_member(
            session,
            request_actor(request, caller),
            body.member_id,
            "consent-withdrawn",
            now=datetime.now(UTC),
        )
        return WithdrawalResult(revoked_tokens=len(revoked))

    return json_response(session, caller, idempotency, revoke)
