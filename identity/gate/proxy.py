"""The gate as an ASGI app: checks each retrieval, then fetches it from the FHIR server.

A retrieval passes only when, in this order:
 1. its bearer access token (`Authorization: Bearer …`, issued by identity) is valid;
 2. its match token (header `X-Match-Token`) introspects active at identity;
 3. the match token was issued to the client the access token names;
 4. it stays within the compartment of the patient the match token names (compartment.py);
 5. what comes back is within the consent: under a `regular` consent, resources labelled
    sensitive are removed from Bundles and a single one is refused (labels.py).
Refusals are OperationOutcomes. Every decision, allowed or refused, is reported to identity's
audit trail (POST /v1/gate-events) and logged as one JSON line of codes and ids: no path, no query,
no member data. When the report cannot be made, an allowed retrieval is not released (503): no
member data leaves without its audit record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.auth.access_tokens import InvalidToken
from identity.gate.compartment import Access, Refused, authorize, interaction_of, within
from identity.gate.identity_client import IdentityClient, IdentityUnavailable, load_gate_key
from identity.gate.labels import filter_bundle, is_sensitive
from identity.gate.schemas import GateEvent, Interaction
from identity.logging_setup import configure_logging, get_logger

MATCH_TOKEN_HEADER = "X-Match-Token"
FHIR_JSON = "application/fhir+json"
_JSON_TYPES = ("application/fhir+json", "application/json")
_ISSUE_CODE = {
    401: "login",
    403: "forbidden",
    405: "not-supported",
    500: "exception",
    502: "exception",
}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

log = get_logger("identity.gate")


@dataclass(frozen=True, slots=True)
class GateConfig:
    upstream: str  # the FHIR server's base URL
    identity_url: str  # where identity is reached
    client_id: str  # the gate's own registered client (scope tokens:introspect)
    key_file: Path  # the gate's private key (PEM), whose public half is registered
    key_id: str | None = None  # default: the key's RFC 7638 thumbprint
    audience: str | None = None  # what callers' access tokens name; default identity's issuer
    public_url: str | None = None  # the gate's base URL for links in Bundles; default the request's
    timeout_s: float = 10.0
    max_response_bytes: int = 32 * 1024 * 1024
    log_level: str = "INFO"


@dataclass(slots=True)
class _Decision:
    """What the log line and the audit event say about one request."""

    interaction: Interaction
    reason: str = "allowed"
    allowed: bool = True
    client_id: str | None = None
    token_id: str | None = None
    removed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Gate:
    config: GateConfig
    identity: IdentityClient
    upstream: httpx.AsyncClient


def create_gate(config: GateConfig) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(config.log_level, json=True)
        key = load_gate_key(config.key_file, config.key_id)  # fail at start, not per request
        timeout = httpx.Timeout(config.timeout_s)
        async with (
            httpx.AsyncClient(base_url=config.identity_url.rstrip("/"), timeout=timeout) as ident,
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as upstream,
        ):
            client = IdentityClient(
                ident, client_id=config.client_id, key=key, audience=config.audience
            )
            app.state.gate = _Gate(config, client, upstream)
            log.info("gate_started", client_id=config.client_id)
            yield

    return Starlette(
        routes=[
            Route("/healthz", _health, methods=["GET"]),
            Route("/{path:path}", _retrieve, methods=_METHODS),
        ],
        lifespan=lifespan,
    )


async def _health(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _retrieve(request: Request) -> Response:
    gate: _Gate = request.app.state.gate
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    path = str(request.path_params.get("path", ""))
    decision = _Decision(interaction_of(request.method, path))
    try:
        response = await _serve(gate, request, path, decision, request_id)
    except Refused as refused:
        decision.allowed, decision.reason = False, refused.reason
        response = _outcome(refused.status, refused.message, refused.status == 401)
    except IdentityUnavailable as exc:
        decision.allowed, decision.reason = False, "identity-unavailable"
        decision.extra["cause"] = str(exc)
        response = _outcome(503, "the gate cannot check this request now; try again later")
    except Exception as exc:  # a bug of ours: refuse, and say only the type (never the values)
        decision.allowed, decision.reason = False, "gate-error"
        decision.extra["error"] = type(exc).__name__
        response = _outcome(500, "the gate failed; it has been logged")
    reported = await _report(gate, decision, response.status_code, request_id)
    if not reported and decision.allowed:
        response = _outcome(503, "the retrieval could not be audited, so it is not released")
    log.info(
        "gate_decision",
        request_id=request_id,
        client_id=decision.client_id,
        token_id=decision.token_id,
        interaction=decision.interaction,
        allowed=decision.allowed and reported,
        reason=decision.reason,
        status=response.status_code,
        removed=decision.removed,
        audited=reported,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        **decision.extra,
    )
    response.headers["X-Request-ID"] = request_id
    return response


async def _report(gate: _Gate, decision: _Decision, status: int, request_id: str) -> bool:
    try:
        event = GateEvent(
            interaction=decision.interaction,
            allowed=decision.allowed,
            http_status=status,
            reason=decision.reason,
            token_id=decision.token_id,
            client_id=decision.client_id,
        )
        await gate.identity.report(event, request_id)
    except IdentityUnavailable as exc:
        decision.extra["audit_error"] = str(exc)
        return False
    except ValueError as exc:  # an id too long for the event: a bug, never a release
        decision.extra["audit_error"] = type(exc).__name__
        return False
    return True


async def _serve(
    gate: _Gate, request: Request, path: str, decision: _Decision, request_id: str
) -> Response:
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not bearer.strip():
        raise Refused("no-bearer", "a bearer access token is required", 401)
    try:
        principal = await gate.identity.validate_bearer(bearer.strip())
    except InvalidToken as exc:
        raise Refused("invalid-bearer", str(exc), 401) from exc
    decision.client_id = principal.client_id

    match_token = request.headers.get(MATCH_TOKEN_HEADER, "").strip()
    if not match_token:
        raise Refused("no-match-token", f"a match token is required ({MATCH_TOKEN_HEADER})")
    info = await gate.identity.introspect(match_token)
    if info.get("active") is not True:
        raise Refused("inactive-match-token", "the match token is not active")
    jti = info.get("jti")
    decision.token_id = jti if isinstance(jti, str) else None
    if info.get("client_id") != principal.client_id:
        raise Refused("wrong-client", "the match token was issued to another client")
    patient_id = info.get("patient_id")
    if not isinstance(patient_id, str) or not patient_id:
        raise Refused("no-patient", "the match token names no patient record")
    # Anything but an explicit `sensitive` consent is read as `regular`.
    sensitive_allowed = info.get("consent_category") == "sensitive"

    access = authorize(request.method, path, request.query_params.multi_items(), patient_id)
    body, status = await _fetch(gate, access, request_id)
    if status >= 400:
        decision.reason = "upstream-error"
        return _fhir(_upstream_error(body), status)
    public = (gate.config.public_url or str(request.base_url)).rstrip("/")
    if body.get("resourceType") == "Bundle":
        filtered = filter_bundle(
            body,
            lambda r: within(r, patient_id) and (sensitive_allowed or not is_sensitive(r)),
            may_withhold=not sensitive_allowed,
        )
        decision.removed = filtered.removed
        return _fhir(_relink(filtered.bundle, gate.config.upstream, public), status)
    if access.interaction != "read" or not within(body, patient_id):
        raise Refused("upstream-unexpected", "the FHIR server's answer cannot be checked", 502)
    if not sensitive_allowed and is_sensitive(body):
        raise Refused("sensitive-resource", "the member's consent does not cover sensitive data")
    return _fhir(body, status)


async def _fetch(gate: _Gate, access: Access, request_id: str) -> tuple[dict[str, Any], int]:
    """The approved request, rebuilt (compartment.authorize): never the caller's raw URL."""
    url = f"{gate.config.upstream.rstrip('/')}/{access.path}"
    headers = {
        "Accept": FHIR_JSON,
        # A strict server refuses a search parameter it does not know instead of ignoring it,
        # which would widen the search beyond the patient.
        "Prefer": "handling=strict",
        "X-Request-ID": request_id,
    }
    try:
        response = await gate.upstream.get(url, params=list(access.params), headers=headers)
    except httpx.HTTPError as exc:
        raise Refused("upstream-unavailable", "the FHIR server cannot be reached", 502) from exc
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _JSON_TYPES or len(response.content) > gate.config.max_response_bytes:
        raise Refused("upstream-unexpected", "the FHIR server's answer cannot be checked", 502)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise Refused(
            "upstream-unexpected", "the FHIR server's answer cannot be checked", 502
        ) from exc
    if not isinstance(body, dict):
        raise Refused("upstream-unexpected", "the FHIR server's answer cannot be checked", 502)
    return body, response.status_code


def _upstream_error(body: Mapping[str, Any]) -> Mapping[str, Any]:
    # The server's own OperationOutcome passes; anything else in an error is not released.
    if body.get("resourceType") == "OperationOutcome":
        return body
    return _outcome_body(502, "the FHIR server answered with an error")


def _relink(bundle: dict[str, Any], upstream: str, public: str) -> dict[str, Any]:
    """Links and full URLs point at the gate, not at the FHIR server behind it."""
    base = upstream.rstrip("/")

    def swap(url: Any) -> Any:
        return public + url[len(base) :] if isinstance(url, str) and url.startswith(base) else url

    links = bundle.get("link")
    if isinstance(links, list):
        bundle["link"] = [
            {**link, "url": swap(link.get("url"))} if isinstance(link, dict) else link
            for link in links
        ]
    entries = bundle.get("entry")
    if isinstance(entries, list):
        bundle["entry"] = [
            {**e, "fullUrl": swap(e["fullUrl"])} if isinstance(e, dict) and "fullUrl" in e else e
            for e in entries
        ]
    return bundle


def _fhir(body: Mapping[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON)


def _outcome_body(status: int, message: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _ISSUE_CODE.get(status, "transient" if status == 503 else "processing"),
                "details": {"text": message},
            }
        ],
    }


def _outcome(status: int, message: str, challenge: bool = False) -> Response:
    response = _fhir(_outcome_body(status, message), status)
    if challenge:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
