"""The audit actor of an HTTP request: the authenticated client, its tenant, the request id."""

from __future__ import annotations

from fastapi import Request

from identity.audit.actor import UNAUTHENTICATED_TENANT, Actor
from identity.audit.denials import DENIAL_OUTCOMES, DenialAudit
from identity.audit.service import record_denial
from identity.auth.principal import Principal
from identity.logging_setup import get_logger

log = get_logger("identity.audit")


def request_actor(request: Request, principal: Principal) -> Actor:
    """The id is the one the RequestContext middleware answers with in X-Request-ID."""
    request_id = getattr(request.state, "request_id", None)
    return Actor(tenant=principal.tenant, client_id=principal.client_id, request_id=request_id)


__all__ = ["DENIAL_OUTCOMES", "audit_denial", "counted_only", "request_actor"]


def counted_only(request: Request) -> bool:
    """Whether `audit_denial` only counts this refusal in memory (a caller that never
    authenticated): then it may run on the event loop, without a hop to a worker thread."""
    state = request.state
    return getattr(state, "principal", None) is None and getattr(state, "denials", None) is not None


def audit_denial(request: Request, status: int) -> None:
    """Record a refusal. An authenticated caller's is one event, in a transaction of its own
    (the request's own rolled back); a caller that never authenticated is only counted, per
    source, and audited as an aggregate (identity/audit/denials.py): no database work per
    refusal. Runs in a worker thread. Failing to audit must not turn a 401 into a 500: it is
    logged instead."""
    principal = getattr(request.state, "principal", None)
    if counted_only(request):
        denials: DenialAudit = request.state.denials
        denials.add(str(getattr(request.state, "source", "unknown")), status)
        return
    actor = Actor(
        tenant=principal.tenant if principal else UNAUTHENTICATED_TENANT,
        client_id=principal.client_id if principal else None,
        request_id=getattr(request.state, "request_id", None),
    )
    route = getattr(request.scope.get("route"), "path", "unmatched")
    try:
        record_denial(
            request.app.state.session_factory,
            actor,
            action="access.denied",
            outcome=DENIAL_OUTCOMES[status],
            http_status=status,
            object_type="route",
            object_ids=[f"{request.method} {route}"],
        )
    except Exception as exc:  # noqa: BLE001 - the refusal stands whether or not it was stored
        log.error("audit_denial_failed", error=type(exc).__name__, status=status)
