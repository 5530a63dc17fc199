"""HTTP for the audit trail: GET /v1/audit-events, the tenant's events as FHIR AuditEvents."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from identity.api_deps import PROBLEM, DbSession
from identity.audit import service
from identity.audit.http import request_actor
from identity.auth.dependencies import AuditReader
from identity.fhir.audit_event import audit_bundle

router = APIRouter(prefix="/v1", tags=["audit"])

FHIR_JSON: dict[str, Any] = {"content": {"application/fhir+json": {}}}


@router.get(
    "/audit-events",
    response_class=JSONResponse,
    responses={200: FHIR_JSON, 401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
    summary="The tenant's audit trail as a FHIR searchset Bundle of AuditEvents, oldest first",
)
def list_audit_events(
    request: Request,
    session: DbSession,
    caller: AuditReader,
    count: Annotated[int, Query(alias="_count", ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    page = service.export_page(session, request_actor(request, caller), count=count, cursor=cursor)
    bundle = audit_bundle(
        page.events,
        self_url=_url(request, count, cursor),
        next_url=_url(request, count, page.next_cursor) if page.next_cursor else None,
    )
    return JSONResponse(bundle, media_type="application/fhir+json")


def _url(request: Request, count: int, cursor: str | None) -> str:
    # From the configured public URL, not the Host header, which the caller controls.
    base = request.app.state.settings.public_url.rstrip("/")
    query = {"_count": count, **({"cursor": cursor} if cursor else {})}
    return f"{base}/v1/audit-events?{urlencode(query)}"
