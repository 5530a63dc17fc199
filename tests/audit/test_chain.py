"""The hash chain on plain values: canonical bytes, hashes, and the walk's verdicts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from identity.audit.chain import (
    GENESIS,
    EventFields,
    StoredEvent,
    canonical,
    event_hash,
    utc_iso,
    walk,
)

WHEN = datetime(2026, 11, 22, 7, 30, 15, 123456, tzinfo=UTC)


def fields(seq: int = 1, **changes: object) -> EventFields:
    base = EventFields(
        tenant_id="payer-a",
        seq=seq,
        occurred_at=WHEN + timedelta(seconds=seq),
        request_id=f"req-{seq}",
        client_id="client-a",
        action="match.create",
        outcome="success",
        http_status=200,
        object_type="match_decision",
        object_ids=(f"match-{seq}",),
        policy_version="default@1.1.0",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chain(n: int) -> list[StoredEvent]:
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        f = fields(seq)
        digest = event_hash(prev, f)
        events.append(StoredEvent(id=100 + seq, prev_hash=prev, hash=digest, fields=f))
        prev = digest
    return events


def test_genesis_is_64_zeros_and_hashes_are_sha256_hex() -> None:
    assert GENESIS == "0" * 64
    digest = event_hash(GENESIS, fields())
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_canonical_form_is_sorted_compact_ascii() -> None:
    text = canonical(GENESIS, fields(object_ids=("m-é",))).decode("ascii")
    assert text.startswith('{"action":"match.create","client_id":"client-a","format":1,')
    assert '"occurred_at":"2026-11-22T07:30:16.123456Z"' in text
    assert '"object_ids":["m-\\u00e9"]' in text
    assert " " not in text


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "2026-01-02T03:04:05.000006Z"),
        # SQLite hands back naive datetimes; they were stored as UTC.
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000000Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000000Z",
        ),
    ],
)
def test_timestamps_are_utc_with_microseconds(moment: datetime, expected: str) -> None:
    assert utc_iso(moment) == expected


def test_a_naive_and_an_aware_utc_timestamp_hash_alike() -> None:
    naive = fields(occurred_at=WHEN.replace(tzinfo=None))
    assert event_hash(GENESIS, naive) == event_hash(GENESIS, fields(occurred_at=WHEN))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenant_id", "payer-b"),
        ("seq", 2),
        ("occurred_at", WHEN + timedelta(microseconds=1)),
        ("request_id", None),
        ("client_id", "client-b"),
        ("action", "match.read"),
        ("outcome", "denied"),
        ("http_status", 403),
        ("object_type", None),
        ("object_ids", ("match-2",)),
        ("object_ids", ("match-1", "match-2")),
        ("policy_version", None),
    ],
)
def test_every_field_is_covered_by_the_hash(field: str, value: object) -> None:
    original = fields(1, occurred_at=WHEN)
    changed = dataclasses.replace(original, **{field: value})  # type: ignore[arg-type]
    assert event_hash(GENESIS, changed) != event_hash(GENESIS, original)


def test_the_previous_hash_is_covered() -> None:
    assert event_hash(GENESIS, fields()) != event_hash("1" * 64, fields())


def test_an_intact_chain_walks_clean() -> None:
    events = chain(4)
    assert walk("payer-a", events, (4, events[-1].hash)) == (4, None)
    assert walk("payer-a", [], None) == (0, None)
    assert walk("payer-a", [], (0, GENESIS)) == (0, None)


def _why(events: list[StoredEvent], head: tuple[int, str] | None) -> tuple[int, int | None, str]:
    _, broken = walk("payer-a", events, head)
    assert broken is not None
    return broken.seq, broken.event_id, broken.reason


def test_the_walk_names_the_first_bad_event() -> None:
    events = chain(5)
    head = (5, events[-1].hash)

    edited = [*events]
    edited[2] = dataclasses.replace(events[2], fields=fields(3, outcome="denied"))
    assert _why(edited, head) == (3, 103, "its hash does not match its content")

    missing = events[:2] + events[3:]
    seq, event_id, why = _why(missing, head)
    assert (seq, event_id) == (4, 104)
    assert why.startswith("expected seq 3, found 4")

    relinked = [*events]
    relinked[3] = dataclasses.replace(events[3], prev_hash="f" * 64)
    relinked[3] = dataclasses.replace(relinked[3], hash=event_hash("f" * 64, events[3].fields))
    assert _why(relinked, head) == (4, 104, "its prev_hash is not the previous event's hash")

    seq, event_id, why = _why(events[:4], head)
    assert (seq, event_id) == (5, None)
    assert "the tail is gone" in why

    assert _why(events, (5, "e" * 64))[2] == "the chain head's hash is not the last event's hash"
    assert _why(events, None) == (5, 105, "the tenant's chain head is missing")
    assert _why(events, (3, events[2].hash)) == (
        4,
        None,
        "the event is past the chain head (seq 3)",
    )
