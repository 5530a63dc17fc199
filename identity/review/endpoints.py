"""HTTP for the review queue: list items, read one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from identity.api_deps import PROBLEM, DbSession, Idempotency
from identity.audit.http import request_actor
from identity.auth.dependencies import Steward
from identity.idempotency.http import json_response
from identity.review import service
from identity.review.schemas import ReviewItemPage, ReviewItemView

router = APIRouter(prefix="/v1/review-items", tags=["review"])


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
    status: Annotated[str | None, Query(description="open, claimed or resolved")] = None,
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


class Resolution(BaseModel):
    resolution: Literal["link", "keep_apart"]
    member_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


@router.post(
    "/{item_id}/resolution",
    response_model=ReviewItemView,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM},
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
        )
        return ReviewItemView.model_validate(service.item_view(item))

    return json_response(session, caller, idempotency, settle)
