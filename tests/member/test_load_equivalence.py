"""The fast loader writes exactly the rows the row-by-row loader wrote, on both databases.

A generated master (tests/member/fixtures/load_master.*.gz: 80 synthetic members, FHIR NDJSON
and CSV) goes through a first load, a snapshot with members changed, leaving and absent, the same
snapshot again on a later day, and the first file again (leavers and absentees return). After each
step every member's stored row (standardised columns, source, content hash), blocking keys and
coverage periods are digested and compared with `load_expected.json`, which the loader as it was
before issue 14 wrote (regenerate with `python -m tests.member.test_load_equivalence` on that
code). The first step runs with worker processes, the others in the loading process.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.member.service import LoadMode, LoadReport, load_members
from identity.models import BlockingKey, Coverage, Member
from tests.conftest import TENANT

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = FIXTURES / "load_expected.json"
# The member table's columns before issue 14, less the primary key and the load's timestamps.
MEMBER_COLUMNS = (
    "member_id",
    "content_hash",
    "raw",
    "given",
    "middle",
    "family",
    "suffix",
    "given_phonetic",
    "family_phonetic",
    "birth_date",
    "sex",
    "phone",
    "email",
    "address_line",
    "unit",
    "city",
    "state",
    "zip5",
    "ssn",
    "extra",
)
COVERAGE_COLUMNS = ("subscriber_id", "relationship", "period_start", "period_end", "payor")


def _unzip(name: str, into: Path) -> Path:
    path = into / name.removesuffix(".gz")
    path.write_bytes(gzip.decompress((FIXTURES / name).read_bytes()))
    return path


def _edited(master: Path, into: Path) -> Path:
    """The master a month on: every 7th member absent, every 5th moved, every 9th left, every
    11th card ended (decided by the member's position, so the edit is the same every time)."""
    lines = [orjson.loads(line) for line in master.read_bytes().splitlines() if line.strip()]
    order = [r["id"] for r in lines if r["resourceType"] == "Patient"]
    position = {pid: i for i, pid in enumerate(order)}
    out: list[dict[str, Any]] = []
    for resource in lines:
        if resource["resourceType"] == "Patient":
            i = position[resource["id"]]
            if i % 5 == 0:
                for address in resource.get("address", []):
                    address["postalCode"] = "02143"
            if i % 9 == 0:
                resource["active"] = False
        else:
            pid = resource["beneficiary"]["reference"].rsplit("/", 1)[1]
            i = position[pid]
            if i % 11 == 0:
                resource["period"] = {**resource.get("period", {}), "end": "2026-06-30"}
        owner = resource["id"] if resource["resourceType"] == "Patient" else pid
        if position[owner] % 7 != 0:
            out.append(resource)
    path = into / "edited.ndjson"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in out))
    return path


def _steps(tmp: Path) -> list[tuple[str, Path, LoadMode, date, int]]:
    master = _unzip("load_master.ndjson.gz", tmp)
    edited = _edited(master, tmp)
    return [
        ("first load", master, LoadMode.DELTA, date(2026, 6, 1), 2),
        ("snapshot, changed", edited, LoadMode.SNAPSHOT, date(2026, 7, 1), 0),
        ("same snapshot again", edited, LoadMode.SNAPSHOT, date(2026, 8, 1), 0),
        ("first file again", master, LoadMode.DELTA, date(2026, 9, 1), 0),
    ]


def _digest(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()[:16]


def _state(session: Session) -> dict[str, str]:
    """member id -> a digest of its row, blocking keys and coverage periods."""
    rows = {
        r.id: {c: getattr(r, c) for c in MEMBER_COLUMNS}
        for r in session.execute(select(Member).where(Member.tenant_id == TENANT)).scalars()
    }
    for row in rows.values():  # JSON text from SQLite, a date from PostgreSQL: one form
        if isinstance(row["birth_date"], date):
            row["birth_date"] = row["birth_date"].isoformat()
    keys: dict[int, list[str]] = {pk: [] for pk in rows}
    for pk, key in session.execute(
        select(BlockingKey.member_pk, BlockingKey.key).where(BlockingKey.tenant_id == TENANT)
    ):
        keys[pk].append(key)
    periods: dict[int, list[list[Any]]] = {pk: [] for pk in rows}
    for coverage in session.execute(select(Coverage).where(Coverage.tenant_id == TENANT)).scalars():
        periods[coverage.member_pk].append([str(getattr(coverage, c)) for c in COVERAGE_COLUMNS])
    return {
        row["member_id"]: _digest([row, sorted(keys[pk]), sorted(periods[pk])])
        for pk, row in rows.items()
    }


def _counts(report: LoadReport) -> dict[str, int]:
    c = report.counts
    return {
        "read": report.read,
        "inserted": c.inserted,
        "updated": c.updated,
        "unchanged": c.unchanged,
        "inactive": report.inactive,
        "terminated": report.terminated,
        "errors": report.error_count,
    }


def _run(
    sessions: sessionmaker[Session], tmp: Path, load: Callable[..., LoadReport], **options: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, path, mode, on, workers in _steps(tmp):
        with sessions() as session:
            report = load(session, TENANT, [path], mode=mode, as_of=on, workers=workers, **options)
            assert report.ok, report.errors
            session.commit()
        with sessions() as session:
            yield name, {"counts": _counts(report), "members": _state(session)}


def test_every_step_writes_the_rows_the_old_loader_wrote(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    expected = json.loads(EXPECTED.read_text())
    for name, got in _run(sessions, tmp_path, load_members):
        want = expected[name]
        assert got["counts"] == want["counts"], name
        differ = sorted(
            m
            for m in want["members"].keys() | got["members"].keys()
            if want["members"].get(m) != got["members"].get(m)
        )
        assert not differ, f"{name}: {len(differ)} member(s) differ, e.g. {differ[:5]}"


def test_a_large_load_stages_its_blocking_keys_and_writes_the_same_rows(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Batches of 16: every step writes full batches, so its blocking keys go through the
    staging table and into the index sorted at the end (the path of a load of 10,000+
    members); what is stored is the same, changed members' old keys included."""
    expected = json.loads(EXPECTED.read_text())
    for name, got in _run(sessions, tmp_path, load_members, batch_size=16):
        assert got == expected[name], name


def test_a_failed_large_load_writes_no_staged_keys_and_the_next_load_is_whole(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A bad line after staging began rolls the load back (no member, no key); the next load
    on the same pooled connection stages afresh and stores exactly the expected rows."""
    master = _unzip("load_master.ndjson.gz", tmp_path)
    lines = master.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"".join([*lines, b"{not json\n"]))
    with sessions() as session:
        report = load_members(session, TENANT, [bad], as_of=date(2026, 6, 1), batch_size=16)
        assert not report.ok
        session.rollback()
    with sessions() as session:
        assert _state(session) == {}
        assert session.query(BlockingKey).count() == 0
    expected = json.loads(EXPECTED.read_text())["first load"]
    with sessions() as session:
        report = load_members(session, TENANT, [master], as_of=date(2026, 6, 1), batch_size=16)
        assert report.ok, report.errors
        session.commit()
    with sessions() as session:
        assert {"counts": _counts(report), "members": _state(session)} == expected


def test_a_csv_master_loads_as_before(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    expected = json.loads(EXPECTED.read_text())["csv"]
    path = _unzip("load_master.csv.gz", tmp_path)
    for step, workers in (("first", 2), ("again", 0)):
        with sessions() as session:
            report = load_members(session, TENANT, [path], as_of=date(2026, 6, 1), workers=workers)
            assert report.ok, report.errors
            session.commit()
        with sessions() as session:
            assert {"counts": _counts(report), "members": _state(session)} == expected[step]


def test_bad_lines_are_reported_alike_with_workers(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Workers change where lines are validated, not what is reported: the same errors, in the
    same order, and nothing written."""
    master = _unzip("load_master.ndjson.gz", tmp_path).read_bytes().splitlines(keepends=True)
    patient = next(line for line in master if b'"Patient"' in line)
    bad = [
        *master[:30],
        b"{not json\n",
        patient.replace(b'"birthDate":"', b'"birthDate":"19'),  # an invalid date
        b'{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Group/1"}}\n',
        *master[30:60],
        patient,  # its member id again
        b'{"resourceType":"Observation"}\n',
    ]
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"".join(bad))
    reports = []
    for workers in (0, 2):
        with sessions() as session:
            reports.append(load_members(session, TENANT, [path], workers=workers))
            session.rollback()
    in_process, pooled = reports
    assert not in_process.ok
    assert in_process.error_count == 5
    assert pooled.errors == in_process.errors
    assert _counts(pooled) == _counts(in_process)
    with sessions() as session:
        assert _state(session) == {}


def _regenerate(url: str) -> None:
    """Write load_expected.json with the loader of the code on the path (the old loader: it
    takes no `workers`)."""
    from identity.config import Settings
    from identity.db import make_engine, make_session_factory, upgrade

    def old_load(session: Session, tenant: str, paths: list[Path], **kw: Any) -> LoadReport:
        kw.pop("workers")
        return load_members(session, tenant, paths, **kw)

    upgrade(url)
    sessions = make_session_factory(make_engine(Settings(database_url=url)))
    with tempfile.TemporaryDirectory() as tmp:
        out: dict[str, Any] = dict(_run(sessions, Path(tmp), old_load))
    csv_url = url.replace(".db", "-csv.db")
    upgrade(csv_url)
    sessions = make_session_factory(make_engine(Settings(database_url=csv_url)))
    with tempfile.TemporaryDirectory() as tmp:
        path = _unzip("load_master.csv.gz", Path(tmp))
        out["csv"] = {}
        for step in ("first", "again"):
            with sessions() as session:
                report = load_members(session, TENANT, [path], as_of=date(2026, 6, 1))
                session.commit()
            with sessions() as session:
                out["csv"][step] = {"counts": _counts(report), "members": _state(session)}
    EXPECTED.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    _regenerate(sys.argv[1])  # a fresh SQLite URL, e.g. sqlite:////tmp/expected.db
