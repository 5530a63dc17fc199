"""Audit use cases: append an event to a tenant's chain, record a denial, verify the chains.

`record` is the one way an audit row is written (ARCHITECTURE, convention 9). It joins the
caller's transaction and only flushes: the event commits with the change it describes, or not at
all. It locks the tenant's chain head until that commit, so call it as the last step before the
commit, to keep a tenant's other requests waiting as briefly as possible.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from identity.audit import repository
from identity.audit.actor import Actor
from identity.audit.chain import ChainBreak, ChainWalk, EventFields, event_hash
from identity.db import bind_tenant, transaction
from identity.errors import FieldError, InvalidInput
from identity.models import AuditEvent
from identity.models.base import utcnow
from identity.observability.audited import note as note_for_metrics

# `error` is for a failure of ours (FHIR outcome 8); the others are expected answers.
OUTCOMES = frozenset(
    {"success", "denied", "forbidden", "not-found", "rate-limited", "invalid", "error"}
)
# noun.verb in lower case: an action is a name from code, never text a caller supplied.
_ACTION = re.compile(r"[a-z][a-z-]*\.[a-z][a-z-]*")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    events: int  # events checked (up to and including each tenant's first break)
    tenants: int
    breaks: tuple[ChainBreak, ...]  # the first bad event of each broken tenant chain

    @property
    def intact(self) -> bool:
        return not self.breaks


@dataclass(frozen=True, slots=True)
class ExportPage:
    events: list[AuditEvent]
    next_cursor: str | None  # None on the last page


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    outcome: str,
    object_type: str | None = None,
    object_ids: Sequence[str] = (),
    policy_version: str | None = None,
    http_status: int | None = None,
) -> AuditEvent:
    """Append one event to the actor's tenant chain, in the caller's transaction (flush only).

    `object_ids` are identifiers (member ids, match ids…), never demographics."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if len(action) > 48 or not _ACTION.fullmatch(action):
        raise ValueError(f"audit action must look like 'noun.verb', got {action!r}")
    if isinstance(object_ids, str):  # a lone id would otherwise be split into characters
        raise TypeError("object_ids is a sequence of ids, not one string")
    fields = EventFields(
        tenant_id=actor.tenant,
        seq=0,
        occurred_at=utcnow(),
        request_id=actor.request_id,
        client_id=actor.client_id,
        action=action,
        outcome=outcome,
        http_status=http_status,
        object_type=object_type,
        object_ids=tuple(object_ids),
        policy_version=policy_version,
        person=actor.person,
    )
    note_for_metrics(session, action, outcome, len(fields.object_ids))  # counted if committed
    pending = session.info.get(_DEFERRED)
    if pending is not None:
        event = AuditEvent()
        pending.append((event, fields))
        return event
    prev_seq, prev_hash = repository.lock_head(session, actor.tenant)
    event = _chained(AuditEvent(), fields, prev_seq, prev_hash)
    repository.append(session, event)
    return event


def _chained(event: AuditEvent, fields: EventFields, prev_seq: int, prev_hash: str) -> AuditEvent:
    # The clock is read under the lock, so a tenant's events are in time order too.
    fields = dataclasses.replace(fields, seq=prev_seq + 1, occurred_at=utcnow())
    event.tenant_id = fields.tenant_id
    event.seq = fields.seq
    event.occurred_at = fields.occurred_at
    event.request_id = fields.request_id
    event.client_id = fields.client_id
    event.action = fields.action
    event.outcome = fields.outcome
    event.http_status = fields.http_status
    event.object_type = fields.object_type
    event.object_ids = list(fields.object_ids)
    event.policy_version = fields.policy_version
    event.person = fields.person
    event.prev_hash = prev_hash
    event.hash = event_hash(prev_hash, fields)
    return event


_DEFERRED = "audit.deferred"


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """Within this block, `record` holds the session's events back and they are appended
    together when the block ends without an error: the tenant's chain head is locked once, for
    the moment of the append, instead of from the first event to the commit. For a unit of work
    that records many events in one transaction (a batch of bulk members). The events still
    commit with the changes they describe, or not at all; an error leaves none behind."""
    pending = hold(session)
    try:
        yield
    finally:
        del session.info[_DEFERRED]
    append_held(session, pending)


Held = list[tuple[AuditEvent, EventFields]]


def hold(session: Session) -> Held:
    """From now on `record` holds the session's events back in the list returned, for
    `append_held` to chain (the deferred block, or a group commit: identity/group_commit.py)."""
    if _DEFERRED in session.info:
        raise RuntimeError("audit events are already deferred in this session")
    pending: Held = []
    session.info[_DEFERRED] = pending
    return pending


def release_held(session: Session) -> Held:
    """Stop holding the session's events back; the ones held so far."""
    return list(session.info.pop(_DEFERRED, ()))


def append_held(
    session: Session, pending: Held, *, act_for: Callable[[str], None] | None = None
) -> None:
    """Chain held events onto their tenants' chains in `session`'s transaction: each tenant's
    head locked once, its events appended in one statement. `act_for(tenant)` runs before a
    tenant's append (a transaction writing for several tenants names each in turn)."""
    by_tenant: dict[str, Held] = {}
    for event, fields in pending:
        by_tenant.setdefault(fields.tenant_id, []).append((event, fields))
    for tenant, events in sorted(by_tenant.items()):
        if act_for is not None:
            act_for(tenant)
        seq, prev = repository.lock_head(session, tenant)
        for event, fields in events:
            _chained(event, fields, seq, prev)
            seq, prev = event.seq, event.hash
        repository.append_many(session, [event for event, _ in events])


def record_denial(
    session_factory: sessionmaker[Session],
    actor: Actor,
    *,
    action: str,
    outcome: str,
    http_status: int,
    object_type: str | None = None,
    object_ids: Sequence[str] = (),
) -> AuditEvent:
    """Record a refused request in a transaction of its own: the request's transaction has
    rolled back (or never began), and the denial must be remembered all the same."""
    with transaction(session_factory) as session:
        bind_tenant(session, actor.tenant)  # PostgreSQL row-level security admits this tenant
        return record(
            session,
            actor,
            action=action,
            outcome=outcome,
            object_type=object_type,
            object_ids=object_ids,
            http_status=http_status,
        )


def verify(session: Session, tenant: str | None = None) -> VerifyReport:
    """Walk each tenant's chain (or one tenant's) and report the first bad event of each."""
    names = [tenant] if tenant is not None else repository.tenants(session)
    checked, breaks = 0, []
    for name in names:
        walked, broken = _verify_tenant(session, name)
        checked += walked
        if broken is not None:
            breaks.append(broken)
    return VerifyReport(events=checked, tenants=len(names), breaks=tuple(breaks))


def _verify_tenant(session: Session, tenant: str) -> tuple[int, ChainBreak | None]:
    chain = ChainWalk(tenant)
    for event in repository.stored_events(session, tenant):
        if not chain.feed(event):
            break
    # The head is read after the events: an append commits its event and the head together, so
    # a head ahead of the events read may be a concurrent append rather than a cut tail. Read
    # on until the events reach the head or no more come.
    head = repository.head(session, tenant)
    while chain.broken is None and head is not None and head[0] > chain.last_seq:
        fed = 0
        for event in repository.stored_events(session, tenant, after_seq=chain.last_seq):
            fed += 1
            if not chain.feed(event):
                break
        if fed == 0:
            break
        head = repository.head(session, tenant)
    broken = chain.finish(head)
    if broken is not None and broken.event_id is None:
        found = repository.event_id_at(session, tenant, broken.seq)
        broken = dataclasses.replace(broken, event_id=found)
    return chain.checked, broken


def export_page(
    session: Session, actor: Actor, *, count: int, cursor: str | None = None
) -> ExportPage:
    """One page of the actor's tenant's events, oldest first, keyset-paginated by seq.

    The export is itself audited, in the same transaction: reading the audit trail is a read of
    who touched which member records. The event names the exported events' ids."""
    after = _decode_cursor(cursor) if cursor else 0
    events = repository.page(session, actor.tenant, after_seq=after, limit=count + 1)
    more = len(events) > count
    events = events[:count]
    record(
        session,
        actor,
        action="audit.export",
        outcome="success",
        object_type="audit_event",
        object_ids=[str(e.id) for e in events],
        http_status=200,
    )
    return ExportPage(events, _encode_cursor(events[-1].seq) if more else None)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        label, _, seq = text.partition(":")
        if label != "seq" or not seq.isdigit():
            raise ValueError(label)
        return int(seq)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidInput(
            "the cursor is not one this service gave out",
            errors=[FieldError("/cursor", "invalid cursor")],
        ) from exc
