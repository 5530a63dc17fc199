"""The authorisation server's public face: the token endpoint (SMART Backend Services,
client_credentials with private_key_jwt), its discovery document and the public key set.

These three routes are public by design: a client cannot hold a token before asking for one.
Token endpoint errors use OAuth's own JSON shape (RFC 6749 §5.2), which OAuth clients parse,
rather than problem details.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from identity.api_deps import DbSession
from identity.auth.access_tokens import mint_access_token
from identity.auth.client_assertion import (
    ASSERTION_ALGORITHMS,
    ASSERTION_TYPE,
    AssertionRefused,
    claimed_client,
    decoy_jwks,
    verify_assertion,
)
from identity.auth.scopes import SCOPE_MEANINGS, parse_scopes
from identity.auth.trust import token_endpoint_url, token_issuer
from identity.clients import repository as clients_repository
from identity.clients import service as clients_service
from identity.logging_setup import get_logger

router = APIRouter(tags=["authorization"])
log = get_logger("identity.auth")

PUBLIC_PATHS = frozenset(
    {"/oauth/token", "/.well-known/jwks.json", "/.well-known/smart-configuration"}
)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_BYTES = 16 * 1024


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=_NO_STORE,
        )


# Every failed client authentication gets this one answer (RFC 6749 §5.2 invalid_client): saying
# "unknown client" to one and "bad signature" to another tells a prober which client ids exist.
CLIENT_REFUSED = "the client could not be authenticated with this assertion"


def _refused(reason: str) -> OAuthError:
    """The uniform refusal; the real reason goes to the log (a code phrase, never the assertion
    or the client id it claims)."""
    log.info("client_authentication_refused", reason=reason)
    return OAuthError("invalid_client", CLIENT_REFUSED, 401)


async def oauth_form(request: Request) -> dict[str, str]:
    """The form-encoded token request, bounded in size, each parameter at most once."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise OAuthError("invalid_request", "send the parameters form-encoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "the request is too large")
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", "the form is not ASCII") from exc
    if any(len(values) > 1 for values in fields.values()):
        raise OAuthError("invalid_request", "a parameter is repeated")
    return {name: values[0] for name, values in fields.items()}


@router.post(
    "/oauth/token",
    summary="Issue an access token (client_credentials with a private_key_jwt assertion)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "client_assertion_type", "client_assertion"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string"},
                            "client_assertion_type": {"type": "string", "enum": [ASSERTION_TYPE]},
                            "client_assertion": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
def token(
    request: Request,
    session: DbSession,
    form: Annotated[dict[str, str], Depends(oauth_form)],
) -> JSONResponse:
    settings = request.app.state.settings
    if form.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise OAuthError("invalid_client", "a private_key_jwt client assertion is required", 401)
    assertion = form["client_assertion"]
    now = time.time()
    try:
        client_id = claimed_client(assertion)
        client = clients_service.active_client(session, client_id)
        # An unknown or disabled client's assertion is checked against a decoy key all the same:
        # the answer and the work are those of a registered client's bad signature.
        verified = verify_assertion(
            assertion,
            client_id=client_id,
            jwks=client.jwks if client is not None else decoy_jwks(assertion),
            token_url=token_endpoint_url(settings),
            now=now,
            leeway_s=settings.clock_leeway_s,
        )
        if client is None:  # a decoy key verified: cannot happen, but never issue on it
            raise AssertionRefused("the client is not registered or is disabled")
    except AssertionRefused as exc:
        raise _refused(str(exc)) from exc
    clients_repository.forget_expired_assertions(session, client.client_id, datetime.now(UTC))
    if not clients_repository.remember_assertion(
        session, client.client_id, verified.jti, verified.expires_at
    ):
        raise _refused("the client assertion was already used")
    requested = parse_scopes(form.get("scope", ""))
    allowed = parse_scopes(client.scopes)
    if not requested:
        raise OAuthError("invalid_scope", "name the scopes you need")
    if not requested <= allowed:
        raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
    access_token, lifetime = mint_access_token(
        request.app.state.signing_key,
        issuer=token_issuer(settings),
        audience=token_issuer(settings),
        client_id=client.client_id,
        tenant=client.tenant_id,
        scopes=requested,
        lifetime_s=settings.access_token_lifetime_s,
        now=now,
        organization=clients_service.organization_of(client),
    )
    body = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scope": " ".join(sorted(requested)),
    }
    return JSONResponse(body, headers=_NO_STORE)


@router.get("/.well-known/jwks.json", summary="The public keys that sign this service's tokens")
def jwks(request: Request) -> dict[str, Any]:
    return {"keys": [request.app.state.signing_key.public_jwk()]}


@router.get(
    "/.well-known/smart-configuration",
    summary="SMART discovery: where and how to ask for a token",
)
def smart_configuration(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "issuer": token_issuer(settings),
        "jwks_uri": f"{token_issuer(settings)}/.well-known/jwks.json",
        "token_endpoint": token_endpoint_url(settings),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(ASSERTION_ALGORITHMS),
        "scopes_supported": sorted(s.value for s in SCOPE_MEANINGS),
        "capabilities": ["client-confidential-asymmetric"],
    }
