"""HTTP for matching: POST /v1/match, GET /v1/matches/{match_id}."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from identity.api_deps import PROBLEM, DbSession, Idempotency, JsonBody, in_match_thread
from identity.audit.http import request_actor
from identity.auth.dependencies import Matcher, require
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.fhir.request_schemas import MATCH_REQUEST_BODY
from identity.idempotency.http import json_response
from identity.resolution import outcome, service
from identity.resolution.schemas import (
    MatchOutcomeResponse,
    MatchResponse,
    StoredMatchResponse,
    match_response,
    stored_match_response,
)

router = APIRouter(prefix="/v1", tags=["matching"])

# `decisions:read` reads any decision of its tenant; `match` only the ones its client asked for.
DecisionOrOwnReader = Annotated[Principal, Depends(require(Scope.DECISIONS_READ, Scope.MATCH))]


@router.post(
    "/match",
    response_model=MatchResponse,
    responses={401: PROBLEM, 403: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM, 503: PROBLEM},
    openapi_extra=MATCH_REQUEST_BODY,
    summary="Resolve a person (FHIR Patient, optional Coverage) against the member master",
)
async def post_match(
    request: Request,
    caller: Matcher,
    body: JsonBody,
    session: DbSession,
    idempotency: Idempotency,
) -> Response:
    def decide() -> MatchResponse:
        today = datetime.now(UTC).date()
        raw = service.parse_match_request(body, today)
        result = service.match(
            session,
            caller.tenant,
            request.app.state.matchers,
            raw,
            today=today,
            actor=request_actor(request, caller),
        )
        request.app.state.metrics.observe_decision(result.decision.outcome, result.decision.stage)
        return match_response(result)

    return await in_match_thread(
        request, session, lambda: json_response(session, caller, idempotency, decide), commit=True
    )


@router.get(
    "/matches/{match_id}",
    response_model=StoredMatchResponse | MatchOutcomeResponse,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    summary="A stored decision and how its review was settled: the whole decision with "
    "`decisions:read`, the minimal answer for the client that asked with `match`",
)
def get_match(
    match_id: str,
    request: Request,
    session: DbSession,
    caller: DecisionOrOwnReader,
) -> StoredMatchResponse | MatchOutcomeResponse:
    actor = request_actor(request, caller)
    return stored_match_response(outcome.read(session, caller, actor, match_id))
