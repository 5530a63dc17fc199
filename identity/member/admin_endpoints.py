"""HTTP for enrolment changes, for a payer's operators (`admin`): a delta of FHIR resources, a
member's termination, reinstatement and erasure. HTTP only: each route parses, calls one service
function (identity/member/lifecycle.py, identity/member/erase.py) and shapes the answer. Every
route takes `Idempotency-Key`; the changes themselves are idempotent too (the same change again
writes nothing and says so).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from identity.api_deps import PROBLEM, DbSession, Idempotency
from identity.audit.actor import Actor
from identity.audit.http import request_actor
from identity.auth.dependencies import Admin
from identity.auth.principal import Principal
from identity.errors import NotFound
from identity.idempotency.http import json_response
from identity.idempotency.service import IdempotentRequest
from identity.member import lifecycle
from identity.member.coverage import CoverageStatus
from identity.member.erase import erase_members

router = APIRouter(prefix="/v1/members", tags=["members"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,
    409: PROBLEM,
    415: PROBLEM,
    422: PROBLEM,
}
# A date a change may take effect on: enrolment history, not year 1 or 9999 (a day before or a
# look-back from those is no date at all).
Effective = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2999, 12, 31))]


class EnrolmentDelta(BaseModel):
    """FHIR R4 Patient and Coverage resources, as the lines of a delta file."""

    model_config = ConfigDict(extra="forbid")
    as_of: Effective | None = Field(
        default=None, description="The delta's date: a leaver's open coverage ends the day before."
    )
    resources: list[dict[str, Any]] = Field(min_length=1)


class DeltaApplied(BaseModel):
    read: int
    inserted: int
    updated: int
    unchanged: int
    left: int  # resources saying the member left (Patient.active false)
    member_ids: list[str]


class OnDate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: Effective | None = Field(
        default=None, description="The date it takes effect (default: today, UTC)."
    )


class MemberLifecycle(BaseModel):
    member_id: str
    changed: bool  # false: the member was already so; nothing was written
    coverage_status: CoverageStatus  # on the change's date
    terminated_on: date | None  # the last covered day, once every coverage period has ended


class NoBody(BaseModel):
    """Erasure takes no parameters: the body is absent or `{}`."""

    model_config = ConfigDict(extra="forbid")


class Erased(BaseModel):
    member_id: str
    decisions_redacted: int


def _today() -> date:
    return datetime.now(UTC).date()


@router.post(
    "/enrolment-changes",
    response_model=DeltaApplied,
    responses=_ERRORS,
    summary="Apply a delta of Patient and Coverage resources: adds, changes, leavers (admin)",
)
def apply_enrolment_changes(
    body: EnrolmentDelta,
    request: Request,
    session: DbSession,
    caller: Admin,
    idempotency: Idempotency,
) -> Response:
    def run() -> DeltaApplied:
        done = lifecycle.apply_delta(
            session, request_actor(request, caller), body.resources, body.as_of or _today()
        )
        c = done.report.counts
        return DeltaApplied(
            read=done.report.read,
            inserted=c.inserted,
            updated=c.updated,
            unchanged=c.unchanged,
            left=done.report.inactive,
            member_ids=done.member_ids,
        )

    return json_response(session, caller, idempotency, run)


def _changed(
    change: Callable[[Session, Actor, str, date], lifecycle.LifecycleChange],
    member_id: str,
    request: Request,
    session: Session,
    caller: Principal,
    idempotency: IdempotentRequest | None,
    body: OnDate | None,
) -> Response:
    """A termination or reinstatement from `on` (default today), answered as its new state."""

    def run() -> MemberLifecycle:
        on = (body.on if body else None) or _today()
        done = change(session, request_actor(request, caller), member_id, on)
        return MemberLifecycle(
            member_id=done.member_id,
            changed=done.changed,
            coverage_status=done.status,
            terminated_on=done.terminated_on,
        )

    return json_response(session, caller, idempotency, run)


@router.post(
    "/{member_id}/termination",
    response_model=MemberLifecycle,
    responses=_ERRORS,
    summary="End a member's open coverage: not covered from `on` (admin)",
)
def terminate_member(
    member_id: str,
    request: Request,
    session: DbSession,
    caller: Admin,
    idempotency: Idempotency,
    body: OnDate | None = None,
) -> Response:
    change = lifecycle.terminate
    return _changed(change, member_id, request, session, caller, idempotency, body)


@router.post(
    "/{member_id}/reinstatement",
    response_model=MemberLifecycle,
    responses=_ERRORS,
    summary="Cover a former member again from `on` (admin)",
)
def reinstate_member(
    member_id: str,
    request: Request,
    session: DbSession,
    caller: Admin,
    idempotency: Idempotency,
    body: OnDate | None = None,
) -> Response:
    change = lifecycle.reinstate
    return _changed(change, member_id, request, session, caller, idempotency, body)


@router.post(
    "/{member_id}/erasure",
    response_model=Erased,
    responses=_ERRORS,
    summary="Erase a member's demographics on request; ids, decisions and audit stay (admin)",
)
def erase_member(
    member_id: str,
    request: Request,
    session: DbSession,
    caller: Admin,
    idempotency: Idempotency,
    body: NoBody | None = None,
) -> Response:
    def run() -> Erased:
        report = erase_members(
            session, request_actor(request, caller), [member_id], datetime.now(UTC)
        )
        if not report.erased:
            raise NotFound("no such member")
        return Erased(member_id=member_id, decisions_redacted=report.decisions_redacted)

    return json_response(session, caller, idempotency, run)
