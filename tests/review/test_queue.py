"""The queue on both databases: open items oldest first, filters, keyset paging, counts by age
bucket and the SLA; and the item detail a steward decides from, audited with their name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.db import transaction
from identity.errors import InvalidInput
from identity.models import AuditEvent
from identity.review import service
from identity.review.service import QueueFilters, Role
from tests.review.conftest import NOW, MakeItem, person

ANA, BEN = person("ana"), person("ben")


ALL = QueueFilters()


def _queue(
    sessions: sessionmaker[Session], filters: QueueFilters = ALL, **kw: object
) -> service.QueuePage:
    with transaction(sessions) as session:
        return service.queue(
            session,
            ANA,
            filters,
            cursor=kw.pop("cursor", None),
            limit=kw.pop("limit", 50),
            now=NOW,
            **kw,  # type: ignore[arg-type]
        )


def test_counts_by_age_bucket_and_overdue(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    for hours in (1, 5, 30, 50, 80, 100, 200, 400):
        make_item(age=timedelta(hours=hours))
    page = _queue(sessions)
    assert page.counts_by_age == {"<1d": 2, "1-3d": 2, "3-7d": 2, ">7d": 2}
    assert page.overdue == 4  # older than the default 72 hours
    assert page.sla_hours == 72
    assert [r.overdue for r in page.rows] == [True] * 4 + [False] * 4
    assert [round(r.age_s / 3600) for r in page.rows] == [400, 200, 100, 80, 50, 30, 5, 1]
    tighter = _queue(sessions, sla_hours=24)
    assert tighter.overdue == 6
    only = _queue(sessions, QueueFilters(age_bucket="3-7d"))
    assert [round(r.age_s / 3600) for r in only.rows] == [100, 80]


def test_filters_and_paging(sessions: sessionmaker[Session], make_item: MakeItem) -> None:
    ambiguous = [make_item(age=timedelta(hours=h), reason="ambiguous") for h in (9, 8, 7)]
    band = make_item(age=timedelta(hours=6), reason="review-band", candidates=[("M9", 0.7)])
    page = _queue(sessions, QueueFilters(reason="review-band"))
    [row] = page.rows
    assert (row.item_id, row.best_probability, row.candidate_count) == (band, 0.7, 1)
    assert page.reasons == ["ambiguous", "review-band"]
    assert len(page.policy_versions) == 1

    seen, cursor = [], None
    for _ in range(5):
        page = _queue(sessions, QueueFilters(reason="ambiguous"), limit=2, cursor=cursor)
        seen += [r.item_id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ambiguous

    with transaction(sessions) as session:
        service.claim(session, BEN, ambiguous[0], now=NOW)
        service.claim(session, ANA, ambiguous[1], now=NOW)
    mine = _queue(sessions, QueueFilters(claim="mine"))
    assert [r.item_id for r in mine.rows] == [ambiguous[1]]
    claimed = _queue(sessions, QueueFilters(claim="claimed"))
    assert [(r.item_id, r.claimed_by) for r in claimed.rows] == [
        (ambiguous[0], "ben"),
        (ambiguous[1], "ana"),
    ]
    unclaimed = _queue(sessions, QueueFilters(claim="unclaimed"))
    assert [r.item_id for r in unclaimed.rows] == [ambiguous[2], band]

    # A settled item leaves the queue.
    with transaction(sessions) as session:
        service.decide(
            session, ANA, band, service.StewardDecision("new_person"), role=Role.STEWARD, now=NOW
        )
    assert band not in [r.item_id for r in _queue(sessions).rows]


@pytest.mark.parametrize(
    "filters",
    [
        QueueFilters(age_bucket="2-4d"),
        QueueFilters(claim="someone"),
        QueueFilters(reason=""),
    ],
    ids=["unknown bucket", "unknown claim state", "empty reason"],
)
def test_bad_filters_are_refused(sessions: sessionmaker[Session], filters: QueueFilters) -> None:
    with pytest.raises(InvalidInput):
        _queue(sessions, filters)


def test_item_detail_and_its_audit_event(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    earlier = make_item(age=timedelta(days=3), fingerprint="f" * 64)
    item_id = make_item(fingerprint="f" * 64)
    with transaction(sessions) as session:
        service.decide(
            session,
            BEN,
            earlier,
            service.StewardDecision("keep_apart", "M1", note="not her"),
            role=Role.STEWARD,
            now=NOW - timedelta(days=1),
        )
    with transaction(sessions) as session:
        detail = service.item_detail(session, ANA, item_id)
        assert detail.item.id == item_id
        policy = detail.evidence["policy"]
        assert 0 < policy["prior"] < 1
        assert policy["match_probability"] > policy["review_probability"]
        assert set(detail.coverages) == {"M1", "M2"}
        [before] = detail.earlier
        assert (before.kind, before.member_id, before.decided_by, before.note) == (
            "keep_apart",
            "M1",
            "ben",
            "not her",
        )
        assert [(r.kind, r.member_id, r.active) for r in detail.remembered] == [
            ("keep_apart", "M1", True)
        ]
    with sessions() as session:
        viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "review.view")).one()
        assert viewed.person == "ana"
        assert {item_id, "M1", "M2"} <= set(viewed.object_ids)
        # An event naming a person still verifies, as do the events without one.
        assert audit.verify(session).intact


def test_an_auditor_may_not_undo(sessions: sessionmaker[Session], make_item: MakeItem) -> None:
    item_id = make_item(fingerprint="e" * 64)
    with transaction(sessions) as session:
        service.decide(
            session,
            ANA,
            item_id,
            service.StewardDecision("keep_apart", "M2"),
            role=Role.STEWARD,
            now=NOW,
        )
    with transaction(sessions) as session:
        [memory] = service.remembered(session, ANA)
        with pytest.raises(service.RoleForbidden):
            service.undo_remembered(session, ANA, memory.id, role=Role.AUDITOR, now=NOW)
        with pytest.raises(service.RoleForbidden):
            service.decide(
                session,
                ANA,
                item_id,
                service.StewardDecision("new_person"),
                role=Role.AUDITOR,
                now=NOW,
            )
        assert service.history(session, ANA, item_id)[0].kind == "keep_apart"
