"""Recording and verifying on both databases: one event per call, chained per tenant, written in
the caller's transaction (or, for denials, in one of its own)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service
from identity.audit.actor import UNAUTHENTICATED_TENANT, Actor
from identity.audit.chain import GENESIS, event_hash, fields_of
from identity.db import transaction
from identity.models import AuditChainHead, AuditEvent
from tests.audit.conftest import OTHER_TENANT, Recorded, actor
from tests.conftest import TENANT


def _events(session: Session, tenant: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant).order_by(AuditEvent.seq)
    return list(session.scalars(query))


def test_events_chain_per_tenant_from_genesis(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    with sessions() as session:
        mine = _events(session, TENANT)
        assert [e.seq for e in mine] == [1, 2, 3, 4, 5, 6]
        assert [e.id for e in mine] == recorded.ids
        assert mine[0].prev_hash == GENESIS
        for before, after in zip(mine, mine[1:], strict=False):
            assert after.prev_hash == before.hash
        for event in mine:  # read back from the database, the hash still checks out
            assert event_hash(event.prev_hash, fields_of(event)) == event.hash
        first = mine[0]
        assert (first.client_id, first.request_id, first.action, first.outcome) == (
            "client-a",
            "req-1",
            "decision.read",
            "success",
        )
        assert (first.object_type, first.object_ids, first.http_status) == (
            "match_decision",
            ["match-1"],
            200,
        )
        assert first.policy_version == "default@1.1.0"

        other = _events(session, OTHER_TENANT)
        assert [e.seq for e in other] == [1, 2]
        assert other[0].prev_hash == GENESIS
        head = session.get(AuditChainHead, TENANT)
        assert head is not None
        assert (head.seq, head.hash) == (6, mine[-1].hash)

        report = service.verify(session)
    assert report.intact
    assert (report.events, report.tenants) == (8, 2)


def test_verify_one_tenant(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    with sessions() as session:
        report = service.verify(session, OTHER_TENANT)
        assert (report.intact, report.events, report.tenants) == (True, 2, 1)
        nobody = service.verify(session, "no-such-payer")
        assert (nobody.intact, nobody.events) == (True, 0)


def test_record_flushes_and_leaves_the_commit_to_the_caller(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        event = service.record(session, actor(), action="match.create", outcome="success")
        assert event.id is not None  # flushed: the id exists inside the transaction
        assert event.seq == 1
        session.rollback()
    with sessions() as session:
        # Rolled back with the change it described: no event, and the head never moved.
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        assert service.verify(session).intact
    with transaction(sessions) as session:
        assert service.record(session, actor(), action="match.create", outcome="success").seq == 1


def test_several_events_in_one_transaction_chain_in_order(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        seqs = [
            service.record(session, actor(), action="review.read", outcome="success").seq
            for _ in range(3)
        ]
    assert seqs == [1, 2, 3]
    with sessions() as session:
        assert service.verify(session).intact


def test_a_denial_is_recorded_in_its_own_transaction(sessions: sessionmaker[Session]) -> None:
    nobody = Actor(tenant=UNAUTHENTICATED_TENANT, client_id=None, request_id="r-401")
    event = service.record_denial(
        sessions, nobody, action="auth.denied", outcome="denied", http_status=401
    )
    assert (event.tenant_id, event.seq, event.client_id) == ("-", 1, None)
    foreign = service.record_denial(
        sessions,
        actor(),
        action="decision.read",
        outcome="not-found",
        http_status=404,
        object_type="match_decision",
        object_ids=["m-of-another-tenant"],
    )
    assert foreign.object_ids == ["m-of-another-tenant"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2
        report = service.verify(session)
    assert (report.intact, report.tenants) == (True, 2)


@pytest.mark.parametrize(
    ("action", "outcome", "object_ids", "error"),
    [
        ("match.create", "great", (), ValueError),
        ("Jordan Okafor", "success", (), ValueError),
        ("match", "success", (), ValueError),
        ("match.create", "success", "M1", TypeError),
    ],
)
def test_record_refuses_what_is_not_an_action_outcome_or_id_list(
    sessions: sessionmaker[Session],
    action: str,
    outcome: str,
    object_ids: tuple[str, ...],
    error: type[Exception],
) -> None:
    with sessions() as session, pytest.raises(error):
        service.record(session, actor(), action=action, outcome=outcome, object_ids=object_ids)


def test_deferred_events_are_appended_together_in_order_and_chain_on(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    """A deferred block appends its events at its end, in the order recorded, per tenant, after
    what the chains already hold; the chains still verify."""
    with transaction(sessions) as session, service.deferred(session):
        for n in range(3):
            service.record(session, actor(request=f"d-{n}"), **_read(n))
        service.record(session, actor(OTHER_TENANT, request="d-o"), **_read(9))
        # Nothing is written until the block ends.
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 8
    with sessions() as session:
        mine = _events(session, TENANT)
        assert [e.seq for e in mine] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
        assert [e.request_id for e in mine[6:]] == ["d-0", "d-1", "d-2"]
        assert mine[6].prev_hash == mine[5].hash
        assert [e.seq for e in _events(session, OTHER_TENANT)] == [1, 2, 3]
        head = session.get(AuditChainHead, TENANT)
        assert head is not None
        assert (head.seq, head.hash) == (9, mine[-1].hash)
        assert service.verify(session).intact


def test_a_deferred_block_that_fails_leaves_no_event(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    def unit_of_work() -> None:
        with transaction(sessions) as session, service.deferred(session):
            service.record(session, actor(request="lost"), **_read(1))
            raise RuntimeError("the unit of work failed")

    with pytest.raises(RuntimeError):
        unit_of_work()
    with sessions() as session:
        assert [e.seq for e in _events(session, TENANT)] == [1, 2, 3, 4, 5, 6]


def _read(n: int) -> dict[str, object]:
    return {
        "action": "decision.read",
        "outcome": "success",
        "object_type": "match_decision",
        "object_ids": [f"match-d{n}"],
    }
