"""Loading a member master: read, standardise, index, upsert — all of it or none of it.

A load is one transaction. Every line is read even after an error, so the report lists every bad
line at once; but once any line is bad nothing more is written and the transaction rolls back, so
a file is never half-applied. Loading the same file twice changes nothing (content hashes match).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from sqlalchemy.orm import Session

from identity.matching.blocking import BLOCKING_KEYS, INDEX_VERSION, blocking_keys
from identity.matching.standardize import standardize
from identity.member.repository import (
    PreparedMember,
    UpsertCounts,
    refresh_statistics,
    upsert_members,
)
from identity.member.sources import SourceError, SourceRecord, read_source

BATCH_SIZE = 2_000
MAX_REPORTED_ERRORS = 1_000


@dataclass
class LoadReport:
    files: list[str] = field(default_factory=list)
    read: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    errors: list[tuple[str, int, str]] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def prepare(record: SourceRecord) -> PreparedMember:
    """Standardise a source record and compute its blocking keys (every known key: a new
    policy may query keys the current one does not, without re-indexing)."""
    std = standardize(record.raw)
    document = {"source": record.document}
    # The index version is part of the hash, so reloading after a blocking-key change re-indexes.
    hashed = {"index": INDEX_VERSION, **document}
    content_hash = hashlib.sha256(orjson.dumps(hashed, option=orjson.OPT_SORT_KEYS)).hexdigest()
    coverages = tuple(asdict(c) for c in record.coverages)
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
) -> LoadReport:
    """Load files into the tenant's member index; the caller commits only if `report.ok`."""
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
            prepared = prepare(item)
            if prepared.member_id in seen:
                first = seen[prepared.member_id]
                fail(path.name, item.line, f"member id repeats {first[0]} line {first[1]}")
                continue
            seen[prepared.member_id] = (path.name, item.line)
            batch.append(prepared)
            if len(batch) >= batch_size:
                flush()
    flush()
    if report.ok and (report.counts.inserted or report.counts.updated):
        refresh_statistics(session)
    return report
