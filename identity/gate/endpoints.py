"""HTTP for gates: POST /v1/gate-events, one allowed or refused retrieval for the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from identity.api_deps import PROBLEM, DbSession
from identity.audit.http import request_actor
from identity.auth.dependencies import TokenIntrospector
from identity.gate import service
from identity.gate.schemas import GateEvent

router = APIRouter(prefix="/v1", tags=["gate"])


@router.post(
    "/gate-events",
    status_code=204,
    responses={401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
    summary="Record a gate's decision on one retrieval in the tenant's audit trail",
    description="The event is recorded as the calling client's (the gate's); a `token_id` "
    "must name a match token that client introspected (403 `not-introspected` otherwise).",
)
def post_gate_event(
    request: Request, session: DbSession, caller: TokenIntrospector, event: GateEvent
) -> Response:
    service.record(session, request_actor(request, caller), event)
    return Response(status_code=204)
