"""HTTP for FHIR R4 `POST /fhir/Patient/$match`: resolution's use case, spoken in FHIR.

It lives with resolution because it is the same use case as POST /v1/match (the same stored
decision, readable at GET /v1/matches/{id}); only the shapes in and out differ, and those are in
identity/fhir/patient_match.py. Errors under /fhir render as OperationOutcome (identity/app.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import RootModel

from identity.api_deps import DbSession, Idempotency, JsonBody, in_match_thread
from identity.audit.http import request_actor
from identity.auth.dependencies import MemberSearcher
from identity.fhir.patient_match import match_bundle, parse_patient_match
from identity.fhir.request_schemas import PATIENT_MATCH_BODY
from identity.idempotency.http import json_response
from identity.resolution import service

router = APIRouter(prefix="/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"
OUTCOME: dict[str, Any] = {"content": {FHIR_JSON: {}}}


class FhirResource(RootModel[dict[str, Any]]):
    """A FHIR resource rendered as is (json_response stores and replays a model's JSON)."""


@router.post(
    "/Patient/$match",
    response_class=Response,
    responses={
        200: OUTCOME,
        401: OUTCOME,
        403: OUTCOME,
        413: OUTCOME,
        415: OUTCOME,
        422: OUTCOME,
        503: OUTCOME,
    },
    openapi_extra=PATIENT_MATCH_BODY,
    summary="FHIR R4 Patient $match: a searchset Bundle of graded candidates (Parameters in)",
)
async def patient_match(
    request: Request,
    caller: MemberSearcher,
    session: DbSession,
    body: JsonBody,
    idempotency: Idempotency,
) -> Response:
    def produce() -> FhirResource:
        today = datetime.now(UTC).date()
        parsed = parse_patient_match(body, today)
        found = service.patient_match(
            session, request_actor(request, caller), request.app.state.matchers, parsed, today=today
        )
        decision = found.result.decision
        request.app.state.metrics.observe_decision(decision.outcome, decision.stage)
        base_url = request.app.state.settings.public_url
        return FhirResource(
            match_bundle(decision, found.selection, found.sources, base_url=base_url)
        )

    return await in_match_thread(
        request,
        session,
        lambda: json_response(session, caller, idempotency, produce, media_type=FHIR_JSON),
        commit=True,
    )
