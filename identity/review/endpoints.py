"""HTTP for the review queue: list and read items, claim them, decide them, and see and undo
what the service remembers. An OAuth client with `review` acts as a steward; with `admin` too,
as a lead (identity/review/roles.py). Logic lives in the service; this module translates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from identity.api_deps import PROBLEM, DbSession, Idempotency
from identity.audit.http import request_actor
from identity.auth.dependencies import Steward
from identity.idempotency.http import json_response
from identity.review import service
from identity.review.decisions import KINDS
from identity.review.roles import role_of_client
from identity.review.schemas import (
    ClaimState,
    RememberedList,
    RememberedOut,
    ResolutionHistory,
    ResolutionOut,
    ReviewItemPage,
    ReviewItemView,
)

router = APIRouter(prefix="/v1/review-items", tags=["review"])
remembered_router = APIRouter(prefix="/v1/remembered-decisions", tags=["review"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,
    409: PROBLEM,
    422: PROBLEM,
}
_MEMBER_ID = Field(default=None, min_length=1, max_length=64)


class NoBody(BaseModel):
    """These operations take no parameters: the body is absent or `{}`."""

    model_config = ConfigDict(extra="forbid")


def _lease_s(request: Request) -> int:
    return int(request.app.state.settings.review_claim_lease_s)


def _claim_state(item: service.ReviewItem) -> ClaimState:
    now = datetime.now(UTC)
    held = service.holder(item, now)
    return ClaimState(
        item_id=item.id,
        status=item.status,
        claimed_by=held,
        claim_expires_at=service.aware(item.claim_expires_at) if held else None,
        assigned_by=item.assigned_by if held else None,
    )


@router.get(
    "",
    response_model=ReviewItemPage,
    responses={401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
    summary="The review queue, oldest first, keyset-paginated",
)
def list_review_items(
    request: Request,
    session: DbSession,
    caller: Steward,
    status: Annotated[str | None, Query(description="open, escalated or resolved")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewItemPage:
    items, next_cursor = service.list_items(
        session, request_actor(request, caller), status=status, cursor=cursor, limit=limit
    )
    return ReviewItemPage(
        items=[ReviewItemView.model_validate(service.item_view(i)) for i in items],
        next_cursor=next_cursor,
    )


class NextItem(BaseModel):
    item: ReviewItemView | None  # null: nothing left to claim


@router.post(
    "/claim-next",
    response_model=NextItem,
    responses=_ERRORS,
    summary="Claim the oldest item nobody holds that the caller may work (null: none)",
)
def claim_next_review_item(
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
    body: NoBody | None = None,
) -> Response:
    def run() -> NextItem:
        item = service.claim_next(
            session,
            request_actor(request, caller),
            now=datetime.now(UTC),
            role=role_of_client(caller),
            lease_s=_lease_s(request),
        )
        if item is None:
            return NextItem(item=None)
        return NextItem(item=ReviewItemView.model_validate(service.item_view(item)))

    return json_response(session, caller, idempotency, run)


@router.get(
    "/{item_id}",
    response_model=ReviewItemView,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    summary="One review item",
)
def get_review_item(
    item_id: str, request: Request, session: DbSession, caller: Steward
) -> ReviewItemView:
    return ReviewItemView.model_validate(
        service.item_view(service.get_item(session, request_actor(request, caller), item_id))
    )


@router.get(
    "/{item_id}/history",
    response_model=ResolutionHistory,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    summary="Every version of the item's resolution, newest first",
)
def review_item_history(
    item_id: str, request: Request, session: DbSession, caller: Steward
) -> ResolutionHistory:
    views = service.history(session, request_actor(request, caller), item_id)
    return ResolutionHistory(
        item_id=item_id,
        resolutions=[ResolutionOut.model_validate(v, from_attributes=True) for v in views],
    )


@router.post(
    "/{item_id}/claim",
    response_model=ClaimState,
    responses=_ERRORS,
    summary="Hold the item for a while (a lease that lapses); 409 if another person holds it",
)
def claim_review_item(
    item_id: str,
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
    body: NoBody | None = None,
) -> Response:
    def run() -> ClaimState:
        item = service.claim(
            session,
            request_actor(request, caller),
            item_id,
            now=datetime.now(UTC),
            role=role_of_client(caller),
            lease_s=_lease_s(request),
        )
        return _claim_state(item)

    return json_response(session, caller, idempotency, run)


@router.post(
    "/{item_id}/release",
    response_model=ClaimState,
    responses=_ERRORS,
    summary="Give the item back to the queue",
)
def release_review_item(
    item_id: str,
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
    body: NoBody | None = None,
) -> Response:
    def run() -> ClaimState:
        item = service.release(
            session,
            request_actor(request, caller),
            item_id,
            now=datetime.now(UTC),
            role=role_of_client(caller),
        )
        return _claim_state(item)

    return json_response(session, caller, idempotency, run)


class Assignment(BaseModel):
    to_person: str = Field(min_length=1, max_length=128)


@router.post(
    "/{item_id}/assign",
    response_model=ClaimState,
    responses=_ERRORS,
    summary="A lead hands the item to a person (a claim in their name)",
)
def assign_review_item(
    item_id: str,
    body: Assignment,
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
) -> Response:
    def run() -> ClaimState:
        item = service.assign(
            session,
            request_actor(request, caller),
            item_id,
            to_person=body.to_person,
            now=datetime.now(UTC),
            role=role_of_client(caller),
            lease_s=_lease_s(request),
        )
        return _claim_state(item)

    return json_response(session, caller, idempotency, run)


class Decision(BaseModel):
    kind: Literal[KINDS]  # type: ignore[valid-type]  # the service's tuple of kinds
    member_id: str | None = _MEMBER_ID
    other_member_id: str | None = _MEMBER_ID
    note: str | None = Field(default=None, max_length=2000)
    # same_person, instead of other_member_id: several records of the survivor's person (a
    # duplicate-enrolment cluster of three or more in one decision)
    other_member_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=100
    )


@router.post(
    "/{item_id}/decisions",
    response_model=ResolutionOut,
    status_code=201,
    responses=_ERRORS,
    summary="Decide the item: link, keep apart, new person, same person (or not), escalate",
)
def decide_review_item(
    item_id: str,
    body: Decision,
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
) -> Response:
    def run() -> ResolutionOut:
        view = service.decide(
            session,
            request_actor(request, caller),
            item_id,
            service.StewardDecision(
                kind=body.kind,
                member_id=body.member_id,
                other_member_id=body.other_member_id,
                note=body.note,
                other_member_ids=tuple(body.other_member_ids or ()),
            ),
            role=role_of_client(caller),
            now=datetime.now(UTC),
        )
        return ResolutionOut.model_validate(view, from_attributes=True)

    return json_response(session, caller, idempotency, run, status_code=201)


class Resolution(BaseModel):
    resolution: Literal["link", "keep_apart"]
    member_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


@router.post(
    "/{item_id}/resolution",
    response_model=ReviewItemView,
    responses=_ERRORS,
    summary="Settle a review item: link to one candidate, or keep apart (unlinking revokes tokens)",
)
def resolve_review_item(
    item_id: str,
    body: Resolution,
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
) -> Response:
    def settle() -> ReviewItemView:
        item = service.resolve(
            session,
            request_actor(request, caller),
            item_id,
            resolution=body.resolution,
            member_id=body.member_id,
            note=body.note,
            now=datetime.now(UTC),
            role=role_of_client(caller),
        )
        return ReviewItemView.model_validate(service.item_view(item))

    return json_response(session, caller, idempotency, settle)


@remembered_router.get(
    "",
    response_model=RememberedList,
    responses={401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
    summary="What the service answers without asking again (for one member: also what was undone)",
)
def list_remembered_decisions(
    request: Request,
    session: DbSession,
    caller: Steward,
    member_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> RememberedList:
    views = service.remembered(session, request_actor(request, caller), member_id=member_id)
    return RememberedList(
        remembered=[RememberedOut.model_validate(v, from_attributes=True) for v in views]
    )


@remembered_router.post(
    "/{remembered_id}/undo",
    response_model=RememberedOut,
    responses=_ERRORS,
    summary="Stop answering from a remembered decision (kept, marked undone, audited)",
)
def undo_remembered_decision(
    remembered_id: str,
    request: Request,
    session: DbSession,
    caller: Steward,
    idempotency: Idempotency,
    body: NoBody | None = None,
) -> Response:
    def run() -> RememberedOut:
        view = service.undo_remembered(
            session,
            request_actor(request, caller),
            remembered_id,
            role=role_of_client(caller),
            now=datetime.now(UTC),
        )
        return RememberedOut.model_validate(view, from_attributes=True)

    return json_response(session, caller, idempotency, run)
