"""The hash chain, pure: canonical bytes of an event, its hash, and the walk that checks a chain.

Each event's hash covers its predecessor's hash and all of its own fields (but the database id),
so changing a field, removing an event or swapping two breaks the chain from that event on.
No database and no clock here, so `verify` and the tests reason about plain values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the prev_hash of a tenant's first event
FORMAT = 1  # hashed with the fields, so a future change of the canonical form stays detectable


@dataclass(frozen=True, slots=True)
class EventFields:
    """What an event's hash covers: everything but the database id and the hashes."""

    tenant_id: str
    seq: int
    occurred_at: datetime
    request_id: str | None
    client_id: str | None
    action: str
    outcome: str
    http_status: int | None
    object_type: str | None
    object_ids: tuple[str, ...]
    policy_version: str | None
    person: str | None = None  # hashed only when set: chains written before it still verify


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from the database, for the walk."""

    id: int
    prev_hash: str
    hash: str
    fields: EventFields


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first event of a tenant's chain that does not check out, and why.

    `event_id` is None when the bad event is missing (the tail was cut off)."""

    tenant: str
    seq: int
    event_id: int | None
    reason: str


def utc_iso(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds. SQLite hands back naive datetimes; they were stored as
    UTC, so a naive value is read as UTC rather than as local time."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fields_of(row: Any) -> EventFields:
    """The hashed fields of an ORM event or a result row with the same column names."""
    return EventFields(
        tenant_id=row.tenant_id,
        seq=int(row.seq),
        occurred_at=row.occurred_at,
        request_id=row.request_id,
        client_id=row.client_id,
        action=row.action,
        outcome=row.outcome,
        http_status=row.http_status,
        object_type=row.object_type,
        object_ids=tuple(str(i) for i in row.object_ids),
        policy_version=row.policy_version,
        person=getattr(row, "person", None),
    )


def canonical(prev_hash: str, fields: EventFields) -> bytes:
    """Sorted keys, no whitespace, ASCII only: the same bytes on every machine and database."""
    document = {
        "format": FORMAT,
        "prev_hash": prev_hash,
        "tenant_id": fields.tenant_id,
        "seq": fields.seq,
        "occurred_at": utc_iso(fields.occurred_at),
        "request_id": fields.request_id,
        "client_id": fields.client_id,
        "action": fields.action,
        "outcome": fields.outcome,
        "http_status": fields.http_status,
        "object_type": fields.object_type,
        "object_ids": list(fields.object_ids),
        "policy_version": fields.policy_version,
    }
    if fields.person is not None:  # absent from events without a person, as before it existed
        document["person"] = fields.person
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(prev_hash: str, fields: EventFields) -> str:
    return hashlib.sha256(canonical(prev_hash, fields)).hexdigest()


class ChainWalk:
    """Checks one tenant's events, fed in seq order, and then the chain head; keeps only the last
    event, so a chain of any length is checked in constant memory.

    The order of the checks names the likeliest cause: a missing or moved event, then altered
    content, then a relinked predecessor, then an end of chain the head does not agree with."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.checked = 0
        self.last_seq = 0
        self.last_hash = GENESIS
        self.last_id: int | None = None
        self.broken: ChainBreak | None = None

    def feed(self, event: StoredEvent) -> bool:
        """Check the next event; False once the chain is broken (feed no more)."""
        if self.broken is not None:
            return False
        self.checked += 1
        seq, expected = event.fields.seq, self.last_seq + 1
        if seq != expected:
            why = f"expected seq {expected}, found {seq}: events are missing or out of order"
        elif event_hash(event.prev_hash, event.fields) != event.hash:
            why = "its hash does not match its content"
        elif event.prev_hash != self.last_hash:
            why = "its prev_hash is not the previous event's hash"
        else:
            self.last_seq, self.last_hash, self.last_id = seq, event.hash, event.id
            return True
        self.broken = ChainBreak(self.tenant, seq, event.id, why)
        return False

    def finish(self, head: tuple[int, str] | None) -> ChainBreak | None:
        """The first break, checking the chain head against the last event fed.

        A head behind the events names the first event it does not cover, by seq only
        (`event_id` None): this walk does not keep ids, the caller may look it up."""
        if self.broken is not None:
            return self.broken
        last = self.last_seq
        if head is None:
            if last == 0:
                return None
            return ChainBreak(self.tenant, last, self.last_id, "the tenant's chain head is missing")
        head_seq, head_hash = head
        if head_seq > last:
            why = f"the chain head is at seq {head_seq}, the events end at {last}: the tail is gone"
            return ChainBreak(self.tenant, last + 1, None, why)
        if head_seq < last:
            why = f"the event is past the chain head (seq {head_seq})"
            return ChainBreak(self.tenant, head_seq + 1, None, why)
        if head_hash != self.last_hash:
            why = "the chain head's hash is not the last event's hash"
            return ChainBreak(self.tenant, last, self.last_id, why)
        return None


def walk(
    tenant: str, events: Iterable[StoredEvent], head: tuple[int, str] | None
) -> tuple[int, ChainBreak | None]:
    """Check a whole chain at once: (events checked, first break or None)."""
    chain = ChainWalk(tenant)
    for event in events:
        if not chain.feed(event):
            break
    return chain.checked, chain.finish(head)
