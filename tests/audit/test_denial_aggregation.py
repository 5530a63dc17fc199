"""Refusals of callers that never authenticated are counted and audited as aggregates (one event
per source, status and window), not one row each; the chain stays verifiable. Over real HTTP on
both databases, plus the tally's arithmetic with a hand-moved clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import UNAUTHENTICATED_TENANT
from identity.audit.denials import MAX_KEYS, OTHER, DenialTally
from identity.audit.service import verify
from identity.config import Settings
from identity.idempotency.sealing import load_or_create_sealer
from identity.models import AuditEvent
from tests.conftest import RULES_DIR, LiveServer

PROBE = "/v1/review-items"
A, B = "203.0.113.7", "198.51.100.20"


def _denials(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == UNAUTHENTICATED_TENANT)
        ).all()
        session.expunge_all()
        return list(found)


def _ids(event: AuditEvent) -> dict[str, str]:
    return dict(i.split(":", 1) for i in event.object_ids)


def _hammer(server: LiveServer, source: str, count: int) -> list[int]:
    with server.client() as http:
        headers = {"X-Forwarded-For": source, "Authorization": "Bearer forged"}
        return [http.get(PROBE, headers=headers).status_code for _ in range(count)]


def test_a_flood_of_401s_is_a_few_aggregate_events(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str
) -> None:
    """The reproduction: hundreds of unauthenticated requests wrote one row each."""
    tight = settings.model_copy(update={"source_failure_burst": 150, "source_failures_per_s": 0.01})
    with LiveServer(tight) as server:
        codes_a = _hammer(server, A, 200)
        codes_b = _hammer(server, B, 20)
        assert _denials(sessions) == []  # nothing written while the window is open
    assert codes_a == [401] * 150 + [429] * 50
    assert codes_b == [401] * 20
    events = _denials(sessions)
    counted = {
        (e.action, e.outcome, e.http_status, _ids(e)["source"]): int(_ids(e)["count"])
        for e in events
    }
    assert len(events) == len(counted) == 3  # A's 401s, A's 429s, B's 401s
    fingerprint = load_or_create_sealer(settings.data_key_file).fingerprint
    assert counted == {
        ("auth.denied", "denied", 401, fingerprint(A)): 150,
        ("auth.denied", "rate-limited", 429, fingerprint(A)): 50,
        ("auth.denied", "denied", 401, fingerprint(B)): 20,
    }
    for e in events:
        assert e.client_id is None
        assert e.object_type == "source"
        assert _ids(e)["from"] <= _ids(e)["until"]
        assert A not in str(e.object_ids)  # a keyed fingerprint, never the address
        assert B not in str(e.object_ids)
    with sessions() as session:
        assert verify(session).intact
    # And as an operator checks it.
    checked = subprocess.run(
        [sys.executable, "-m", "identity", "audit", "verify"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "IDENTITY_DATABASE_URL": settings.database_url,
            "IDENTITY_RULES_DIR": str(RULES_DIR),
        },
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr


def test_a_window_is_written_when_it_ends_without_waiting_for_shutdown(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str
) -> None:
    short = settings.model_copy(update={"denial_audit_window_s": 1})
    with LiveServer(short) as server:
        assert _hammer(server, A, 3) == [401] * 3
        deadline = time.monotonic() + 10
        while not _denials(sessions) and time.monotonic() < deadline:
            time.sleep(0.1)
        [event] = _denials(sessions)
        assert _ids(event)["count"] == "3"
        # The next window's refusals are the next event.
        assert _hammer(server, A, 2) == [401] * 2
    counts = [_ids(e)["count"] for e in sorted(_denials(sessions), key=lambda e: e.seq)]
    assert counts == ["3", "2"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_tally_closes_windows_and_bounds_its_memory() -> None:
    clock = Clock()
    tally = DenialTally(60, clock=clock)
    assert tally.add("a", 401) == 60
    clock.now += 30
    assert tally.add("a", 401) == 30
    tally.add("b", 429)
    assert tally.take() == []  # still open
    clock.now += 30  # the window ends
    [window] = tally.take()
    assert (window.started, window.ended) == (1_000_000.0, 1_000_060.0)
    assert window.counts == {("a", 401): 2, ("b", 429): 1}
    # A new window opens at the next refusal; `everything` closes it early (shutdown).
    clock.now += 500
    tally.add("a", 401)
    [last] = tally.take(everything=True)
    assert last.counts == {("a", 401): 1}
    assert tally.take(everything=True) == []
    # However many sources, the table is bounded: the rest are counted together.
    for n in range(MAX_KEYS + 5):
        tally.add(f"s{n}", 401)
    [crowded] = tally.take(everything=True)
    assert len(crowded.counts) == MAX_KEYS + 1
    assert crowded.counts[(OTHER, 401)] == 5
