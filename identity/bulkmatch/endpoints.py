"""HTTP for PDex $bulk-member-match, in FHIR's asynchronous request pattern (Bulk Data style):

- `POST /fhir/Group/$bulk-member-match` checks the envelope, stores a job and answers 202 with
  `Content-Location` naming the job's status URL (whether or not `Prefer: respond-async` was
  sent: this operation is only ever asynchronous);
- `GET /fhir/bulk-member-match-jobs/{id}`: 202 with `X-Progress` while queued or running, 200 with
  the completion manifest when done, 500 with an OperationOutcome if the job failed;
- `GET …/{id}/output/{n}`: the n-th output, a PDex result Parameters;
- `DELETE …/{id}`: cancels or deletes the job (202).

The kick-off body has its own size limit, `bulk_match_max_body_bytes` (64 MiB by default, about
5 kB per member), far above the 256 kB every other route accepts, and its own bound on the number
of JSON values; the body guard (identity/http_body.py) reads it a chunk at a time, only after the
caller has been authenticated, and refuses it with 413 as soon as it passes the limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from identity.api_deps import DbSession, JsonBody
from identity.audit import service as audit
from identity.audit.http import request_actor
from identity.auth.dependencies import Matcher
from identity.bulkmatch import runner, service
from identity.bulkmatch.repository import RUNNABLE
from identity.errors import IdentityError, InvalidInput, operation_outcome
from identity.fhir.bulk_member_match import manifest, parse_envelope, result_parameters
from identity.fhir.request_schemas import BULK_MEMBER_MATCH_BODY

router = APIRouter(prefix="/fhir", tags=["payer-to-payer"])

FHIR_JSON = "application/fhir+json"
OUTCOME: dict[str, Any] = {"content": {FHIR_JSON: {}}}
KICK_OFF = "/fhir/Group/$bulk-member-match"
RETRY_AFTER_S = "2"


def _public(request: Request, path: str) -> str:
    base: str = request.app.state.settings.public_url
    return base.rstrip("/") + path


def _information(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
    }


@router.post(
    "/Group/$bulk-member-match",
    status_code=202,
    responses={202: OUTCOME, 413: OUTCOME, 415: OUTCOME, 422: OUTCOME},
    openapi_extra=BULK_MEMBER_MATCH_BODY,
    summary="PDex $bulk-member-match: many members at once, answered asynchronously",
)
def bulk_member_match(
    request: Request, caller: Matcher, body: JsonBody, session: DbSession
) -> JSONResponse:
    actor = request_actor(request, caller)
    settings = request.app.state.settings
    bundles, errors = parse_envelope(body, settings.bulk_match_max_members)
    if errors:
        # Answered, not rolled back: the refused kick-off is remembered like any other.
        audit.record(session, actor, action="bulk-match.start", outcome="invalid", http_status=422)
        err = InvalidInput("the $bulk-member-match request is malformed", errors=errors)
        return JSONResponse(operation_outcome(err), status_code=422, media_type=FHIR_JSON)
    job = service.start(session, actor, caller, bundles, now=datetime.now(UTC))
    worker = getattr(request.app.state, "bulk_worker", None)
    return JSONResponse(
        _information(f"{job.total} members accepted; poll Content-Location for the result"),
        status_code=202,
        media_type=FHIR_JSON,
        headers={"Content-Location": _public(request, service.job_path(job.id))},
        # After the response, so after the commit: the worker finds the job when it looks.
        background=BackgroundTask(worker.wake) if worker is not None else None,
    )


@router.get(
    "/bulk-member-match-jobs/{job_id}",
    responses={200: {"content": {"application/json": {}}}, 202: {}, 404: OUTCOME, 500: OUTCOME},
    summary="Status of a $bulk-member-match job: 202 while running, then the completion manifest",
)
def bulk_member_match_status(
    job_id: str, request: Request, session: DbSession, caller: Matcher
) -> Response:
    actor = request_actor(request, caller)
    settings = request.app.state.settings
    job = service.status(session, actor, job_id, now=datetime.now(UTC))
    if job.status in RUNNABLE:
        return Response(
            status_code=202,
            headers={
                "X-Progress": f"{job.status}: {job.processed} of {job.total} members matched",
                "Retry-After": RETRY_AFTER_S,
            },
        )
    if job.status == "failed":
        err = _JobFailed(job.error or "internal")
        return JSONResponse(operation_outcome(err), status_code=500, media_type=FHIR_JSON)
    pages = service.output_pages(job, settings.bulk_match_output_page)
    body = manifest(
        transaction_time=service.aware(job.started_at or job.created_at),
        request_url=_public(request, KICK_OFF),
        output_urls=[_public(request, service.output_path(job.id, n)) for n in range(1, pages + 1)],
        counts={
            "total": job.total,
            "matched": job.matched,
            "nonMatched": job.not_matched,
            "consentConstrained": job.consent_constrained,
        },
    )
    headers = {"Expires": _http_date(job.expires_at)} if job.expires_at else {}
    return JSONResponse(body, headers=headers)


@router.get(
    "/bulk-member-match-jobs/{job_id}/output/{page}",
    responses={200: OUTCOME, 404: OUTCOME},
    summary="One output of a completed $bulk-member-match job: a PDex result Parameters",
)
def bulk_member_match_output(
    job_id: str, page: str, request: Request, session: DbSession, caller: Matcher
) -> JSONResponse:
    # A string, not an int: an output URL is opaque, and one we never issued is a 404 like any
    # other miss (not a 422 that would tell a foreign job's URL from a made-up one).
    actor = request_actor(request, caller)
    settings = request.app.state.settings
    found = service.output(
        session,
        actor,
        job_id,
        int(page) if page.isascii() and page.isdigit() and len(page) <= 9 else 0,
        page_size=settings.bulk_match_output_page,
        now=datetime.now(UTC),
        sealer=request.app.state.sealer,
    )
    job = found.job
    requester = runner.job_caller(job).organization
    body = result_parameters(
        found.members,
        token_system=_public(request, "/fhir/match-tokens"),
        assigner=job.tenant_id,
        requester=requester,
    )
    return JSONResponse(body, media_type=FHIR_JSON)


@router.delete(
    "/bulk-member-match-jobs/{job_id}",
    status_code=202,
    responses={202: {}, 404: OUTCOME},
    summary="Cancel a $bulk-member-match job, or delete a finished one with its results",
)
def bulk_member_match_delete(
    job_id: str, request: Request, session: DbSession, caller: Matcher
) -> Response:
    actor = request_actor(request, caller)
    service.delete(session, actor, job_id, now=datetime.now(UTC))
    return Response(status_code=202)


class _JobFailed(IdentityError):
    status = 500
    code = "bulk-match-failed"
    title = "The bulk member match job failed"

    def __init__(self, reason: str) -> None:
        super().__init__("the job failed and has no output; submit its members again")
        self.diagnostics = f"reason: {reason}"  # an error code, never a value


def _http_date(moment: datetime) -> str:
    return service.aware(moment).strftime("%a, %d %b %Y %H:%M:%S GMT")
