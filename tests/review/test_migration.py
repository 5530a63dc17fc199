"""Migration 0014 on both databases: a resolution settled before versions existed becomes
version 1 of its item's history, and the audit chain written before still verifies."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import downgrade, transaction, upgrade
from identity.models import ReviewResolution
from tests.conftest import TENANT
from tests.review.conftest import NOW, MakeItem


def test_old_resolutions_become_version_one(
    settings: Settings, sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item(age=timedelta(days=2))
    with transaction(sessions) as session:
        audit.record(
            session, Actor(TENANT, "old-client", None), action="review.read", outcome="success"
        )
    sessions.kw["bind"].dispose()
    downgrade(settings.database_url, "0013")
    with transaction(sessions) as session:
        session.execute(
            text(
                "UPDATE review_item SET status = 'resolved', resolution = 'link', "
                "resolved_member_id = 'M1', resolved_by = 'steward', resolved_at = :at, "
                "note = 'checked' WHERE id = :id"
            ),
            {"at": NOW, "id": item_id},
        )
    sessions.kw["bind"].dispose()
    upgrade(settings.database_url)
    with transaction(sessions) as session:
        [row] = session.scalars(
            select(ReviewResolution).where(ReviewResolution.item_id == item_id)
        ).all()
        assert (row.version, row.kind, row.member_id, row.decided_by, row.note) == (
            1,
            "link",
            "M1",
            "steward",
            "checked",
        )
        assert row.superseded_at is None
        assert audit.verify(session).intact
