"""The purge prunes the member change log (migration 0023) on both databases: each tenant keeps
its newest rows (as many as a member store reads to catch up), oldest first in bounded batches;
a second run prunes nothing; other tenants' rows are untouched unless they are purged too; the
count is audited."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import column, select, table
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.config import Settings
from identity.db import tenant_transaction
from identity.member import store_repository as change_log
from identity.member.service import load_members
from identity.retention.service import prune_member_changes, purge
from identity.synthetic import write_dataset
from tests.conftest import TENANT
from tests.retention.test_purge import _retention_events

OTHER = "other-payer"
MAX_CHANGES = 3  # a store reads up to 4 log rows a member: 12 rows kept per tenant
KEEP = change_log.log_rows_read(MAX_CHANGES)
_LOG = table("member_change", column("id"), column("tenant_id"))


@pytest.fixture
def logged(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """The same members loaded for two tenants: each logs a row per member and coverage."""
    paths = write_dataset(tmp_path / "syn", members=40, queries=1, seed=24, formats=("ndjson",))
    for tenant in (TENANT, OTHER):
        with tenant_transaction(sessions, tenant) as session:
            report = load_members(session, tenant, [paths.members_ndjson], as_of=date(2026, 12, 1))
            assert report.ok, report.errors[:3]


def _ids(sessions: sessionmaker[Session], tenant: str) -> list[int]:
    with sessions() as session:  # as the tables' owner: every tenant's rows
        return list(
            session.scalars(select(_LOG.c.id).where(_LOG.c.tenant_id == tenant).order_by("id"))
        )


def test_the_purge_keeps_each_tenants_newest_rows(
    sessions: sessionmaker[Session], settings: Settings, logged: None
) -> None:
    small = settings.model_copy(update={"member_store_max_changes": MAX_CHANGES})
    mine, theirs = _ids(sessions, TENANT), _ids(sessions, OTHER)
    assert min(len(mine), len(theirs)) > 2 * KEEP

    dry = purge(sessions, small, tenant=TENANT, dry_run=True)
    assert [(t.tenant, t.member_changes) for t in dry.tenants] == [(TENANT, len(mine) - KEEP)]
    assert _ids(sessions, TENANT) == mine
    assert _retention_events(sessions) == []

    done = purge(sessions, small, tenant=TENANT)
    assert [(t.tenant, t.member_changes) for t in done.tenants] == [(TENANT, len(mine) - KEEP)]
    assert _ids(sessions, TENANT) == mine[-KEEP:]  # the newest: the change number stays
    assert _ids(sessions, OTHER) == theirs
    [event] = _retention_events(sessions)
    assert event.tenant_id == TENANT
    assert f"member-changes:{len(mine) - KEEP}" in event.object_ids

    again = purge(sessions, small, tenant=TENANT)
    assert [t.changed for t in again.tenants] == [0]
    assert _ids(sessions, TENANT) == mine[-KEEP:]
    assert len(_retention_events(sessions)) == 1

    # Every tenant: the other one has rows to prune now, this one has nothing due.
    every = purge(sessions, small)
    assert [(t.tenant, t.member_changes) for t in every.tenants] == [(OTHER, len(theirs) - KEEP)]
    assert _ids(sessions, OTHER) == theirs[-KEEP:]
    assert _ids(sessions, TENANT) == mine[-KEEP:]
    with sessions() as session:
        assert audit.verify(session).intact
    # With the default (a store reads up to 4,000 rows) there is nothing to prune here.
    assert purge(sessions, settings).tenants == ()


def test_batches_are_bounded_and_delete_the_oldest_first(
    sessions: sessionmaker[Session], logged: None
) -> None:
    mine, theirs = _ids(sessions, TENANT), _ids(sessions, OTHER)
    with tenant_transaction(sessions, TENANT) as session:
        cutoff = change_log.prune_cutoff(session.connection(), TENANT, KEEP)
        assert cutoff == mine[-KEEP - 1]
        assert change_log.prune_batch(session.connection(), TENANT, cutoff, 7) == 7
    assert _ids(sessions, TENANT) == mine[7:]  # a prefix of the tenant's ids
    pruned = prune_member_changes(sessions, TENANT, keep=KEEP, batch_size=7, dry_run=False)
    assert pruned == len(mine) - 7 - KEEP
    assert _ids(sessions, TENANT) == mine[-KEEP:]
    assert _ids(sessions, OTHER) == theirs
    assert prune_member_changes(sessions, TENANT, keep=KEEP, batch_size=7, dry_run=False) == 0
    # However few it is told to keep, the newest row stays: the change number survives.
    assert prune_member_changes(sessions, TENANT, keep=0, batch_size=7, dry_run=False) > 0
    assert _ids(sessions, TENANT) == mine[-1:]
    with tenant_transaction(sessions, TENANT) as session:
        assert change_log.change_number(session.connection(), TENANT) == mine[-1]
