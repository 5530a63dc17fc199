"""The one way a route says who may call it: `require(Scope.X)` as a dependency.

It reads the bearer token, validates it, checks the scope, applies the caller's rate limit and
leaves the principal on `request.state` (for the access log and the audit trail). The tenant a
request acts for comes from here and nowhere else — never from a header or the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from identity.auth.access_tokens import AccessTokenValidator, InvalidToken
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.errors import Forbidden, RateLimited, Unauthorized


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer access token is required")
    return token.strip()


def _validated(validator: AccessTokenValidator, token: str) -> Principal:
    try:
        return validator.validate(token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc


def authenticate(request: Request) -> Principal:
    """The validated caller; 401 for a missing or bad token."""
    principal = _validated(request.app.state.token_validator, bearer_token(request))
    request.state.principal = principal
    return principal


async def _authenticate(request: Request) -> Principal:
    """`authenticate` on the event loop when the token was validated recently (a dictionary
    lookup), in a worker thread otherwise (an RSA check, perhaps a key set fetched)."""
    token = bearer_token(request)
    validator: AccessTokenValidator = request.app.state.token_validator
    principal = validator.remembered(token)
    if principal is None:
        principal = await run_in_threadpool(_validated, validator, token)
    request.state.principal = principal
    return principal


def require(scope: Scope, *also: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting callers whose token grants `scope` (or one of `also`; 403
    otherwise), within their client's and tenant's rate limits (429 otherwise). With `also`, the
    endpoint decides what each scope may see."""

    # Async: the check is a few microseconds, cheaper than the hop to a worker thread (and back)
    # that a plain function dependency costs every request.
    async def dependency(request: Request) -> Principal:
        principal = await _authenticate(request)
        if not any(principal.has(s) for s in (scope, *also)):
            raise Forbidden(scope.value)
        return await _within_limits(request, principal)

    dependency.required_scope = scope  # type: ignore[attr-defined]  # read by the route-table test
    return dependency


async def _within_limits(request: Request, principal: Principal) -> Principal:
    limiter = request.app.state.rate_limiter
    if limiter.in_process:
        decision = limiter.acquire(principal.client_id, principal.tenant)
    else:  # the shared store waits on the database: not on the event loop
        decision = await run_in_threadpool(limiter.acquire, principal.client_id, principal.tenant)
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s, headers=decision.headers())
    # Added to the response by the request-context middleware, whatever the endpoint returns.
    request.state.response_headers = decision.headers()
    return principal


# The route-table test reads this as "every client of the tenant, whatever its scopes".
ANY_SCOPE = "(any scope)"


async def any_client(request: Request) -> Principal:
    """Admits every client of the tenant holding at least one of our scopes (403 for a token that
    grants none), within its rate limits: for what every caller is bound by, such as the policy
    its requests are decided under."""
    principal = await _authenticate(request)
    if not any(principal.has(s) for s in Scope):
        raise Forbidden(" ".join(sorted(Scope)))  # any one of them (RFC 6750: a list)
    return await _within_limits(request, principal)


any_client.required_scope = ANY_SCOPE  # type: ignore[attr-defined]


Matcher = Annotated[Principal, Depends(require(Scope.MATCH))]
MemberSearcher = Annotated[Principal, Depends(require(Scope.MEMBERS_SEARCH))]
DecisionReader = Annotated[Principal, Depends(require(Scope.DECISIONS_READ))]
Steward = Annotated[Principal, Depends(require(Scope.REVIEW))]
TokenIntrospector = Annotated[Principal, Depends(require(Scope.TOKENS_INTROSPECT))]
TokenRevoker = Annotated[Principal, Depends(require(Scope.TOKENS_REVOKE))]
ConsentManager = Annotated[Principal, Depends(require(Scope.CONSENTS_MANAGE))]
AuditReader = Annotated[Principal, Depends(require(Scope.AUDIT_READ))]
MetricsReader = Annotated[Principal, Depends(require(Scope.METRICS_READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
AnyClient = Annotated[Principal, Depends(any_client)]
