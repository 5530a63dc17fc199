"""Recording a gate's decision in the tenant's audit trail.

The event's client is the requesting client the gate authenticated (so "who retrieved what" reads
as it does for the API), its action `gate.<interaction>`, its object the match token. The gate
itself is the authenticated reporter: only a caller with `tokens:introspect` reaches this."""

from __future__ import annotations

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import FieldError, InvalidInput
from identity.gate.schemas import GateEvent
from identity.logging_setup import get_logger
from identity.tokens import service as tokens_service

log = get_logger("identity.gate")


def outcome(event: GateEvent) -> str:
    if event.allowed:
        if event.http_status < 400:
            return "success"
        return "not-found" if event.http_status == 404 else "error"
    if event.http_status == 401:
        return "denied"
    if event.http_status in (403, 405):
        return "forbidden"
    return "error" if event.http_status >= 500 else "invalid"


def record(session: Session, reporter: Actor, event: GateEvent) -> None:
    """Audit one gate decision in the reporter's tenant (flush only)."""
    if event.token_id is not None and not tokens_service.known_token(
        session, reporter.tenant, event.token_id
    ):
        raise InvalidInput(
            "the event names a match token this tenant never issued",
            errors=[FieldError("/token_id", "unknown token id")],
        )
    actor = Actor(reporter.tenant, event.client_id, reporter.request_id)
    log.info(
        "gate_event",
        gate=reporter.client_id,
        client_id=event.client_id,
        token_id=event.token_id,
        interaction=event.interaction,
        allowed=event.allowed,
        reason=event.reason,
        status=event.http_status,
    )
    audit.record(
        session,
        actor,
        action=f"gate.{event.interaction}",
        outcome=outcome(event),
        object_type="match_token" if event.token_id else None,
        object_ids=[event.token_id] if event.token_id else [],
        http_status=event.http_status,
    )
