"""HTTP for the payer-to-payer exchange: POST /fhir/Patient/$member-match and its status URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from identity.api_deps import DbSession, Idempotency, JsonBody
from identity.audit import service as audit
from identity.audit.http import request_actor
from identity.auth.dependencies import Matcher
from identity.auth.principal import Principal
from identity.errors import operation_outcome
from identity.exchange import service
from identity.exchange.outcomes import InsufficientDemographics, PendingReview
from identity.exchange.service import Matched, MemberMatchResult, StillPending
from identity.fhir.member_match import (
    member_identifier,
    member_match_parameters,
    parse_member_match,
)
from identity.fhir.request_schemas import MEMBER_MATCH_BODY
from identity.idempotency.http import remembered

router = APIRouter(prefix="/fhir", tags=["payer-to-payer"])

FHIR_JSON = "application/fhir+json"
OUTCOME: dict[str, Any] = {"content": {FHIR_JSON: {}}}


def _public(request: Request, path: str) -> str:
    base: str = request.app.state.settings.public_url
    return base.rstrip("/") + path


def _render(request: Request, result: MemberMatchResult) -> JSONResponse:
    if isinstance(result, Matched):
        tenant = request.state.principal.tenant
        identifier = member_identifier(
            result.token, system=_public(request, "/fhir/match-tokens"), assigner=tenant
        )
        answer = member_match_parameters(identifier, result.coverage_status)
        return JSONResponse(answer, media_type=FHIR_JSON)
    err = result.refusal
    headers = dict(err.headers)
    if "Content-Location" in headers:
        headers["Content-Location"] = _public(request, headers["Content-Location"])
    return JSONResponse(
        operation_outcome(err), status_code=err.status, media_type=FHIR_JSON, headers=headers
    )


@router.post(
    "/Patient/$member-match",
    responses={200: OUTCOME, 202: OUTCOME, 413: OUTCOME, 415: OUTCOME, 422: OUTCOME, 429: OUTCOME},
    openapi_extra=MEMBER_MATCH_BODY,
    summary="HRex $member-match: a single confident, consented match yields a match token",
)
def member_match(
    request: Request,
    caller: Matcher,
    body: JsonBody,
    session: DbSession,
    idempotency: Idempotency,
) -> Response:
    return remembered(
        session, caller, idempotency, lambda: _member_match(request, body, session, caller)
    )


def _member_match(request: Request, body: Any, session: Session, caller: Principal) -> JSONResponse:
    actor = request_actor(request, caller)
    today = datetime.now(UTC).date()
    parsed, errors = parse_member_match(body, today)
    if parsed is None:
        # Not an error to roll back: the attempt is answered and remembered like any other.
        audit.record(
            session, actor, action="member-match.insufficient-demographics", outcome="invalid"
        )
        err = InsufficientDemographics(errors)
        return JSONResponse(operation_outcome(err), status_code=422, media_type=FHIR_JSON)
    result = service.member_match(
        session,
        actor,
        caller,
        request.app.state.matchers,
        parsed,
        settings=request.app.state.settings,
        today=today,
    )
    prefer = request.headers.get("prefer", "").replace(" ", "").lower()
    if "respond-async" in prefer and isinstance(getattr(result, "refusal", None), PendingReview):
        assert result.match_id is not None
        return _accepted(request, result.match_id)
    return _render(request, result)


def _accepted(request: Request, match_id: str) -> JSONResponse:
    """FHIR's asynchronous pattern: 202 with the status URL to poll."""
    url = _public(request, service.status_path(match_id))
    return JSONResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": "a data steward must confirm the match; poll Content-Location",
                }
            ],
        },
        status_code=202,
        media_type=FHIR_JSON,
        headers={"Content-Location": url, "Retry-After": "60"},
    )


@router.get(
    "/member-match-requests/{match_id}",
    responses={200: OUTCOME, 202: OUTCOME, 404: OUTCOME},
    summary="Status of an asynchronous $member-match: 202 while pending, then the final answer",
)
def member_match_status(
    match_id: str, request: Request, session: DbSession, caller: Matcher
) -> JSONResponse:
    actor = request_actor(request, caller)
    now = datetime.now(UTC)
    result = service.poll(
        session,
        actor,
        match_id,
        recipient=caller.organization,
        settings=request.app.state.settings,
        today=now.date(),
        now=now,
    )
    if isinstance(result, StillPending):
        response = _accepted(request, match_id)
        response.headers["X-Progress"] = "awaiting data steward review"
        return response
    answer = _render(request, result)
    status_text = "200 OK" if answer.status_code == 200 else f"{answer.status_code}"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": status_text}, "resource": _json(answer)}],
    }
    return JSONResponse(bundle, media_type=FHIR_JSON)


def _json(response: JSONResponse) -> Any:
    return orjson.loads(response.body)
