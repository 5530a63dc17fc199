"""Loading a member master into the real databases: FHIR NDJSON and CSV, upsert, all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.db import transaction
from identity.member.service import LoadReport, load_members
from identity.member.sources import CSV_COLUMNS
from identity.models import BlockingKey, Coverage, Member
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient


def _write_ndjson(path: Path, resources: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def _load(sessions: sessionmaker[Session], *paths: Path) -> LoadReport:
    with sessions() as session:
        report = load_members(session, TENANT, list(paths))
        if report.ok:
            session.commit()
        else:
            session.rollback()
    return report


def _count(sessions: sessionmaker[Session], table: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _members(tmp_path: Path) -> Path:
    return _write_ndjson(
        tmp_path / "members.ndjson",
        [
            # Coverage before its Patient on purpose: order must not matter.
            fhir_coverage("S100", "Patient/p1"),
            fhir_patient(
                "María",
                "García-López",
                "1984-03-12",
                gender="female",
                member_id="M1",
                resource_id="p1",
                phone="617-555-2368",
                street="48 Orchard Street",
                zip_code="02143-1234",
                maiden="López",
            ),
            fhir_patient("Jordan", "Okafor", "2011-07-30", member_id="M2", resource_id="p2"),
            fhir_coverage("S100", "https://payer.example/fhir/Patient/p2", "child"),
        ],
    )


def test_ndjson_load_standardises_and_indexes(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    report = _load(sessions, _members(tmp_path))
    assert report.ok, report.errors
    assert (report.counts.inserted, report.counts.updated, report.counts.unchanged) == (2, 0, 0)
    with sessions() as session:
        maria = session.scalars(select(Member).where(Member.member_id == "M1")).one()
        assert (maria.given, maria.family, maria.zip5) == ("MARIA", "GARCIA LOPEZ", "02143")
        assert maria.phone == "+16175552368"
        assert maria.extra["subscriber_ids"] == ["S100"]
        assert "LOPEZ" in maria.extra["earlier_families"]
        assert maria.raw["source"]["name"][0]["family"] == "García-López"  # raw kept verbatim
        keys = set(
            session.scalars(select(BlockingKey.key).where(BlockingKey.member_pk == maria.id))
        )
        assert "subscriber_id:S100" in keys
        assert "member_id:M1" in keys
        assert any(k.startswith("dob_family_phonetic:1984-03-12|") for k in keys)
        coverage = session.scalars(select(Coverage).where(Coverage.member_pk == maria.id)).one()
        assert coverage.relationship == "self"
    assert _count(sessions, Coverage) == 2


def test_loading_the_same_file_twice_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = _members(tmp_path)
    _load(sessions, path)
    before = (_count(sessions, Member), _count(sessions, BlockingKey), _count(sessions, Coverage))
    report = _load(sessions, path)
    assert report.counts.unchanged == 2
    assert report.counts.inserted == report.counts.updated == 0
    assert (
        _count(sessions, Member),
        _count(sessions, BlockingKey),
        _count(sessions, Coverage),
    ) == before


def test_a_changed_member_is_updated_in_place(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _load(sessions, _members(tmp_path))
    moved = _write_ndjson(
        tmp_path / "moved.ndjson",
        [
            fhir_patient(
                "Jordan", "Okafor", "2011-07-30", member_id="M2", resource_id="p2", zip_code="10001"
            ),
        ],
    )
    report = _load(sessions, moved)
    assert report.counts.updated == 1
    with sessions() as session:
        jordan = session.scalars(select(Member).where(Member.member_id == "M2")).one()
        keys = set(
            session.scalars(select(BlockingKey.key).where(BlockingKey.member_pk == jordan.id))
        )
    assert jordan.zip5 == "10001"
    assert any(k.startswith("zip_family_phonetic:10001|") for k in keys)
    assert _count(sessions, Member) == 2


def test_bad_lines_are_all_reported_and_nothing_is_written(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "bad.ndjson"
    good = json.dumps(fhir_patient(member_id="M1", resource_id="p1"))
    no_id = json.dumps(fhir_patient(resource_id="p2"))
    not_fhir = json.dumps({"resourceType": "Patient", "birthDate": "not a date"})
    path.write_text("\n".join([good, "{not json", no_id, not_fhir, good]) + "\n")
    report = _load(sessions, path)
    assert not report.ok
    assert [line for _, line, _ in report.errors] == [2, 3, 4, 5]
    assert "repeats" in report.errors[-1][2]
    assert _count(sessions, Member) == 0
    assert _count(sessions, BlockingKey) == 0
    assert all("Okafor" not in message for _, _, message in report.errors)


def test_csv_load_with_the_documented_columns(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(
        member_id="C1",
        given="Robert",
        middle="James",
        family="O'Brien",
        suffix="Jr",
        previous_family="",
        birth_date="1990-02-28",
        sex="male",
        ssn="372-45-6780",
        phone="(415) 555-0142",
        address_line1="12 North Main Street Apt 4",
        city="Boise",
        state="Idaho",
        zip="83702",
        subscriber_id="S7",
        relationship="self",
        coverage_start="2025-01-01",
    )
    bad = dict(row, member_id="C2", birth_date="28/02/1990")
    path.write_text(
        ",".join(CSV_COLUMNS) + "\n" + ",".join(f'"{row[c]}"' for c in CSV_COLUMNS) + "\n"
    )
    report = _load(sessions, path)
    assert report.ok, report.errors
    with transaction(sessions) as session:
        member = session.scalars(select(Member).where(Member.member_id == "C1")).one()
        assert (member.given, member.middle, member.family, member.suffix) == (
            "ROBERT",
            "JAMES",
            "OBRIEN",
            "JR",
        )
        assert (member.address_line, member.unit, member.state) == ("12 N MAIN ST", "APT 4", "ID")
        assert member.ssn == "372456780"
    with path.open("a") as fh:
        fh.write(",".join(f'"{bad[c]}"' for c in CSV_COLUMNS) + "\n")
    report = _load(sessions, path)
    assert not report.ok
    assert report.errors[0][1] == 3
    assert "birth_date" in report.errors[0][2]
