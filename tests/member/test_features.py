"""The members' compact comparison features on both databases: every writer keeps them equal to
the standardised columns, retrieval from them finds exactly what the columns give (and reads the
columns where a row has none), coverage end dates read with the candidates are never stale, the
batch path answers as the single one, and migration 0020 backfills what the loader writes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import downgrade, transaction, upgrade
from identity.matching.blocking import blocking_keys
from identity.matching.record import StandardRecord
from identity.matching.standardize import standardize
from identity.member import features
from identity.member.repository import (
    _CANDIDATE_COLUMNS,
    coverage_ends,
    erase_demographics,
    find_candidates,
    find_candidates_many,
    record_from_row,
    retrieve_candidates,
)
from identity.member.service import LoadMode, LoadReport, load_members
from identity.models import Member
from identity.policy.cache import MatcherCache
from identity.resolution.service import parse_match_request
from identity.synthetic import write_dataset
from tests.conftest import TENANT

TODAY = date(2026, 12, 7)
LIMITS = [(200, 50), (3, 4)]  # the default policy's, and small ones that drop and cut


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    paths = write_dataset(tmp_path, members=300, queries=60, seed=11, formats=("ndjson",))
    lines = paths.queries_ndjson.read_text().splitlines()
    return paths.members_ndjson, [json.loads(line)["request"] for line in lines]


def _load(
    sessions: sessionmaker[Session], path: Path, mode: LoadMode = LoadMode.DELTA
) -> LoadReport:
    with transaction(sessions) as session:
        report = load_members(session, TENANT, [path], mode=mode, as_of=TODAY)
        assert report.ok
    return report


def _without_every_third_member(members: Path, target: Path) -> Path:
    """The master without a third of its members (their Patient and Coverage lines)."""
    lines = [json.loads(line) for line in members.read_text().splitlines()]
    ids = sorted(r["id"] for r in lines if r["resourceType"] == "Patient")
    gone = set(ids[::3])

    def patient(r: dict[str, Any]) -> str:
        return str(r["id"] if r["resourceType"] == "Patient" else r["beneficiary"]["reference"])

    kept = [r for r in lines if patient(r).rsplit("/", 1)[-1] not in gone]
    target.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return target


def _mismatched(sessions: sessionmaker[Session]) -> list[str]:
    """Members whose features are not the encoding of their columns' record."""
    with sessions() as session:
        rows = session.execute(select(*_CANDIDATE_COLUMNS, Member.features)).all()
    assert rows
    return [
        r.member_id
        for r in rows
        if r.features != features.encode(record_from_row(r))
        or features.decode(r.features, r.member_id) != record_from_row(r)
    ]


def _queries(
    sessions: sessionmaker[Session], requests: list[dict[str, Any]]
) -> list[tuple[str, ...]]:
    with sessions() as session:
        keys = MatcherCache().for_tenant(session, TENANT).policy.document.blocking.keys
    return [
        tuple(blocking_keys(standardize(parse_match_request(r, TODAY), today=TODAY), keys))
        for r in requests
    ]


def test_the_encoding_round_trips_and_refuses_an_unknown_layout() -> None:
    record = StandardRecord(
        given="ANA",
        family="GARCIA LOPEZ",
        family_parts=("GARCIA", "LOPEZ"),
        earlier_families=("RUIZ",),
        given_canonicals=frozenset({"ANA", "ANNA"}),
        birth_date=date(1984, 3, 12),
        phones=("+16175552368",),
        subscriber_ids=("S1",),
        member_id="M1",
    )
    assert features.decode(features.encode(record), "M1") == record
    assert features.decode(features.encode(StandardRecord()), "M2") == StandardRecord(
        member_id="M2"
    )
    assert features.decode("[2]", "M1") is None


@pytest.mark.usefixtures("active_policy")
def test_every_writer_keeps_the_features_equal_to_the_columns(
    sessions: sessionmaker[Session], dataset: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    members, _ = dataset
    _load(sessions, members)
    assert _mismatched(sessions) == []
    # A changed reload (a first given name put before everyone's) rewrites the changed rows.
    text = members.read_text()
    assert '"given":["' in text
    changed = tmp_path / "changed.ndjson"
    changed.write_text(text.replace('"given":["', '"given":["Zed","'))
    assert _load(sessions, changed).counts.updated > 100
    assert _mismatched(sessions) == []
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).where(Member.given == "ZED")) > 100
        erased = list(session.scalars(select(Member.id).order_by(Member.id).limit(5)))
        erase_demographics(session, TENANT, erased, datetime(2026, 12, 7, tzinfo=UTC))
    assert _mismatched(sessions) == []


@pytest.mark.usefixtures("active_policy")
def test_retrieval_from_features_finds_what_the_columns_give(
    sessions: sessionmaker[Session], dataset: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    members, requests = dataset
    _load(sessions, members)
    queries = _queries(sessions, requests)

    def retrieve(max_block: int, max_candidates: int) -> list[Any]:
        with sessions() as session:
            return [
                retrieve_candidates(
                    session, TENANT, q, max_block_size=max_block, max_candidates=max_candidates
                )
                for q in queries
            ]

    before = {limits: retrieve(*limits) for limits in LIMITS}
    assert sum(len(r.candidates) for r in before[LIMITS[0]]) > len(queries)
    # Rows without features (written before them), and rows of a layout this code does not
    # know, are read from their columns: the same candidates, records and all.
    with transaction(sessions) as session:
        session.execute(update(Member).where(Member.id % 3 == 0).values(features=None))
        session.execute(update(Member).where(Member.id % 3 == 1).values(features="[99]"))
    for limits in LIMITS:
        assert retrieve(*limits) == before[limits]

    # A snapshot without a third of the members ends their coverage: the end dates read with
    # the candidates are the coverage's own, never an old copy.
    snapshot = _without_every_third_member(members, tmp_path / "snapshot.ndjson")
    assert _load(sessions, snapshot, LoadMode.SNAPSHOT).terminated > 50
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":  # the ISO text must not depend on it
            session.execute(text("SET LOCAL DateStyle = 'SQL, DMY'"))
        found = [
            retrieve_candidates(session, TENANT, q, max_block_size=200, max_candidates=50)
            for q in queries
        ]
    with sessions() as session:
        for r in found:
            ids = [c.member_id for c in r.candidates]
            assert r.coverage_ends.keys() == set(ids)
            assert {m: sorted(map(str, e)) for m, e in r.coverage_ends.items()} == {
                m: sorted(map(str, e)) for m, e in coverage_ends(session, TENANT, ids).items()
            }
    assert any(
        e and all(x is not None and x < TODAY for x in e)
        for r in found
        for e in r.coverage_ends.values()
    )

    # The batch path shares the logic: each query's candidates as the single path gives them.
    with sessions() as session:
        for max_block, max_candidates in LIMITS:
            many = find_candidates_many(
                session, TENANT, queries, max_block_size=max_block, max_candidates=max_candidates
            )
            single = [
                find_candidates(
                    session, TENANT, q, max_block_size=max_block, max_candidates=max_candidates
                )
                for q in queries
            ]
            assert many == single


@pytest.mark.usefixtures("active_policy")
def test_migration_0020_backfills_what_the_loader_writes(
    settings: Settings,
    sessions: sessionmaker[Session],
    dataset: tuple[Path, list[dict[str, Any]]],
) -> None:
    members, _ = dataset
    _load(sessions, members)
    with sessions() as session:
        written = {m.member_id: m.features for m in session.scalars(select(Member))}
    assert all(written.values())
    sessions.kw["bind"].dispose()
    downgrade(settings.database_url, "0019")
    upgrade(settings.database_url)
    with sessions() as session:
        backfilled = {m.member_id: m.features for m in session.scalars(select(Member))}
    assert backfilled == written
    assert _mismatched(sessions) == []
