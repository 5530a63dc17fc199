"""One error base carrying its HTTP status, and the two renderings of it.

`/v1` answers with RFC 9457 problem details, `/fhir` with an OperationOutcome. Neither ever echoes
a submitted value: errors name the field (a JSON pointer) and what is wrong with it, never the PHI.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

PROBLEM_BASE = "https://identity.example/problems/"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field: where (JSON pointer) and what, without the value."""

    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


class IdentityError(Exception):
    """Base of every expected failure; the handlers turn it into a 4xx/503 response."""

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"
    # The code system an OperationOutcome names `code` under (issue.details.coding).
    system: str = PROBLEM_BASE.rstrip("/")
    diagnostics: str | None = None  # extra text for the OperationOutcome (no PHI)

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class InvalidInput(IdentityError):
    status = 422
    code = "invalid-input"
    title = "The request is not valid"


class NotFound(IdentityError):
    status = 404
    code = "not-found"
    title = "Not found"


class Unauthorized(IdentityError):
    """No usable access token (RFC 6750 §3.1 invalid_token)."""

    status = 401
    code = "invalid-token"
    title = "A valid access token is required"

    def __init__(self, detail: str) -> None:
        # The description is one of a fixed set of reasons; it never quotes the token.
        super().__init__(
            detail,
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'
            },
        )


class Forbidden(IdentityError):
    """A valid token that lacks the scope the operation needs (RFC 6750 insufficient_scope)."""

    status = 403
    code = "insufficient-scope"
    title = "The access token does not grant this operation"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"this operation needs the scope {scope}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


class Conflict(IdentityError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(IdentityError):
    status = 413
    code = "payload-too-large"
    title = "The request body is too large"


class UnsupportedMediaType(IdentityError):
    status = 415
    code = "unsupported-media-type"
    title = "The request body's media type is not accepted"


class ServiceUnavailable(IdentityError):
    status = 503
    code = "unavailable"
    title = "The service cannot answer now"

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class RateLimited(IdentityError):
    """Over a client's or a tenant's rate limit; carries Retry-After and the RateLimit fields."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after_s: int, *, headers: Mapping[str, str] | None = None) -> None:
        self.retry_after_s = max(1, retry_after_s)
        super().__init__(
            f"too many requests; retry after {self.retry_after_s} s",
            headers={**(headers or {}), "Retry-After": str(self.retry_after_s)},
        )


def problem_details(err: IdentityError, instance: str | None = None) -> dict[str, Any]:
    """RFC 9457 body; `errors` is the extension member listing the fields at fault."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + err.code,
        "title": err.title,
        "status": err.status,
        "detail": err.detail,
    }
    if instance:
        body["instance"] = instance
    if err.errors:
        body["errors"] = [e.as_dict() for e in err.errors]
    return body


_FHIR_ISSUE_CODE = {
    400: "structure",
    404: "not-found",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    503: "transient",
}


def operation_outcome(err: IdentityError) -> dict[str, Any]:
    """FHIR R4 OperationOutcome: one issue per field error (expression = the field's path)."""
    code = _FHIR_ISSUE_CODE.get(err.status, "processing")
    issues: list[dict[str, Any]] = [
        {
            "severity": "error",
            "code": code,
            "details": {
                "coding": [{"system": err.system, "code": err.code}],
                "text": err.detail,
            },
        }
    ]
    if err.diagnostics:
        issues[0]["diagnostics"] = err.diagnostics
    for fe in err.errors:
        path = fe.pointer.strip("/").replace("/", ".")
        issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": fe.detail}
        if path:  # FHIR forbids an empty expression; the whole body has none
            issue["expression"] = [path]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_response(err: IdentityError, *, path: str, request_id: str | None) -> JSONResponse:
    """The error in its route's shape: OperationOutcome under /fhir, problem details elsewhere.

    Shared by the exception handlers and the request-body guard (which answers before routing).
    `instance` is the request id, never the path: a path can carry an identifier."""
    if path.startswith("/fhir"):
        return JSONResponse(
            operation_outcome(err),
            status_code=err.status,
            media_type="application/fhir+json",
            headers=dict(err.headers),
        )
    try:
        instance: str | None = uuid.UUID(request_id or "").urn
    except ValueError:
        instance = None
    return JSONResponse(
        problem_details(err, instance=instance),
        status_code=err.status,
        media_type="application/problem+json",
        headers=dict(err.headers),
    )
