"""The tamper battery: the triggers refuse changes; what a privileged attacker changes anyway
(edit, delete, reorder, cut the tail, relink) is caught by verify, naming the first bad event."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service
from identity.audit.chain import ChainBreak
from identity.db import transaction
from tests.audit.conftest import OTHER_TENANT, Recorded, actor, as_db_owner
from tests.conftest import TENANT


def _first_break(sessions: sessionmaker[Session]) -> ChainBreak:
    with sessions() as session:
        report = service.verify(session)
    assert report.tenants == 2
    # Only the tampered tenant is reported; the other tenant's chain is intact.
    [broken] = report.breaks
    assert broken.tenant == TENANT
    return broken


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET outcome = 'denied' WHERE seq = 3",
        "DELETE FROM audit_event WHERE seq = 3",
        "DELETE FROM audit_event",
        "UPDATE audit_chain_head SET seq = 2",
        "DELETE FROM audit_chain_head",
    ],
)
@pytest.mark.usefixtures("recorded")
def test_the_triggers_refuse_updates_and_deletes(
    sessions: sessionmaker[Session], statement: str
) -> None:
    with pytest.raises(DBAPIError, match="append-only|only advances"), transaction(sessions) as s:
        s.execute(text(statement))
    with sessions() as session:
        assert service.verify(session).intact


def test_postgres_refuses_truncate(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return  # SQLite has no TRUNCATE; its DELETE triggers cover it
    with pytest.raises(DBAPIError, match="append-only"), transaction(sessions) as session:
        session.execute(text("TRUNCATE audit_event"))


def test_an_intact_chain_verifies(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    with sessions() as session:
        assert service.verify(session).intact


def test_an_edited_field_is_caught(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    as_db_owner(
        sessions,
        "UPDATE audit_event SET client_id = 'someone-else' WHERE id = :id",
        id=recorded.id_at(3),
    )
    broken = _first_break(sessions)
    assert (broken.seq, broken.event_id) == (3, recorded.id_at(3))
    assert broken.reason == "its hash does not match its content"


def test_an_edited_object_id_list_is_caught(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    as_db_owner(
        sessions,
        "UPDATE audit_event SET object_ids = '[\"match-x\"]' WHERE id = :id",
        id=recorded.id_at(2),
    )
    broken = _first_break(sessions)
    assert (broken.seq, broken.event_id) == (2, recorded.id_at(2))


def test_a_deleted_event_is_caught(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    as_db_owner(sessions, "DELETE FROM audit_event WHERE id = :id", id=recorded.id_at(3))
    broken = _first_break(sessions)
    # The gap shows at the event after the one removed.
    assert (broken.seq, broken.event_id) == (4, recorded.id_at(4))
    assert broken.reason.startswith("expected seq 3, found 4")


def test_a_deleted_event_with_renumbered_successors_is_caught(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    # A tidier attacker closes the gap (and moves the head back): the links still break.
    as_db_owner(
        sessions,
        "DELETE FROM audit_event WHERE id = :id",
        *(
            f"UPDATE audit_event SET seq = {s - 1} WHERE id = {recorded.id_at(s)}"
            for s in (4, 5, 6)
        ),
        f"UPDATE audit_chain_head SET seq = 5 WHERE tenant_id = '{TENANT}'",
        id=recorded.id_at(3),
    )
    broken = _first_break(sessions)
    assert (broken.seq, broken.event_id) == (3, recorded.id_at(4))
    assert broken.reason == "its hash does not match its content"


def test_two_swapped_events_are_caught(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    a, b = recorded.id_at(3), recorded.id_at(4)
    as_db_owner(
        sessions,
        "UPDATE audit_event SET seq = -1 WHERE id = :a",  # step aside of the unique key
        "UPDATE audit_event SET seq = 3 WHERE id = :b",
        "UPDATE audit_event SET seq = 4 WHERE id = :a",
        a=a,
        b=b,
    )
    broken = _first_break(sessions)
    # The first position that holds the wrong event: seq 3, now event b.
    assert (broken.seq, broken.event_id) == (3, b)
    assert broken.reason == "its hash does not match its content"


def test_a_cut_tail_is_caught(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    as_db_owner(sessions, "DELETE FROM audit_event WHERE id = :id", id=recorded.id_at(6))
    broken = _first_break(sessions)
    assert (broken.seq, broken.event_id) == (6, None)
    assert "the tail is gone" in broken.reason


def test_a_cut_tail_with_the_head_moved_back_is_caught_by_the_head_hash(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    as_db_owner(
        sessions,
        "DELETE FROM audit_event WHERE id = :id",
        f"UPDATE audit_chain_head SET seq = 5 WHERE tenant_id = '{TENANT}'",
        id=recorded.id_at(6),
    )
    broken = _first_break(sessions)
    assert (broken.seq, broken.event_id) == (5, recorded.id_at(5))
    assert broken.reason == "the chain head's hash is not the last event's hash"


def test_a_replaced_hash_and_its_relinked_successor_are_caught(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    forged = "ab" * 32
    as_db_owner(
        sessions,
        "UPDATE audit_event SET hash = :forged WHERE id = :id",
        "UPDATE audit_event SET prev_hash = :forged WHERE id = :next",
        forged=forged,
        id=recorded.id_at(2),
        next=recorded.id_at(3),
    )
    broken = _first_break(sessions)
    assert (broken.seq, broken.event_id) == (2, recorded.id_at(2))
    assert broken.reason == "its hash does not match its content"


def test_a_deleted_head_is_caught(sessions: sessionmaker[Session], recorded: Recorded) -> None:
    as_db_owner(sessions, f"DELETE FROM audit_chain_head WHERE tenant_id = '{TENANT}'")
    broken = _first_break(sessions)
    assert (broken.seq, broken.reason) == (6, "the tenant's chain head is missing")


def test_a_chain_deleted_whole_is_caught_by_its_head(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    as_db_owner(sessions, f"DELETE FROM audit_event WHERE tenant_id = '{OTHER_TENANT}'")
    with sessions() as session:
        [broken] = service.verify(session).breaks
    assert (broken.tenant, broken.seq, broken.event_id) == (OTHER_TENANT, 1, None)


def test_appends_after_verify_still_chain(
    sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    with transaction(sessions) as session:
        event = service.record(session, actor(), action="review.read", outcome="success")
    assert event.seq == 7
    with sessions() as session:
        assert service.verify(session).intact
