"""The endpoint side of idempotency: render a JSON answer once, through the key when given."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from identity.auth.principal import Principal
from identity.idempotency import service
from identity.idempotency.service import REPLAYED_HEADER, IdempotentRequest


def json_response(
    session: Session,
    caller: Principal,
    idempotency: IdempotentRequest | None,
    produce: Callable[[], BaseModel],
    *,
    status_code: int = 200,
    media_type: str = "application/json",
) -> Response:
    def render() -> tuple[int, str, bytes]:
        return status_code, media_type, produce().model_dump_json().encode()

    if idempotency is None:
        code, content_type, body = render()
        return Response(body, status_code=code, media_type=content_type)
    stored = service.run(
        session,
        tenant=caller.tenant,
        client_id=caller.client_id,
        request=idempotency,
        produce=render,
    )
    headers = {REPLAYED_HEADER: "true"} if stored.replayed else {}
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type=stored.content_type,
        headers=headers,
    )
