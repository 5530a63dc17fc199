"""Member lifecycle on both databases: snapshot and delta loads (adds, changes, leavers,
terminations of absent members, returns), idempotent reloads, and the coverage status they give."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.member.coverage import CoverageStatus, coverage_status
from identity.member.repository import coverage_ends
from identity.member.service import LoadMode, LoadReport, load_members
from identity.member.sources import CSV_COLUMNS
from identity.models import Member
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


def _ndjson(path: Path, resources: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def _ended(coverage: dict[str, Any], end: str) -> dict[str, Any]:
    return {**coverage, "period": {"start": "2020-01-01", "end": end}}


def _people(*ids: str) -> list[dict[str, Any]]:
    names = {"M1": ("Avery", "Lindqvist"), "M2": ("Bo", "Tanaka"), "M3": ("Cy", "Mbeki")}
    out: list[dict[str, Any]] = []
    for i in ids:
        given, family = names[i]
        out += [
            fhir_patient(given, family, "1980-01-0" + i[1], member_id=i, resource_id=i),
            fhir_coverage("S" + i, f"Patient/{i}"),
        ]
    return out


def _load(
    sessions: sessionmaker[Session], path: Path, mode: LoadMode, on: date = JAN
) -> LoadReport:
    with sessions() as session:
        report = load_members(session, TENANT, [path], mode=mode, as_of=on)
        if report.ok:
            session.commit()
        else:
            session.rollback()
    return report


def _status(sessions: sessionmaker[Session], on: date) -> dict[str, str]:
    with sessions() as session:
        ends = coverage_ends(session, TENANT, ["M1", "M2", "M3"])
    return {m: coverage_status(e, on, 5).value for m, e in ends.items() if m}


def test_a_snapshot_terminates_absent_members_and_keeps_them(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    assert _load(
        sessions, _ndjson(tmp_path / "all.ndjson", _people("M1", "M2", "M3")), LoadMode.SNAPSHOT
    )
    smaller = _ndjson(tmp_path / "feb.ndjson", _people("M1", "M3"))
    report = _load(sessions, smaller, LoadMode.SNAPSHOT, FEB)
    assert report.ok
    assert report.terminated == 1
    assert report.counts.unchanged == 2
    assert _status(sessions, FEB) == {
        "M1": "current",
        "M2": "ended-within-lookback",
        "M3": "current",
    }
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 3  # never deleted
        assert coverage_ends(session, TENANT, ["M2"])["M2"] == [date(2026, 1, 31)]
    # The same snapshot again (even a day later) changes nothing.
    again = _load(sessions, smaller, LoadMode.SNAPSHOT, date(2026, 2, 2))
    assert (again.terminated, again.counts.unchanged, again.counts.updated) == (0, 2, 0)
    assert _status(sessions, FEB)["M2"] == "ended-within-lookback"
    # Back in a later snapshot: the source's coverage again, open-ended.
    back = _load(
        sessions, _ndjson(tmp_path / "mar.ndjson", _people("M1", "M2", "M3")), LoadMode.SNAPSHOT
    )
    assert (back.counts.updated, back.terminated) == (1, 0)
    assert _status(sessions, FEB)["M2"] == "current"


def test_a_delta_applies_adds_changes_and_leavers(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _load(sessions, _ndjson(tmp_path / "base.ndjson", _people("M1", "M2")), LoadMode.DELTA)
    left = dict(_people("M1")[0], active=False)
    ended = _ended(fhir_coverage("SM2", "Patient/M2"), "2025-06-30")
    delta = _ndjson(tmp_path / "delta.ndjson", [left, _people("M2")[0], ended, *_people("M3")])
    report = _load(sessions, delta, LoadMode.DELTA, FEB)
    assert report.ok, report.errors
    assert (report.counts.inserted, report.counts.updated, report.inactive) == (1, 2, 1)
    assert report.terminated == 0  # a delta never touches members it does not mention
    assert _status(sessions, FEB) == {
        "M1": "ended-within-lookback",
        "M2": "ended-within-lookback",
        "M3": "current",
    }
    with sessions() as session:
        ends = coverage_ends(session, TENANT, ["M1", "M2"])
    assert ends == {"M1": [date(2026, 1, 31)], "M2": [date(2025, 6, 30)]}
    # Reloaded on a later day: nothing changes, the leaver keeps the first end date.
    again = _load(sessions, delta, LoadMode.DELTA, date(2026, 3, 1))
    assert (again.counts.unchanged, again.counts.updated, again.counts.inserted) == (3, 0, 0)
    with sessions() as session:
        assert coverage_ends(session, TENANT, ["M1"])["M1"] == [date(2026, 1, 31)]


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(f'"{r.get(c, "")}"' for c in CSV_COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_leavers_by_active_column_and_end_date(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    base = {"given": "Rui", "family": "Costa", "birth_date": "1975-05-05", "sex": "male"}
    rows = [
        dict(base, member_id="M1", active="false"),
        dict(base, member_id="M2", given="Ana", coverage_end="2019-12-31"),
        dict(base, member_id="M3", given="Ze", coverage_start="2024-01-01", active="yes"),
    ]
    report = _load(sessions, _csv(tmp_path / "d.csv", rows), LoadMode.DELTA, FEB)
    assert report.ok, report.errors
    assert _status(sessions, FEB) == {
        "M1": "ended-within-lookback",
        "M2": "ended-before-lookback",  # more than five years before
        "M3": "current",
    }
    assert _status(sessions, date(2024, 12, 31))["M2"] == "ended-within-lookback"
    bad = _load(
        sessions,
        _csv(tmp_path / "bad.csv", [dict(base, member_id="M4", active="gone")]),
        LoadMode.DELTA,
    )
    assert not bad.ok
    assert "active" in bad.errors[0][2]


def test_an_empty_snapshot_is_refused(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    _load(sessions, _ndjson(tmp_path / "all.ndjson", _people("M1")), LoadMode.SNAPSHOT)
    report = _load(sessions, _ndjson(tmp_path / "empty.ndjson", []), LoadMode.SNAPSHOT, FEB)
    assert not report.ok
    assert _status(sessions, FEB)["M1"] == "current"


@pytest.mark.parametrize(
    ("ends", "status"),
    [
        ([], CoverageStatus.UNKNOWN),
        ([None], CoverageStatus.CURRENT),
        ([date(2026, 2, 1)], CoverageStatus.CURRENT),  # the end date is still a covered day
        ([date(2026, 1, 31)], CoverageStatus.ENDED_WITHIN_LOOKBACK),
        ([date(2021, 2, 1)], CoverageStatus.ENDED_WITHIN_LOOKBACK),
        ([date(2021, 1, 31)], CoverageStatus.ENDED_BEFORE_LOOKBACK),
        ([date(2010, 1, 1), date(2022, 1, 1)], CoverageStatus.ENDED_WITHIN_LOOKBACK),
        ([date(2010, 1, 1), None], CoverageStatus.CURRENT),
    ],
)
def test_coverage_status_on_a_date(ends: list[date | None], status: CoverageStatus) -> None:
    assert coverage_status(ends, FEB, 5) is status
