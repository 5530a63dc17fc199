"""The endpoint side of idempotency: render a JSON answer once, through the key when given."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from identity.auth.principal import Principal
from identity.idempotency import service
from identity.idempotency.service import REPLAYED_HEADER, IdempotentRequest


def remembered(
    session: Session,
    caller: Principal,
    idempotency: IdempotentRequest | None,
    produce: Callable[[], Response],
) -> Response:
    """The endpoint's answer, made once per Idempotency-Key and replayed byte for byte. Replays
    carry the status, content type and body; headers particular to the first answer do not."""
    if idempotency is None:
        return produce()
    first: list[Response] = []

    def render() -> tuple[int, str, bytes]:
        response = produce()
        first.append(response)
        return response.status_code, response.media_type or "application/json", bytes(response.body)

    stored = service.run(
        session,
        tenant=caller.tenant,
        client_id=caller.client_id,
        request=idempotency,
        produce=render,
    )
    if not stored.replayed:
        return first[0]
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type=stored.content_type,
        headers={REPLAYED_HEADER: "true"},
    )


def json_response(
    session: Session,
    caller: Principal,
    idempotency: IdempotentRequest | None,
    produce: Callable[[], BaseModel],
    *,
    status_code: int = 200,
    media_type: str = "application/json",
) -> Response:
    """A model's JSON as the answer, remembered under the Idempotency-Key when one is given."""

    def render() -> Response:
        body = produce().model_dump_json().encode()
        return Response(body, status_code=status_code, media_type=media_type)

    return remembered(session, caller, idempotency, render)
