"""Loading a member master: read, standardise, index, upsert — all of it or none of it.

A load is one transaction. Every line is read even after an error, so the report lists every bad
line at once; but once any line is bad nothing more is written and the transaction rolls back, so
a file is never half-applied. Loading the same file twice changes nothing (content hashes match).

Two modes. `delta` (the default) applies what the files say: new members, changed members, and
enrolment ends (a coverage end date, or a member marked inactive). `snapshot` does the same and
then treats the files as the whole membership on the load's date: every member absent from them is
terminated (their open coverage ends on that date). Nothing is ever deleted: matching keeps finding
former members, and the coverage status says they left (identity/member/coverage.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

import orjson
from sqlalchemy.orm import Session

from identity.matching.blocking import BLOCKING_KEYS, INDEX_VERSION, blocking_keys
from identity.matching.standardize import standardize
from identity.member.repository import (
    BARE_PERIOD,
    PreparedMember,
    UpsertCounts,
    refresh_statistics,
    terminate_absent,
    upsert_members,
)
from identity.member.sources import SourceError, SourceRecord, read_source

BATCH_SIZE = 2_000
MAX_REPORTED_ERRORS = 1_000


class LoadMode(StrEnum):
    DELTA = "delta"  # adds, changes and leavers in the files; others untouched
    SNAPSHOT = "snapshot"  # the same, and members absent from the files are terminated


@dataclass
class LoadReport:
    files: list[str] = field(default_factory=list)
    read: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    errors: list[tuple[str, int, str]] = field(default_factory=list)
    error_count: int = 0
    inactive: int = 0  # records the files mark as having left
    terminated: int = 0  # members absent from a snapshot whose coverage was ended now

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _ended(coverages: tuple[dict[str, object], ...], on: date) -> tuple[dict[str, object], ...]:
    """A leaver's coverage as of `on`: every period still open then ends the day before (one bare
    period when the source gave none, so the end is on record)."""
    last = on - timedelta(days=1)
    if not coverages:
        return ({**BARE_PERIOD, "period_end": last},)
    return tuple(
        {**c, "period_end": last}
        if c.get("period_end") is None or c["period_end"] > last  # type: ignore[operator]
        else c
        for c in coverages
    )


def prepare(record: SourceRecord, as_of: date | None = None) -> PreparedMember:
    """Standardise a source record and compute its blocking keys (every known key: a new
    policy may query keys the current one does not, without re-indexing). An inactive record's
    open coverage ends on `as_of` (default today)."""
    std = standardize(record.raw)
    document = {"source": record.document}
    # The index version is part of the hash, so reloading after a blocking-key change re-indexes.
    # A leaver's hash marks it (not the date): reloading the same file on a later day keeps the
    # first end date, and the member's return (active again) is a change.
    # Coverage facts count too (a Coverage line may change alone: a period's end).
    coverages = tuple(asdict(c) for c in record.coverages)
    hashed = {
        "index": INDEX_VERSION,
        **document,
        **({"coverages": coverages} if coverages else {}),
        **({} if record.active else {"left": True}),
    }
    content_hash = hashlib.sha256(orjson.dumps(hashed, option=orjson.OPT_SORT_KEYS)).hexdigest()
    if not record.active:
        coverages = _ended(coverages, as_of or date.today())
    return PreparedMember(
        member_id=std.member_id or record.member_id,
        content_hash=content_hash,
        raw=document,
        record=std,
        keys=tuple(blocking_keys(std, BLOCKING_KEYS)),
        coverages=coverages,
    )


def load_members(
    session: Session,
    tenant: str,
    paths: Iterable[Path],
    *,
    on_bytes: Callable[[int], object] | None = None,
    batch_size: int = BATCH_SIZE,
    mode: LoadMode = LoadMode.DELTA,
    as_of: date | None = None,
) -> LoadReport:
    """Load files into the tenant's member index; the caller commits only if `report.ok`.
    `as_of` (default today): the date leavers' coverage ends."""
    as_of = as_of or date.today()
    report = LoadReport()
    seen: dict[str, tuple[str, int]] = {}
    batch: list[PreparedMember] = []

    def fail(name: str, line: int, message: str) -> None:
        report.error_count += 1
        if len(report.errors) < MAX_REPORTED_ERRORS:
            report.errors.append((name, line, message))

    def flush() -> None:
        if batch and report.ok:
            report.counts.add(upsert_members(session, tenant, batch))
        batch.clear()

    for path in paths:
        report.files.append(str(path))
        for item in read_source(path, on_bytes):
            if isinstance(item, SourceError):
                fail(path.name, item.line, item.message)
                continue
            report.read += 1
            prepared = prepare(item, as_of)
            report.inactive += not item.active
            if prepared.member_id in seen:
                first = seen[prepared.member_id]
                fail(path.name, item.line, f"member id repeats {first[0]} line {first[1]}")
                continue
            seen[prepared.member_id] = (path.name, item.line)
            batch.append(prepared)
            if len(batch) >= batch_size:
                flush()
    flush()
    if mode is LoadMode.SNAPSHOT and report.ok and not seen:
        # An empty or wrongly chosen file would otherwise end everyone's coverage.
        fail("(snapshot)", 0, "a snapshot with no members would terminate every member")
    if report.ok and mode is LoadMode.SNAPSHOT:
        report.terminated = terminate_absent(session, tenant, seen.keys(), as_of)
    if report.ok and (report.counts.inserted or report.counts.updated or report.terminated):
        refresh_statistics(session)
    return report
