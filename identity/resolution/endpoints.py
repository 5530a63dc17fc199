"""HTTP for matching: POST /v1/match, GET /v1/matches/{match_id}."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from identity.api_deps import PROBLEM, DbSession, Idempotency, JsonBody
from identity.audit.http import request_actor
from identity.auth.dependencies import DecisionReader, Matcher
from identity.fhir.request_schemas import MATCH_REQUEST_BODY
from identity.idempotency.http import json_response
from identity.resolution import service
from identity.resolution.schemas import MatchResponse, StoredMatchResponse, match_response

router = APIRouter(prefix="/v1", tags=["matching"])


@router.post(
    "/match",
    response_model=MatchResponse,
    responses={401: PROBLEM, 403: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM, 503: PROBLEM},
    openapi_extra=MATCH_REQUEST_BODY,
    summary="Resolve a person (FHIR Patient, optional Coverage) against the member master",
)
def post_match(
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

    return json_response(session, caller, idempotency, decide)


@router.get(
    "/matches/{match_id}",
    response_model=StoredMatchResponse,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    summary="A stored decision with its candidates, rule results, evidence and timings",
)
def get_match(
    match_id: str,
    request: Request,
    session: DbSession,
    caller: DecisionReader,
) -> StoredMatchResponse:
    actor = request_actor(request, caller)
    return StoredMatchResponse.from_result(service.get_match(session, actor, match_id))
