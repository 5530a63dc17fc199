"""HTTP for match tokens: introspection (RFC 7662) for FHIR servers and revocation (RFC 7009).

Both take the token as a form field, never in the URL (where access logs would keep it). Both
answer 200 for any token: introspection `{"active": false}` when it is not usable, revocation an
empty body whether or not there was anything to revoke, so neither is an oracle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from identity.api_deps import PROBLEM, DbSession
from identity.audit.http import request_actor
from identity.auth.dependencies import TokenIntrospector, TokenRevoker
from identity.auth.endpoints import OAuthError, oauth_form
from identity.auth.scopes import Scope
from identity.tokens import service

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {"type": "string"},
                    },
                }
            }
        },
    }
}
_OAUTH_ERROR: dict[str, Any] = {"content": {"application/json": {}}}


def _token(form: dict[str, str]) -> str:
    token = form.get("token", "")
    if not token:
        raise OAuthError("invalid_request", "the token parameter is required")
    return token


# The caller is a parameter before the form: a request without a valid token is a 401 before
# its body is read.
@router.post(
    "/introspect",
    openapi_extra=_FORM,
    responses={400: _OAUTH_ERROR, 401: PROBLEM, 403: PROBLEM},
    summary="Is this match token active, and what does it allow? (RFC 7662)",
)
def introspect(
    request: Request,
    session: DbSession,
    caller: TokenIntrospector,
    form: Annotated[dict[str, str], Depends(oauth_form)],
) -> JSONResponse:
    body = service.introspect(
        session, request_actor(request, caller), _token(form), now=datetime.now(UTC)
    )
    return JSONResponse(body, headers=_NO_STORE)


@router.post(
    "/revoke",
    openapi_extra=_FORM,
    responses={400: _OAUTH_ERROR, 401: PROBLEM, 403: PROBLEM},
    summary="Revoke a match token (RFC 7009); 200 whether or not it existed",
)
def revoke(
    request: Request,
    session: DbSession,
    caller: TokenRevoker,
    form: Annotated[dict[str, str], Depends(oauth_form)],
) -> Response:
    service.revoke(
        session,
        request_actor(request, caller),
        _token(form),
        any_client=caller.has(Scope.TOKENS_INTROSPECT) or caller.has(Scope.ADMIN),
    )
    return Response(status_code=200, headers=_NO_STORE)
