"""The master as training and dedupe read it (`master_records`: the compact features column,
decoded) is exactly the records the member columns hold, on both databases; a member whose
features cannot be read (none stored, another layout) is read from its columns instead."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from identity.db import tenant_transaction
from identity.member.service import load_members
from identity.models import Member
from identity.synthetic import write_dataset
from identity.training.data import master_records, master_records_by_id
from tests.conftest import TENANT


def test_the_decoded_master_equals_the_columns_records(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dataset = write_dataset(tmp_path, members=300, queries=5, seed=5, formats=("ndjson",))
    with sessions() as session:
        assert load_members(session, TENANT, [dataset.members_ndjson]).ok
        session.commit()
    with tenant_transaction(sessions, TENANT) as session:
        ids = [m for m, _ in master_records(session, TENANT)]
        assert len(ids) == len(set(ids)) >= 300
        from_columns = dict(master_records_by_id(session, TENANT, ids))
        assert dict(master_records(session, TENANT)) == from_columns
        # Two members without readable features: read from their columns, after the others.
        unreadable = sorted(ids[:2])
        session.execute(
            update(Member)
            .where(Member.tenant_id == TENANT, Member.member_id == unreadable[0])
            .values(features=None)
        )
        session.execute(
            update(Member)
            .where(Member.tenant_id == TENANT, Member.member_id == unreadable[1])
            .values(features='[999, "a layout from the future"]')
        )
        again = list(master_records(session, TENANT))
    assert dict(again) == from_columns
    assert sorted(m for m, _ in again[-2:]) == unreadable
    assert [m for m, _ in again[:-2]] == [m for m in ids if m not in unreadable]
