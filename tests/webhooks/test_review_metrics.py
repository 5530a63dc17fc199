"""The review queue's age at scrape time, through the service's own database role (PostgreSQL:
a SECURITY DEFINER function across tenants), and the lead page's summary; both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import transaction
from identity.models import ReviewItem
from identity.observability.metrics import build_metrics
from identity.review import service as review
from identity.review.stats import lead_summary, open_age_by_tenant
from tests.conftest import TENANT
from tests.webhooks.conftest import OTHER_TENANT, review_decision

NOW = datetime.now(UTC)
AGES_H = (2, 30, 30, 100, 200)  # <1d, 1-3d (two), 3-7d, >7d


@pytest.fixture
def aged_items(
    sessions: sessionmaker[Session], active_policy: str, enrolled_twice: None
) -> list[str]:
    """Five open items of the test tenant, opened AGES_H hours ago, none elsewhere; and two
    settled this week: one linked, one linked and then kept apart by a lead."""
    items = []
    for hours in AGES_H:
        _, item_id = review_decision(sessions, "payer-a")
        with transaction(sessions) as session:
            session.execute(
                update(ReviewItem)
                .where(ReviewItem.id == item_id)
                .values(created_at=NOW - timedelta(hours=hours))
            )
        items.append(item_id)
    dana = Actor(TENANT, None, None, person="dana")
    lee = Actor(TENANT, None, None, person="lee")
    linked, overturned = (review_decision(sessions, "payer-a")[1] for _ in range(2))
    with transaction(sessions) as session:
        for item_id in (linked, overturned):
            link = review.StewardDecision(kind="link", member_id="M3")
            review.decide(session, dana, item_id, link, role=review.Role.STEWARD, now=NOW)
    with transaction(sessions) as session:
        apart = review.StewardDecision(kind="keep_apart", member_id="M3", note="not her")
        review.decide(session, lee, overturned, apart, role=review.Role.LEAD, now=NOW)
    return items


def test_queue_age_by_tenant(aged_items: list[str], app_sessions: sessionmaker[Session]) -> None:
    with app_sessions() as session:
        [row] = open_age_by_tenant(session, now=NOW)
    assert row.tenant == TENANT
    assert row.counts == {"<1d": 1, "1-3d": 2, "3-7d": 1, ">7d": 1}
    assert row.oldest_age_s == pytest.approx(200 * 3600, abs=5)


def test_the_scrape_reports_age_buckets_and_the_oldest(
    aged_items: list[str], app_sessions: sessionmaker[Session]
) -> None:
    metrics = build_metrics(app_sessions)
    sample = metrics.registry.get_sample_value
    assert sample("identity_review_open_items", {"tenant": TENANT, "age": "1-3d"}) == 2
    assert sample("identity_review_open_items", {"tenant": TENANT, "age": ">7d"}) == 1
    assert sample("identity_review_oldest_open_age_seconds", {"tenant": TENANT}) >= 200 * 3600
    assert sample("identity_review_open_items", {"tenant": OTHER_TENANT, "age": "<1d"}) is None
    # Labels are closed vocabularies: no ids, no member data.
    text = metrics.render()[0].decode()
    for item_id in aged_items:
        assert item_id not in text
    assert "M3" not in text
    assert "M4" not in text


def test_lead_summary(aged_items: list[str], sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        summary = lead_summary(session, TENANT, now=NOW, sla_hours=24)
        other = lead_summary(session, OTHER_TENANT, now=NOW)
    assert summary.open_total == 5
    assert summary.counts_by_age == {"<1d": 1, "1-3d": 2, "3-7d": 1, ">7d": 1}
    assert summary.overdue == 4  # older than the 24 h target
    oldest = [o.item_id for o in summary.oldest]
    assert oldest[:2] == [aged_items[4], aged_items[3]]
    assert set(oldest[2:4]) == {aged_items[1], aged_items[2]}
    assert oldest[4] == aged_items[0]
    assert summary.oldest_age_s == pytest.approx(200 * 3600, abs=5)
    assert [(r.steward, r.kind, r.count) for r in summary.resolutions] == [
        ("dana", "link", 2),
        ("lee", "keep_apart", 1),
    ]
    assert (summary.links, summary.links_undone, summary.overturn_rate) == (2, 1, 0.5)
    assert (other.open_total, other.resolutions, other.oldest, other.overturn_rate) == (
        0,
        [],
        [],
        None,
    )
