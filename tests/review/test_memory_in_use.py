"""A tenant whose stewards never decided anything pays one read for the stewards' memories per
match, not three; and the first decision counts at once, on another instance too (nothing cached
in the process). On both databases, two engines standing for two service instances."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction
from identity.models import LearnedGivenName, RememberedDecision, SamePersonPair
from identity.policy.cache import MatcherCache
from identity.resolution import service as resolution
from identity.review import service
from identity.review.memory import InUse, in_use
from identity.review.service import Role
from tests.conftest import TENANT
from tests.review.conftest import CHENS, NOW, person

TODAY = date(2026, 12, 7)
MEMORY_TABLES = ("remembered_decision", "same_person_pair", "learned_given_name")


@contextmanager
def memory_reads(engine: Engine) -> Iterator[list[str]]:
    """The statements on the stewards' memory tables issued meanwhile, other than the one read
    that tells whether there is anything to read (its EXISTS tests)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if any(t in statement for t in MEMORY_TABLES) and "EXISTS" not in statement.upper():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _active(session: Session, table: Any, tenant: str) -> bool:
    count = session.scalar(
        select(func.count()).where(table.tenant_id == tenant, table.active.is_(True))
    )
    return bool(count)


@pytest.mark.usefixtures("members", "active_policy")
def test_no_memory_reads_until_a_steward_decides_then_every_instance_reads_it(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    raw = resolution.parse_match_request(CHENS, TODAY)
    instance_a, matchers_a = sessions, MatcherCache()
    engine_b = make_engine(settings)
    instance_b = make_session_factory(engine_b)
    try:
        with memory_reads(instance_a.kw["bind"]) as reads, transaction(instance_a) as session:
            assert in_use(session, TENANT) == InUse(False, False, False)
            first = resolution.match(session, TENANT, matchers_a, raw, today=TODAY)
        assert (first.decision.reason, reads) == ("multiple-certain", [])
        assert first.review_item_id is not None

        # A steward on the other instance records that M3 and M4 are one person.
        with transaction(instance_b) as session:
            service.decide(
                session,
                person("ana"),
                first.review_item_id,
                service.StewardDecision("same_person", "M4", "M3"),
                role=Role.STEWARD,
                now=NOW,
            )

        with memory_reads(instance_a.kw["bind"]) as reads, transaction(instance_a) as session:
            again = resolution.match(session, TENANT, matchers_a, raw, today=TODAY)
            flags = in_use(session, TENANT)
            assert flags == InUse(
                _active(session, RememberedDecision, TENANT),
                _active(session, SamePersonPair, TENANT),
                _active(session, LearnedGivenName, TENANT),
            )
            assert flags.pairs
            assert in_use(session, "another-tenant") == InUse(False, False, False)
        assert (again.decision.outcome, again.decision.member_id) == ("match", "M4")
        assert any("same_person_pair" in s for s in reads)
    finally:
        engine_b.dispose()
