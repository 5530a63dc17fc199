"""Recording a gate's decision in the tenant's audit trail.

The event's client is the reporting gate, from its access token (never the body): only a caller
with `tokens:introspect` reaches this, and it may name only a match token it introspected itself,
so one gate cannot write events about another's traffic. The requesting client the gate
authenticated is kept as a labelled object id (`client:<id>`) beside the match token's id; its
action is `gate.<interaction>`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import FieldError, IdentityError, InvalidInput
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


class NotIntrospected(IdentityError):
    """The reporter never introspected the match token its event names."""

    status = 403
    code = "not-introspected"
    title = "Only a match token this client introspected can be reported"


def record(session: Session, reporter: Actor, event: GateEvent) -> None:
    """Audit one gate decision in the reporter's tenant, as the reporter (flush only)."""
    if event.token_id is not None:
        if not tokens_service.known_token(session, reporter.tenant, event.token_id):
            raise InvalidInput(
                "the event names a match token this tenant never issued",
                errors=[FieldError("/token_id", "unknown token id")],
            )
        assert reporter.client_id is not None  # an authenticated caller always has one
        if not tokens_service.introspected_by(
            session, reporter.tenant, event.token_id, reporter.client_id
        ):
            raise NotIntrospected("report retrievals only for match tokens you introspected")
    object_ids = [event.token_id] if event.token_id else []
    if event.client_id:
        object_ids.append(f"client:{event.client_id}")
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
        reporter,
        action=f"gate.{event.interaction}",
        outcome=outcome(event),
        object_type="match_token" if event.token_id else None,
        object_ids=object_ids,
        http_status=event.http_status,
    )
