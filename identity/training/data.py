"""The two sides training links: the member master, and the incoming records to link to it.

A payer's master holds few true duplicates, and most are exact copies, so EM on the master alone
finds nothing to learn from. Real variation is in what arrives from outside: stored match requests
(the default) or a second extract of members. Both sides are streams of `(id, StandardRecord)`;
ids only need to be unique within their side.

`Tally` watches a stream go by (into splink) and keeps what the policy file needs without a second
pass: the count, a digest per record for the data fingerprint, and name frequencies.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from identity.matching.comparison_columns import TEXT_COLUMNS
from identity.matching.comparisons import value_column
from identity.matching.record import StandardRecord, record_from_dict
from identity.matching.standardize import standardize
from identity.member import features
from identity.member.repository import record_from_row
from identity.member.sources import SourceError, read_source
from identity.training import repository

Keyed = tuple[str, StandardRecord]

TF_MIN_COUNT = 2
TF_MAX_VALUES = 20_000


@dataclass
class Incoming:
    """The incoming side, read in full (it is the smaller side and is counted before training)."""

    source: str  # "match requests" or "extract"
    records: list[Keyed]
    skipped: int = 0  # repeated requests (same standardised input) or unreadable extract lines
    notes: list[str] = field(default_factory=list)


def master_records(session: Session, tenant: str) -> Iterator[Keyed]:
    """The tenant's members as (member id, record), streamed, decoded from the compact features
    column (a fraction of the cost of rebuilding each record from its columns); the few whose
    features this code cannot read (none yet, or another layout) come last, from their columns."""
    unreadable: list[str] = []
    for member_id, text in repository.iter_member_features(session, tenant):
        record = features.decode(text, member_id) if text else None
        if record is None:
            unreadable.append(member_id)
        else:
            yield member_id, record
    if unreadable:
        yield from master_records_by_id(session, tenant, unreadable)


def master_records_by_id(
    session: Session, tenant: str, member_ids: Sequence[str]
) -> Iterator[Keyed]:
    """The named members as (member id, record)."""
    for row in repository.member_rows_by_id(session, tenant, member_ids):
        yield row.member_id, record_from_row(row)


def request_records(session: Session, tenant: str) -> Incoming:
    """Stored match requests, each distinct standardised input once (keyed by decision id)."""
    seen: set[str] = set()
    records: list[Keyed] = []
    repeated = unreadable = 0
    for decision_id, fingerprint, query in repository.iter_request_queries(session, tenant):
        if fingerprint in seen:
            repeated += 1
            continue
        seen.add(fingerprint)
        if not isinstance(query, dict):
            unreadable += 1
            continue
        try:
            records.append((decision_id, record_from_dict(query)))
        except (TypeError, ValueError):
            unreadable += 1
    notes = []
    if repeated:
        notes.append(f"{repeated} repeated match request(s) (same standardised input) skipped")
    if unreadable:
        notes.append(f"{unreadable} match request(s) without a readable query skipped")
    return Incoming("match requests", records, repeated + unreadable, notes)


def extract_records(paths: Sequence[Path], *, today: date) -> Incoming:
    """A second extract of members (FHIR NDJSON or CSV), standardised as the loader does.

    Unreadable lines are skipped and counted, not fatal: training is statistical, and the line
    numbers are in the loader's own report when the file is loaded.
    """
    records: list[Keyed] = []
    bad = 0
    for index, path in enumerate(paths):
        for item in read_source(path):
            if isinstance(item, SourceError):
                bad += 1
                continue
            records.append((f"{index}:{path.name}:{item.line}", standardize(item.raw, today=today)))
    notes = [f"{bad} unreadable extract line(s) skipped"] if bad else []
    return Incoming("extract", records, bad, notes)


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    raise TypeError(type(value).__name__)


def record_digest(record: StandardRecord) -> str:
    """sha256 of the record's standardised content (field order fixed, sets sorted)."""
    return hashlib.sha256(orjson.dumps(record, default=_jsonable)).hexdigest()


class Tally:
    """What a side's records amount to, gathered as they stream past."""

    def __init__(self, side: str, term_frequencies: Sequence[str] = ()) -> None:
        """`term_frequencies`: comparisons whose exact-level values are counted (given_name...)."""
        self.side = side
        self.count = 0
        self.digests: list[tuple[str, str]] = []
        self.names: dict[str, Counter[str]] = {c: Counter() for c in term_frequencies}
        self._getters: list[tuple[Counter[str], Callable[[StandardRecord], str | None]]] = []
        for comparison in term_frequencies:
            column = value_column(comparison)
            if column is None:
                raise ValueError(f"{comparison} has no single value to count")
            self._getters.append((self.names[comparison], TEXT_COLUMNS[column]))

    def watch(self, records: Iterable[Keyed]) -> Iterator[Keyed]:
        for record_id, record in records:
            self.count += 1
            self.digests.append((record_id, record_digest(record)))
            for counter, get in self._getters:
                if value := get(record):
                    counter[value] += 1
            yield record_id, record

    def term_frequencies(self, comparison: str) -> dict[str, float]:
        """Relative frequency of each value seen at least twice, most frequent first (capped).

        Relative to every non-missing value, as splink computes its own term-frequency tables.
        """
        counter = self.names[comparison]
        total = sum(counter.values())
        if not total:
            return {}
        frequent = sorted(
            ((v, n) for v, n in counter.items() if n >= TF_MIN_COUNT),
            key=lambda item: (-item[1], item[0]),
        )
        return {value: n / total for value, n in frequent[:TF_MAX_VALUES]}


def data_fingerprint(*tallies: Tally) -> str:
    """sha256 over every (side, id, content digest), sorted: the same data gives the same value."""
    digest = hashlib.sha256()
    for tally in tallies:
        for record_id, content in sorted(tally.digests):
            digest.update(f"{tally.side}\0{record_id}\0{content}\n".encode())
    return digest.hexdigest()
