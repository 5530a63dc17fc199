"""When a load refreshes the planner's statistics: after a first or large load, not after a delta
of a few members (ANALYZE reads every index: seconds at 1M members, holding SQLite's writer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from identity.member.service import (
    STATISTICS_REFRESH_MEMBERS,
    LoadMode,
    load_members,
    statistics_stale,
)
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient


@pytest.mark.parametrize(
    ("changed", "before", "stale"),
    [
        (0, 0, False),  # nothing written
        (0, 1_000_000, False),
        (1, 0, True),  # the first load into an empty master
        (40, 40, True),  # a small master reloaded with changes
        (5, 50, True),  # a tenth of the master
        (4, 50, False),
        (1, 1_000_000, False),  # an admin API delta on a large master
        (STATISTICS_REFRESH_MEMBERS - 1, 1_000_000, False),
        (STATISTICS_REFRESH_MEMBERS, 1_000_000, True),  # a large delta
    ],
)
def test_statistics_are_stale_after_a_first_or_large_load(
    changed: int, before: int, stale: bool
) -> None:
    assert statistics_stale(changed, members_before=before) is stale


def _people(count: int, family: str = "Lindqvist") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        member = f"M{i:03d}"
        out += [
            fhir_patient(
                "Avery", family, f"1980-01-{i % 28 + 1:02d}", member_id=member, resource_id=member
            ),
            fhir_coverage("S" + member, f"Patient/{member}"),
        ]
    return out


def _analyzes(sessions: sessionmaker[Session], path: Path) -> int:
    """Load the file as a delta and count the ANALYZE statements it issued."""
    seen: list[str] = []
    with sessions() as session:
        connection = session.connection()

        def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("ANALYZE"):
                seen.append(statement)

        event.listen(connection, "before_cursor_execute", note)
        report = load_members(session, TENANT, [path], mode=LoadMode.DELTA)
        assert report.ok, report.errors
        session.commit()
    return len(seen)


def test_a_first_load_refreshes_statistics_and_a_one_member_delta_does_not(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    master = _people(30)
    first = tmp_path / "first.ndjson"
    first.write_text("".join(json.dumps(r) + "\n" for r in master))
    assert _analyzes(sessions, first) == 1

    changed = _people(1, family="Okafor")  # M000 married: one member of thirty changes
    delta = tmp_path / "delta.ndjson"
    delta.write_text("".join(json.dumps(r) + "\n" for r in changed))
    assert _analyzes(sessions, delta) == 0
    assert _analyzes(sessions, first) == 0  # back to the file: 1 of 30 changes, no refresh
