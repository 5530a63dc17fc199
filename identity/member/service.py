"""Loading a member master: read, standardise, index, upsert — all of it or none of it.

A load is one transaction. Every line is read even after an error, so the report lists every bad
line at once; but once any line is bad nothing more is written and the transaction rolls back, so
a file is never half-applied. Loading the same file twice changes nothing (content hashes match).

Two modes. `delta` (the default) applies what the files say: new members, changed members, and
enrolment ends (a coverage end date, or a member marked inactive). `snapshot` does the same and
then treats the files as the whole membership on the load's date: every member absent from them is
terminated (their open coverage ends on that date). Nothing is ever deleted: matching keeps finding
former members, and the coverage status says they left (identity/member/coverage.py).

Speed (1M members within minutes): an unchanged line is recognised by its content hash, computed
from the line's JSON before any FHIR validation or standardisation, against the tenant's stored
hashes (read once); only new and changed lines are validated, standardised and indexed, in a pool
of worker processes when `workers` > 0, while this process writes in large batches
(identity/member/load_repository.py). Results are consumed in file order, so the report, the
repeated-id check and what is written are the same with or without workers.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from identity.matching.blocking import BLOCKING_KEYS, INDEX_VERSION, blocking_keys
from identity.matching.standardize import standardize
from identity.member.load_repository import (
    staged_blocking_keys,
    tenant_members,
    write_staged_blocking_keys,
)
from identity.member.repository import (
    BARE_PERIOD,
    PreparedMember,
    UpsertCounts,
    refresh_statistics,
    terminate_absent,
    upsert_members,
)
from identity.member.sources import (
    CoverageFacts,
    Mapper,
    PendingPatient,
    Read,
    SourceError,
    SourceRecord,
    complete,
    open_source,
)

BATCH_SIZE = 10_000
_CHUNK_LINES = 1_000  # lines per unit of work for a worker
_CHUNKS_AHEAD = 6  # units of work read ahead of the writer
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


_PERIOD_FIELDS = tuple(f.name for f in fields(CoverageFacts))


def _period(facts: CoverageFacts) -> dict[str, Any]:
    """`dataclasses.asdict` of the facts without its deep copy (every value is immutable)."""
    return {name: getattr(facts, name) for name in _PERIOD_FIELDS}


def content_hash(
    document: dict[str, Any], coverages: tuple[CoverageFacts, ...], active: bool
) -> str:
    """What a member's stored hash covers: the source document as read, its coverage facts, and
    whether it left, with the blocking index's version (so reloading after a blocking-key change
    re-indexes). A leaver's hash marks it (not the date): reloading the same file on a later day
    keeps the first end date, and the member's return (active again) is a change. Computed from
    the line's JSON alone: nothing validated or standardised yet."""
    periods = tuple(map(_period, coverages))
    hashed = {
        "index": INDEX_VERSION,
        "source": document,
        **({"coverages": periods} if periods else {}),
        **({} if active else {"left": True}),
    }
    return hashlib.sha256(orjson.dumps(hashed, option=orjson.OPT_SORT_KEYS)).hexdigest()


def prepare(record: SourceRecord, as_of: date | None = None) -> PreparedMember:
    """Standardise a source record and compute its blocking keys (every known key: a new
    policy may query keys the current one does not, without re-indexing). An inactive record's
    open coverage ends on `as_of` (default today)."""
    std = standardize(record.raw)
    coverages = tuple(map(_period, record.coverages))
    if not record.active:
        coverages = _ended(coverages, as_of or date.today())
    return PreparedMember(
        member_id=std.member_id or record.member_id,
        content_hash=content_hash(record.document, record.coverages, record.active),
        raw={"source": record.document},
        record=std,
        keys=tuple(blocking_keys(std, BLOCKING_KEYS)),
        coverages=coverages,
    )


# A line's work for a worker: a CSV record (already read), or a Patient line to validate.
_Work = SourceRecord | tuple[int, bytes, tuple[CoverageFacts, ...]]


@dataclass(frozen=True, slots=True)
class _Unchanged:
    """A line whose content hash is already stored: nothing to validate, nothing to write."""

    line: int
    member_id: str
    active: bool


@dataclass(frozen=True, slots=True)
class _Sent:
    """A line handed to a worker: where its result goes, in file order, and its source document
    (read here already: the worker's copy need not travel back)."""

    line: int
    active: bool
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Ready:
    line: int
    member: PreparedMember
    active: bool


def _prepare_chunk(work: tuple[date, list[_Work]]) -> list[PreparedMember | SourceError]:
    """Validate and prepare a chunk of lines (in a worker process, or in this one)."""
    as_of, items = work
    out: list[PreparedMember | SourceError] = []
    for item in items:
        record = item if isinstance(item, SourceRecord) else complete(*item)
        if isinstance(record, SourceError):
            out.append(record)
        else:  # the source document comes back from the reader's copy (see _Sent)
            out.append(replace(prepare(record, as_of), raw={}))
    return out


def _hash_of(item: SourceRecord | PendingPatient) -> str:
    return content_hash(item.document, item.coverages, item.active)


def _in_order(
    items: Iterable[Read], stored: Mapping[str, str], as_of: date, mapper: Mapper
) -> Generator[SourceError | _Unchanged | _Ready, None, None]:
    """Each line's outcome, in file order. Lines whose content hash is `stored` (hash -> member
    id) are settled here; the rest go to `mapper` a chunk at a time, at most a few chunks ahead of
    what the caller has consumed (the file never sits in memory)."""
    slots: deque[list[SourceError | _Unchanged | _Sent]] = deque()
    ahead = threading.Semaphore(_CHUNKS_AHEAD)
    stop = threading.Event()  # the caller stopped: a pool's feeding thread must not wait on

    def hand_over(chunk: list[SourceError | _Unchanged | _Sent]) -> bool:
        while not ahead.acquire(timeout=0.1):
            if stop.is_set():
                return False
        slots.append(chunk)
        return True

    def chunks() -> Iterator[tuple[date, list[_Work]]]:
        chunk: list[SourceError | _Unchanged | _Sent] = []
        work: list[_Work] = []
        for item in items:
            if isinstance(item, SourceError):
                chunk.append(item)
            elif (member_id := stored.get(_hash_of(item))) is not None:
                chunk.append(_Unchanged(item.line, member_id, item.active))
            else:
                chunk.append(_Sent(item.line, item.active, item.document))
                work.append(
                    item
                    if isinstance(item, SourceRecord)
                    else (item.line, item.text, item.coverages)
                )
            if len(chunk) >= _CHUNK_LINES:
                if not hand_over(chunk):
                    return
                yield as_of, work
                chunk, work = [], []
        if chunk and hand_over(chunk):
            yield as_of, work

    try:
        for results in mapper(_prepare_chunk, chunks()):
            done = iter(results)
            for slot in slots.popleft():
                if not isinstance(slot, _Sent):
                    yield slot
                    continue
                prepared = next(done)
                if isinstance(prepared, SourceError):
                    yield prepared
                else:
                    member = replace(prepared, raw={"source": slot.document})
                    yield _Ready(slot.line, member, slot.active)
            ahead.release()
    finally:
        stop.set()


POOL_MIN_BYTES = 10_000_000  # below this, starting worker processes costs more than it saves


def workers_for(paths: Iterable[Path], configured: int) -> int:
    """How many worker processes a load of these files should use."""
    return configured if sum(p.stat().st_size for p in paths) >= POOL_MIN_BYTES else 0


@contextmanager
def _workers(count: int) -> Iterator[Mapper]:
    """`map` in this process, or the ordered `imap` of `count` worker processes (spawned: the
    loader's database connections are not inherited)."""
    if count <= 0:
        yield map
        return
    pool = multiprocessing.get_context("spawn").Pool(count)
    try:
        yield pool.imap
    finally:
        pool.terminate()
        pool.join()


def load_members(
    session: Session,
    tenant: str,
    paths: Iterable[Path],
    *,
    on_bytes: Callable[[int], object] | None = None,
    batch_size: int = BATCH_SIZE,
    mode: LoadMode = LoadMode.DELTA,
    as_of: date | None = None,
    workers: int = 0,
) -> LoadReport:
    """Load files into the tenant's member index; the caller commits only if `report.ok`.
    `as_of` (default today): the date leavers' coverage ends. `workers`: processes that validate
    and standardise lines beside this one (0: all in this process)."""
    as_of = as_of or date.today()
    report = LoadReport()
    seen: dict[str, tuple[str, int]] = {}
    batch: list[PreparedMember] = []
    known = tenant_members(session, tenant)
    stored = {content: member_id for member_id, (_, content) in known.items()}

    def fail(name: str, line: int, message: str) -> None:
        report.error_count += 1
        if len(report.errors) < MAX_REPORTED_ERRORS:
            report.errors.append((name, line, message))

    staging = ExitStack()
    staged: list[bool] = []  # set once a full batch is written: a large load

    def flush() -> None:
        if batch and report.ok:
            if len(batch) >= batch_size and not staged:
                # Its blocking keys are staged and go into the index sorted, at the end.
                staging.enter_context(staged_blocking_keys(session))
                staged.append(True)
            report.counts.add(upsert_members(session, tenant, batch, known))
        batch.clear()

    with staging, _workers(workers) as mapper:
        for path in paths:
            report.files.append(str(path))
            outcomes = _in_order(open_source(path, on_bytes, mapper), stored, as_of, mapper)
            with closing(outcomes):
                for outcome in outcomes:
                    if isinstance(outcome, SourceError):
                        fail(path.name, outcome.line, outcome.message)
                        continue
                    report.read += 1
                    report.inactive += not outcome.active
                    member_id = (
                        outcome.member_id
                        if isinstance(outcome, _Unchanged)
                        else outcome.member.member_id
                    )
                    line = outcome.line
                    if member_id in seen:
                        first = seen[member_id]
                        fail(path.name, line, f"member id repeats {first[0]} line {first[1]}")
                        continue
                    seen[member_id] = (path.name, line)
                    if isinstance(outcome, _Unchanged):
                        report.counts.unchanged += 1
                        continue
                    batch.append(outcome.member)
                    if len(batch) >= batch_size:
                        flush()
        flush()
        if staged and report.ok:
            write_staged_blocking_keys(session)
    if mode is LoadMode.SNAPSHOT and report.ok and not seen:
        # An empty or wrongly chosen file would otherwise end everyone's coverage.
        fail("(snapshot)", 0, "a snapshot with no members would terminate every member")
    if report.ok and mode is LoadMode.SNAPSHOT:
        report.terminated = terminate_absent(session, tenant, seen.keys(), as_of)
    changed = report.counts.inserted + report.counts.updated + report.terminated
    if report.ok and statistics_stale(changed, members_before=len(known)):
        refresh_statistics(session)
    return report


# A load that changes this many members, or a tenth of the master, refreshes the planner's
# statistics; a smaller delta (an admin API change of a few members) leaves them: ANALYZE reads
# every index, seconds at 1M members, while holding SQLite's one writer.
STATISTICS_REFRESH_MEMBERS = 10_000


def statistics_stale(changed: int, *, members_before: int) -> bool:
    """Whether a load changed enough of the master for the planner's statistics to be stale."""
    if changed <= 0:
        return False
    return changed >= STATISTICS_REFRESH_MEMBERS or changed * 10 >= members_before
