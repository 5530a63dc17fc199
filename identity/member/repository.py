"""All SQL about members: bulk upsert of the index, and candidate retrieval by blocking keys."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, String, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from identity.db import in_chunks
from identity.matching.engine import Candidate
from identity.matching.evidence_render import render_evidence
from identity.matching.record import StandardRecord
from identity.member import features, store_registry
from identity.member.load_repository import (
    insert_blocking_keys,
    insert_coverages,
    insert_members,
)
from identity.models import BlockingKey, Coverage, MatchDecision, Member

# Scalar standardised fields stored as columns of the same name.
_SCALAR = (
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
)
# Multi-valued fields stored together in the `extra` JSON column.
_MULTI = ("family_parts", "earlier_families", "phones", "subscriber_ids", "given_canonicals")

_CANDIDATE_COLUMNS = (
    Member.id,
    Member.member_id,
    *(getattr(Member, c) for c in _SCALAR),
    Member.extra,
)

# The reads of matching, built once as Core statements (expanding IN lists): building a select
# per request and the ORM's compile step around it were a tenth of a request's CPU.
_KEYS = cast(Table, BlockingKey.__table__)
_MEMBERS = cast(Table, Member.__table__)
# Members by primary key, every standardised column (a row without features).
_CANDIDATE_ROWS = select(
    _MEMBERS.c.tenant_id, *(_MEMBERS.c[c.key] for c in _CANDIDATE_COLUMNS)
).where(_MEMBERS.c.id.in_(bindparam("pks", expanding=True)))


class _IsoDate(FunctionElement[str]):
    """A date as ISO 8601 text, whatever the PostgreSQL session's DateStyle."""

    type = String()
    name = "iso_date"
    inherit_cache = True


@compiles(_IsoDate)
def _iso_date_sqlite(element: _IsoDate, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))  # SQLite keeps dates as ISO text


@compiles(_IsoDate, "postgresql")
def _iso_date_postgresql(element: _IsoDate, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD')"


# A member's coverage end dates, read with its features (a correlated subquery on the coverage's
# member index): "" an open period, NULL no period on file. Never stored beside the record, so a
# termination or reinstatement needs nothing rewritten but its coverage rows.
_COVERAGE = cast(Table, Coverage.__table__)
_ENDS = (
    select(func.aggregate_strings(func.coalesce(_IsoDate(_COVERAGE.c.period_end), ""), ","))
    .where(_COVERAGE.c.member_pk == _MEMBERS.c.id)
    .scalar_subquery()
    .label("ends")
)
FEATURE_COLUMNS = (_MEMBERS.c.tenant_id, _MEMBERS.c.member_id, _MEMBERS.c.features, _ENDS)
# A match's key hits (an index-only read of the blocking keys); the chosen members' features are
# read after the choice, so the members of oversized blocks (a common family name at 1M members:
# hundreds of rows a key) are never read or their coverage aggregated.
_HITS = (
    select(_KEYS.c.key, _KEYS.c.member_pk)
    .where(
        _KEYS.c.tenant_id == bindparam("tenant"),
        _KEYS.c.key.in_(bindparam("keys", expanding=True)),
    )
    .limit(bindparam("limit"))
)
# A batch's key hits: each key's first members by primary key, at most `per_key` of them.
_NUMBERED_HITS = (
    select(
        _KEYS.c.key,
        _KEYS.c.member_pk,
        func.row_number().over(partition_by=_KEYS.c.key, order_by=_KEYS.c.member_pk).label("n"),
    )
    .where(
        _KEYS.c.tenant_id == bindparam("tenant"),
        _KEYS.c.key.in_(bindparam("keys", expanding=True)),
    )
    .subquery()
)
_KEY_HITS = select(_NUMBERED_HITS.c.key, _NUMBERED_HITS.c.member_pk).where(
    _NUMBERED_HITS.c.n <= bindparam("per_key")
)
# A batch's members by primary key (its key hits are read apart, per key).
# (The in-memory member store reads its rows with this statement too: the same values.)
MEMBER_ROWS = select(_MEMBERS.c.id.label("member_pk"), *FEATURE_COLUMNS).where(
    _MEMBERS.c.id.in_(bindparam("pks", expanding=True))
)


def record_columns(record: StandardRecord) -> dict[str, Any]:
    """The member table's standardised columns for a record, and its compact `features`."""
    cols: dict[str, Any] = {c: getattr(record, c) for c in _SCALAR}
    cols["extra"] = {
        m: sorted(getattr(record, m)) if m == "given_canonicals" else list(getattr(record, m))
        for m in _MULTI
    }
    cols["features"] = features.encode(record)
    return cols


def record_from_row(row: Row[Any] | Member) -> StandardRecord:
    extra = row.extra or {}
    values: dict[str, Any] = {c: getattr(row, c) for c in _SCALAR}
    if isinstance(values["birth_date"], str):  # JSON-typed drivers may hand back text
        values["birth_date"] = date.fromisoformat(values["birth_date"])
    return StandardRecord(
        **values,
        member_id=row.member_id,
        family_parts=tuple(extra.get("family_parts", ())),
        earlier_families=tuple(extra.get("earlier_families", ())),
        phones=tuple(extra.get("phones", ())),
        subscriber_ids=tuple(extra.get("subscriber_ids", ())),
        given_canonicals=frozenset(extra.get("given_canonicals", ())),
    )


@dataclass(frozen=True, slots=True)
class PreparedMember:
    """A member ready to write: everything computed, nothing left to decide in SQL."""

    member_id: str
    content_hash: str
    raw: dict[str, Any]
    record: StandardRecord
    keys: tuple[str, ...]
    coverages: tuple[dict[str, Any], ...]


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


def upsert_members(
    session: Session,
    tenant: str,
    batch: Sequence[PreparedMember],
    known: Mapping[str, tuple[int, str]] | None = None,
) -> UpsertCounts:
    """Insert new members, rewrite changed ones, skip identical ones (keyed by member id).
    `known`: the tenant's members (member id -> (primary key, content hash)) when the caller
    read them all at once (`load_repository.tenant_members`); else this batch's are read here."""
    counts = UpsertCounts()
    if not batch:
        return counts
    existing = (
        known
        if known is not None
        else {
            r.member_id: (r.id, r.content_hash)
            for r in session.execute(
                select(Member.id, Member.member_id, Member.content_hash).where(
                    Member.tenant_id == tenant, Member.member_id.in_([m.member_id for m in batch])
                )
            )
        }
    )
    new = [m for m in batch if m.member_id not in existing]
    changed = [
        m for m in batch if m.member_id in existing and existing[m.member_id][1] != m.content_hash
    ]
    counts.unchanged = len(batch) - len(new) - len(changed)
    pk_by_id: dict[str, int] = {}
    if new:
        rows = [
            {
                "tenant_id": tenant,
                "member_id": m.member_id,
                "content_hash": m.content_hash,
                "raw": m.raw,
                **record_columns(m.record),
            }
            for m in new
        ]
        pk_by_id.update(insert_members(session, rows))
        counts.inserted = len(new)
    if changed:
        changed_pks = [existing[m.member_id][0] for m in changed]
        session.execute(
            update(Member),
            [
                {
                    "id": existing[m.member_id][0],
                    "content_hash": m.content_hash,
                    "raw": m.raw,
                    **record_columns(m.record),
                }
                for m in changed
            ],
        )
        for chunk in in_chunks(changed_pks):
            session.execute(delete(BlockingKey).where(BlockingKey.member_pk.in_(chunk)))
            session.execute(delete(Coverage).where(Coverage.member_pk.in_(chunk)))
        pk_by_id.update({m.member_id: existing[m.member_id][0] for m in changed})
        counts.updated = len(changed)
    written = [*new, *changed]
    insert_blocking_keys(
        session,
        [
            {"tenant_id": tenant, "key": k, "member_pk": pk_by_id[m.member_id]}
            for m in written
            for k in m.keys
        ],
    )
    insert_coverages(
        session,
        [
            {"tenant_id": tenant, "member_pk": pk_by_id[m.member_id], **c}
            for m in written
            for c in m.coverages
        ],
    )
    return counts


BARE_PERIOD = {
    "subscriber_id": None,
    "relationship": None,
    "period_start": None,
    "period_end": None,
    "payor": None,
}


def _terminated_hash(content_hash: str) -> str:
    """A terminated member's content hash: no file's, so the member's return in a later snapshot
    (the same record again) is a change that restores the source's coverage."""
    return hashlib.sha256(f"{content_hash}|terminated".encode()).hexdigest()


def terminate_absent(session: Session, tenant: str, present: Iterable[str], on: date) -> int:
    """End the open coverage of the tenant's members not in `present` (the member ids of a
    snapshot dated `on`): their last covered day is the day before. Members whose coverage had
    already ended are left alone. Returns how many were terminated. Never deletes: ids,
    decisions and the audit trail keep pointing at the member."""
    keep = set(present)
    absent = {
        pk: content_hash
        for pk, member_id, content_hash in session.execute(
            select(Member.id, Member.member_id, Member.content_hash).where(
                Member.tenant_id == tenant
            )
        )
        if member_id not in keep
    }
    return len(end_open_coverage(session, tenant, absent, on))


def end_open_coverage(
    session: Session, tenant: str, members: Mapping[int, str], on: date
) -> list[int]:
    """Terminate these members (primary key -> content hash) on `on`: coverage still open then
    ends the day before (a bare period records the end for a member with none), and the content
    hash is marked. Members whose coverage had already ended are left alone; returns the primary
    keys of those terminated. Shared by a snapshot's absentees and the admin API's termination."""
    last = on - timedelta(days=1)
    open_pks: list[int] = []
    for chunk in in_chunks(sorted(members)):
        ends: dict[int, list[date | None]] = {pk: [] for pk in chunk}
        for pk, end in session.execute(
            select(Coverage.member_pk, Coverage.period_end).where(Coverage.member_pk.in_(chunk))
        ):
            ends[pk].append(end)
        open_pks += [pk for pk, e in ends.items() if not e or any(x is None or x > last for x in e)]
    for chunk in in_chunks(open_pks):
        session.execute(
            update(Coverage)
            .where(
                Coverage.member_pk.in_(chunk),
                (Coverage.period_end.is_(None)) | (Coverage.period_end > last),
            )
            .values(period_end=last)
        )
        with_rows = set(
            session.scalars(select(Coverage.member_pk).where(Coverage.member_pk.in_(chunk)))
        )
        bare = [
            {"tenant_id": tenant, "member_pk": pk, **BARE_PERIOD, "period_end": last}
            for pk in chunk
            if pk not in with_rows
        ]
        if bare:
            session.execute(insert(Coverage), bare)
        session.execute(
            update(Member),
            [{"id": pk, "content_hash": _terminated_hash(members[pk])} for pk in chunk],
        )
    return open_pks


def add_open_coverage(session: Session, tenant: str, pk: int, content_hash: str, on: date) -> None:
    """Reinstate a member: a coverage period from `on`, open-ended, and a marked content hash
    (as a termination's is), so a later load of the member's source line is a change again and
    restores what the source says."""
    session.execute(
        insert(Coverage),
        [{"tenant_id": tenant, "member_pk": pk, **BARE_PERIOD, "period_start": on}],
    )
    marked = hashlib.sha256(f"{content_hash}|reinstated".encode()).hexdigest()
    session.execute(update(Member), [{"id": pk, "content_hash": marked}])


def member_state(session: Session, tenant: str, member_id: str) -> tuple[int, str] | None:
    """(primary key, content hash) of the tenant's member, locked until the transaction ends
    (on PostgreSQL), so two lifecycle changes of one member apply one after the other."""
    row = session.execute(
        select(Member.id, Member.content_hash)
        .where(Member.tenant_id == tenant, Member.member_id == member_id)
        .with_for_update()
    ).first()
    return (row.id, row.content_hash) if row is not None else None


def coverage_ends(
    session: Session, tenant: str, member_ids: Sequence[str]
) -> dict[str, list[date | None]]:
    """The end dates of each member's coverage periods (None: open), by member id; a member
    without any period maps to an empty list."""
    if not member_ids:
        return {}
    ends: dict[str, list[date | None]] = {m: [] for m in member_ids}
    rows = session.execute(
        select(Member.member_id, Coverage.period_end)
        .join(Coverage, Coverage.member_pk == Member.id)
        .where(Member.tenant_id == tenant, Member.member_id.in_(list(member_ids)))
    )
    for member_id, end in rows:
        ends[member_id].append(end)
    return ends


def member_pks(session: Session, tenant: str, member_ids: Sequence[str]) -> dict[str, int]:
    """The primary keys of the tenant's members with these ids (unknown ids are absent)."""
    found: dict[str, int] = {}
    for chunk in in_chunks(set(member_ids)):
        rows = session.execute(
            select(Member.member_id, Member.id).where(
                Member.tenant_id == tenant, Member.member_id.in_(chunk)
            )
        )
        found.update({member_id: pk for member_id, pk in rows})
    return found


def erase_demographics(
    session: Session, tenant: str, pks: Sequence[int], erased_at: datetime
) -> None:
    """Empty the members' demographics (standardised columns, the source as loaded, the
    multi-valued fields) and note when, drop their blocking keys (nothing can find them any
    more) and their cards' subscriber ids; their rows, ids and coverage periods stay."""
    blank: dict[str, Any] = dict.fromkeys(_SCALAR) | {"features": features.encode(StandardRecord())}
    for chunk in in_chunks(set(pks)):
        session.execute(
            update(Member),
            [
                {
                    "id": pk,
                    **blank,
                    "extra": {},
                    "raw": {"erased": True},
                    "content_hash": hashlib.sha256(f"erased|{pk}".encode()).hexdigest(),
                    "erased_at": erased_at,
                }
                for pk in chunk
            ],
        )
        session.execute(
            delete(BlockingKey).where(
                BlockingKey.tenant_id == tenant, BlockingKey.member_pk.in_(chunk)
            )
        )
        session.execute(
            update(Coverage)
            .where(Coverage.tenant_id == tenant, Coverage.member_pk.in_(chunk))
            .values(subscriber_id=None)
        )


def decisions_naming(
    session: Session, tenant: str, member_ids: Collection[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(id, evidence) of the tenant's decisions, not purged yet, that list any of these members
    as a candidate (their evidence holds the member's record). A walk over the tenant's
    decisions: erasure is rare, and the candidate lists are JSON on both databases."""
    wanted = set(member_ids)
    rows = session.execute(
        select(MatchDecision.id, MatchDecision.candidates)
        .where(MatchDecision.tenant_id == tenant, MatchDecision.purged_at.is_(None))
        .execution_options(yield_per=1_000)
    )
    ids = [
        match_id
        for match_id, candidates in rows
        if any(isinstance(c, dict) and c.get("member_id") in wanted for c in candidates or ())
    ]
    found: list[tuple[str, dict[str, Any]]] = []
    for chunk in in_chunks(ids):  # the evidence (the large column) of those only
        found += [
            (match_id, dict(render_evidence(evidence or {})))
            for match_id, evidence in session.execute(
                select(MatchDecision.id, MatchDecision.stored_evidence).where(
                    MatchDecision.id.in_(chunk)
                )
            )
        ]
    return found


def refresh_statistics(session: Session) -> None:
    """ANALYZE after a bulk load, so the planner knows the index is selective."""
    session.execute(text("ANALYZE"))


def count_members(session: Session, tenant: str) -> int:
    return int(session.scalar(select(func.count()).where(Member.tenant_id == tenant)) or 0)


def source_documents(
    session: Session, tenant: str, member_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """What each member's source said, as loaded (a FHIR Patient, or a CSV row), by member id."""
    if not member_ids:
        return {}
    rows = session.execute(
        select(Member.member_id, Member.raw).where(
            Member.tenant_id == tenant, Member.member_id.in_(list(member_ids))
        )
    )
    return {r.member_id: dict((r.raw or {}).get("source") or {}) for r in rows}


@dataclass(frozen=True, slots=True)
class Retrieved:
    """A query's candidates, and their coverage periods' end dates (None: open) by member id,
    read with them for the decision's coverage evidence."""

    candidates: list[Candidate]
    coverage_ends: dict[str, list[date | None]] = field(default_factory=dict)


def find_candidates(
    session: Session,
    tenant: str,
    keys: Iterable[str],
    *,
    max_block_size: int,
    max_candidates: int,
) -> list[Candidate]:
    """Members sharing a blocking key with the query (`retrieve_candidates`' candidates)."""
    return retrieve_candidates(
        session, tenant, keys, max_block_size=max_block_size, max_candidates=max_candidates
    ).candidates


def retrieve_candidates(
    session: Session,
    tenant: str,
    keys: Iterable[str],
    *,
    max_block_size: int,
    max_candidates: int,
) -> Retrieved:
    """Members sharing a blocking key with the query, with their coverage end dates: two
    indexed reads (the key hits, then the chosen members' compact features), never a table scan.

    A key value shared by more than `max_block_size` members is dropped (it discriminates
    nothing). Candidates found under more key names rank first when there are too many.
    """
    wanted = list(keys)
    if not wanted:
        return Retrieved([])
    snapshot = store_registry.current(session, tenant)
    if snapshot is not None:
        found = snapshot.answer(
            wanted, max_block_size=max_block_size, max_candidates=max_candidates
        )
        if found is not None:
            return found
    return _retrieved_by_sql(
        session, tenant, wanted, max_block_size=max_block_size, max_candidates=max_candidates
    )


def _retrieved_by_sql(
    session: Session,
    tenant: str,
    wanted: Sequence[str],
    *,
    max_block_size: int,
    max_candidates: int,
) -> Retrieved:
    """`retrieve_candidates` from the database."""
    connection = session.connection()
    hits = connection.execute(
        _HITS, {"tenant": tenant, "keys": wanted, "limit": max_block_size * len(wanted) + 1}
    ).all()
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, pk in hits:
        per_key[key].append(pk)
    chosen, names_by_member = choose_members(
        per_key, max_block_size=max_block_size, max_candidates=max_candidates
    )
    if not chosen:
        return Retrieved([])
    # By primary key alone: with the member's `tenant_id = ?` as well, SQLite's planner may walk
    # the tenant's (tenant_id, member_id) index instead, reading every member. The tenant is
    # checked on the rows instead (the keys above were already tenant-scoped).
    records, ends = _decoded(session, connection.execute(MEMBER_ROWS, {"pks": chosen}), tenant)
    return Retrieved(as_candidates(chosen, names_by_member, records), ends)


def choose_members(
    per_key: Mapping[str, Sequence[int]], *, max_block_size: int, max_candidates: int
) -> tuple[list[int], dict[int, set[str]]]:
    """The members to score, and the key names each was found under: a key value held by more
    than `max_block_size` members is dropped; members found under more key names rank first.
    Keys and members are visited in order, so ties at the cut break the same way on every
    database and for a single query as for a batch."""
    names_by_member: dict[int, set[str]] = defaultdict(set)
    for key in sorted(per_key):
        pks = per_key[key]
        if len(pks) > max_block_size:
            continue
        for pk in sorted(pks):
            names_by_member[pk].add(key.split(":", 1)[0])
    ranked = Counter({pk: len(names) for pk, names in names_by_member.items()})
    return [pk for pk, _ in ranked.most_common(max_candidates)], names_by_member


def _decoded(
    session: Session, rows: Iterable[Any], tenant: str
) -> tuple[dict[int, tuple[str, StandardRecord]], dict[str, list[date | None]]]:
    """Members' records by primary key, from their features (from their columns where a row
    has none, or one of a layout this code does not know), and their coverage end dates by
    member id; the tenant checked on each row."""
    records: dict[int, tuple[str, StandardRecord]] = {}
    ends: dict[str, list[date | None]] = {}
    unread: list[int] = []
    for r in rows:
        if r.tenant_id != tenant:
            continue
        record = features.decode(r.features, r.member_id) if r.features else None
        if record is None:
            unread.append(r.member_pk)
        else:
            records[r.member_pk] = (r.member_id, record)
        ends[r.member_id] = parse_ends(r.ends)
    for chunk in in_chunks(unread):
        records.update(
            _records(session.connection().execute(_CANDIDATE_ROWS, {"pks": chunk}), tenant)
        )
    return records, ends


def parse_ends(ends: str | None) -> list[date | None]:
    """Coverage end dates as `MEMBER_ROWS` reads them ("" an open period, NULL none on file)."""
    return [] if ends is None else [date.fromisoformat(e) if e else None for e in ends.split(",")]


def _records(rows: Iterable[Row[Any]], tenant: str) -> dict[int, tuple[str, StandardRecord]]:
    """Candidate rows (all their standardised columns) by primary key, the tenant checked."""
    return {r.id: (r.member_id, record_from_row(r)) for r in rows if r.tenant_id == tenant}


def as_candidates(
    chosen: Iterable[int],
    names_by_member: Mapping[int, set[str]],
    records: Mapping[int, tuple[str, StandardRecord]],
) -> list[Candidate]:
    """The chosen members as candidates, by primary key (a member whose row is gone is left
    out); shared by the SQL path and the in-memory store, so both answer alike."""
    return [
        Candidate(pk, records[pk][0], records[pk][1], tuple(sorted(names_by_member[pk])))
        for pk in sorted(chosen)
        if pk in records
    ]


def find_candidates_many(
    session: Session,
    tenant: str,
    keys_per_query: Sequence[Sequence[str]],
    *,
    max_block_size: int,
    max_candidates: int,
) -> list[list[Candidate]]:
    """`find_candidates` for many queries at once (`retrieve_candidates_many`' candidates)."""
    return [
        found.candidates
        for found in retrieve_candidates_many(
            session,
            tenant,
            keys_per_query,
            max_block_size=max_block_size,
            max_candidates=max_candidates,
        )
    ]


def retrieve_candidates_many(
    session: Session,
    tenant: str,
    keys_per_query: Sequence[Sequence[str]],
    *,
    max_block_size: int,
    max_candidates: int,
) -> list[Retrieved]:
    """`retrieve_candidates` for many queries at once (a bulk batch): the same candidates, in
    the same order, with their coverage end dates, for each query, from a few set-based reads
    instead of one per query.

    The keys of every query are read together, each capped at max_block_size + 1 rows (enough to
    tell an oversized key). A query whose own read would have hit `find_candidates`' row limit
    (its keys' true sizes add up past it, which takes an oversized key) is answered by
    `find_candidates` itself, since which rows that limit keeps is the database's choice.

    With a current in-memory member store, each query is answered from it (the ones it cannot
    answer exactly from the database, as one batch)."""
    snapshot = store_registry.current(session, tenant)
    if snapshot is None:
        return _retrieved_many_by_sql(
            session,
            tenant,
            keys_per_query,
            max_block_size=max_block_size,
            max_candidates=max_candidates,
        )
    answers = [
        snapshot.answer(list(keys), max_block_size=max_block_size, max_candidates=max_candidates)
        if keys
        else Retrieved([])
        for keys in keys_per_query
    ]
    unanswered = [i for i, found in enumerate(answers) if found is None]
    if unanswered:
        by_sql = _retrieved_many_by_sql(
            session,
            tenant,
            [keys_per_query[i] for i in unanswered],
            max_block_size=max_block_size,
            max_candidates=max_candidates,
        )
        for i, found in zip(unanswered, by_sql, strict=True):
            answers[i] = found
    if any(found is None for found in answers):  # never: dropping one would shift the rest
        raise RuntimeError("a query of the batch was left without candidates")
    return [found for found in answers if found is not None]


def _retrieved_many_by_sql(
    session: Session,
    tenant: str,
    keys_per_query: Sequence[Sequence[str]],
    *,
    max_block_size: int,
    max_candidates: int,
) -> list[Retrieved]:
    """`retrieve_candidates_many` from the database."""
    wanted_all = sorted({k for keys in keys_per_query for k in keys})
    per_key: dict[str, list[int]] = defaultdict(list)
    connection = session.connection()  # prebuilt Core statements: no ORM compile per chunk
    for chunk in in_chunks(wanted_all):
        rows = connection.execute(
            _KEY_HITS, {"tenant": tenant, "keys": chunk, "per_key": max_block_size + 1}
        )
        for key, pk in rows:
            per_key[key].append(pk)
    oversized = sorted(k for k, pks in per_key.items() if len(pks) > max_block_size)
    true_size: dict[str, int] = {}
    for chunk in in_chunks(oversized):
        counted = session.execute(
            select(BlockingKey.key, func.count())
            .where(BlockingKey.tenant_id == tenant, BlockingKey.key.in_(chunk))
            .group_by(BlockingKey.key)
        )
        true_size.update({key: int(n) for key, n in counted})

    chosen_per_query: list[tuple[list[int], dict[int, set[str]]] | None] = []
    for keys in keys_per_query:
        wanted = set(keys)
        hits = sum(true_size.get(k, len(per_key.get(k, ()))) for k in wanted)
        if hits > max_block_size * len(list(keys)) + 1:
            chosen_per_query.append(None)  # answered one by one below
            continue
        own = {k: per_key[k] for k in wanted if k in per_key}
        chosen_per_query.append(
            choose_members(own, max_block_size=max_block_size, max_candidates=max_candidates)
        )

    needed = sorted({pk for found in chosen_per_query if found for pk in found[0]})
    records: dict[int, tuple[str, StandardRecord]] = {}
    ends: dict[str, list[date | None]] = {}
    for pks in in_chunks(needed):
        decoded, read = _decoded(session, connection.execute(MEMBER_ROWS, {"pks": pks}), tenant)
        records.update(decoded)
        ends.update(read)

    answers: list[Retrieved] = []
    for keys, found in zip(keys_per_query, chosen_per_query, strict=True):
        if found is None:
            answers.append(
                _retrieved_by_sql(
                    session,
                    tenant,
                    list(keys),
                    max_block_size=max_block_size,
                    max_candidates=max_candidates,
                )
            )
        else:
            candidates = as_candidates(found[0], found[1], records)
            answers.append(
                Retrieved(candidates, {c.member_id: ends[c.member_id] for c in candidates})
            )
    return answers
