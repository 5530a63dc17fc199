"""All SQL for $member-match: attempts, pending requests, and the lookups the answer needs."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnClause,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from identity.db import IN_CHUNK, in_chunks, insert_row
from identity.exchange.guard import Tried
from identity.models import (
    Coverage,
    MatchDecision,
    Member,
    MemberMatchAttempt,
    MemberMatchRequest,
    ReviewItem,
)

# The guard's purge and attempts are on the hot path: prebuilt Core statements on the table (an
# ORM DELETE also plans how to synchronise the session, which nothing here needs).
_ATTEMPTS = cast(Table, MemberMatchAttempt.__table__)
_FORGET_ATTEMPTS = delete(_ATTEMPTS).where(
    _ATTEMPTS.c.tenant_id == bindparam("tenant"),
    _ATTEMPTS.c.client_id == bindparam("client"),
    _ATTEMPTS.c.attempted_at < bindparam("before"),
)
_ADD_ATTEMPT = insert(_ATTEMPTS)
# What each branch of `tried`'s one statement reads: the oldest attempt, cards, people.
_KIND_OLDEST: ColumnClause[str] = literal_column("'o'")
_KIND_CARDS: ColumnClause[str] = literal_column("'c'")
_KIND_PEOPLE: ColumnClause[str] = literal_column("'p'")


def tried(
    session: Session,
    tenant: str,
    client_id: str,
    demographics_keys: Collection[str],
    card_keys: Collection[str],
    since: datetime,
) -> Tried:
    """What the client tried since `since`: the cards per demographics key and the people per
    card key, for the keys given (one request's, or a batch's), and the client's oldest stored
    attempt (whether any are due to be forgotten). One statement for a request's keys: the
    counts and the oldest are branches of one UNION ALL."""
    found = Tried()
    recent = (
        _ATTEMPTS.c.tenant_id == tenant,
        _ATTEMPTS.c.client_id == client_id,
        _ATTEMPTS.c.attempted_at >= since,
    )
    last_tried = func.max(_ATTEMPTS.c.attempted_at)
    sizes = [0]
    branches: list[Select[str, Any, Any, Any]] = [
        select(_KIND_OLDEST, null(), null(), func.min(_ATTEMPTS.c.attempted_at)).where(
            _ATTEMPTS.c.tenant_id == tenant, _ATTEMPTS.c.client_id == client_id
        )
    ]
    for chunk in in_chunks(demographics_keys):
        sizes.append(len(chunk))
        branches.append(
            select(_KIND_CARDS, _ATTEMPTS.c.demographics_key, _ATTEMPTS.c.card_key, last_tried)
            .where(*recent, _ATTEMPTS.c.demographics_key.in_(chunk))
            .group_by(_ATTEMPTS.c.demographics_key, _ATTEMPTS.c.card_key)
        )
    for chunk in in_chunks(card_keys):
        sizes.append(len(chunk))
        branches.append(
            select(_KIND_PEOPLE, _ATTEMPTS.c.card_key, _ATTEMPTS.c.person_key, last_tried)
            .where(*recent, _ATTEMPTS.c.card_key.in_(chunk))
            .group_by(_ATTEMPTS.c.card_key, _ATTEMPTS.c.person_key)
        )
    connection = session.connection()
    for part in _within_chunk(branches, sizes):
        stmt = union_all(*part) if len(part) > 1 else part[0]
        for kind, key, value, moment in connection.execute(stmt):
            if kind == "o":  # the client's oldest attempt, of any age
                found.oldest = _utc(moment) if moment is not None else None
            elif kind == "c":
                found.cards.setdefault(key, {})[value] = _utc(moment)
            else:
                found.people.setdefault(key, {})[value] = _utc(moment)
    return found


def _within_chunk(
    branches: list[Select[str, Any, Any, Any]], sizes: list[int]
) -> Iterator[list[Select[str, Any, Any, Any]]]:
    """The branches in order, as many per statement as keep its IN lists within IN_CHUNK values
    together (a request's all in one; a large batch's one chunk each)."""
    part: list[Select[str, Any, Any, Any]] = []
    held = 0
    for branch, size in zip(branches, sizes, strict=True):
        if part and held + size > IN_CHUNK:
            yield part
            part, held = [], 0
        part.append(branch)
        held += size
    if part:
        yield part


def _utc(moment: Any) -> datetime:
    """A stored time, UTC-aware (SQLite gives it back naive; func.max may give it as text)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def add_attempt(session: Session, row: dict[str, Any]) -> None:
    """One attempt, written now (under the guard's lock) and without reading its key back."""
    session.connection().execute(_ADD_ATTEMPT, row)


def forget_attempts_before(session: Session, tenant: str, client_id: str, before: datetime) -> None:
    params = {"tenant": tenant, "client": client_id, "before": before}
    session.connection().execute(_FORGET_ATTEMPTS, params)


# `latest_review_for` runs on every $member-match: a prebuilt Core statement of the columns the
# answer reads (loading a ReviewItem entity cost more than the query, which mostly finds none).
_LATEST_REVIEW = (
    select(
        ReviewItem.id,
        ReviewItem.match_id,
        ReviewItem.status,
        ReviewItem.reason,
        ReviewItem.resolution,
        ReviewItem.resolved_member_id,
        ReviewItem.policy_version,
    )
    .join(MatchDecision, MatchDecision.id == ReviewItem.match_id)
    .where(
        ReviewItem.tenant_id == bindparam("tenant"),
        MatchDecision.tenant_id == bindparam("tenant"),
        MatchDecision.input_fingerprint == bindparam("fingerprint"),
    )
    .order_by(ReviewItem.created_at.desc())
    .limit(1)
)


def latest_review_for(
    session: Session, tenant: str, fingerprint: str
) -> Row[str, str, str, str, str | None, str | None, str] | None:
    """The newest review item opened for the same standardised request, if any: the columns
    `service.answer_after_review` reads, by name."""
    params = {"tenant": tenant, "fingerprint": fingerprint}
    return session.connection().execute(_LATEST_REVIEW, params).first()


def add_request(session: Session, request: MemberMatchRequest) -> None:
    insert_row(session, request)


def get_request(session: Session, tenant: str, match_id: str) -> MemberMatchRequest | None:
    row = session.get(MemberMatchRequest, match_id)
    return row if row is not None and row.tenant_id == tenant else None


def answered_member(
    session: Session, tenant: str, member_id: str
) -> tuple[str | None, list[date | None]]:
    """What a token for the member needs, in one read: its FHIR Patient id as loaded (what the
    payer's FHIR server serves) and the end dates of its coverage periods (None: open; as
    `member.repository.coverage_ends` reads them, for its coverage status)."""
    rows = session.execute(
        select(Member.raw, Coverage.id, Coverage.period_end)
        .outerjoin(Coverage, Coverage.member_pk == Member.id)
        .where(Member.tenant_id == tenant, Member.member_id == member_id)
    ).all()
    ends = [end for _, coverage_id, end in rows if coverage_id is not None]
    return (_patient_id(rows[0][0]) if rows else None), ends


def _patient_id(raw: dict[str, Any] | None) -> str | None:
    source = (raw or {}).get("source") or {}
    value = source.get("id") if source.get("resourceType") == "Patient" else None
    return str(value) if value else None


def count_attempts(session: Session, tenant: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(MemberMatchAttempt)
            .where(MemberMatchAttempt.tenant_id == tenant)
        )
        or 0
    )


# --- The same lookups and writes for a batch of requests (a $bulk-member-match batch) ---


def latest_reviews_for(
    session: Session, tenant: str, fingerprints: Collection[str]
) -> dict[str, ReviewItem]:
    """`latest_review_for` for many fingerprints at once: fingerprint -> its newest item."""
    latest: dict[str, ReviewItem] = {}
    for chunk in in_chunks(fingerprints):
        rows = session.execute(
            select(MatchDecision.input_fingerprint, ReviewItem)
            .join(MatchDecision, MatchDecision.id == ReviewItem.match_id)
            .where(
                ReviewItem.tenant_id == tenant,
                MatchDecision.tenant_id == tenant,
                MatchDecision.input_fingerprint.in_(chunk),
            )
            .order_by(ReviewItem.created_at)
        )
        for fingerprint, item in rows:
            latest[fingerprint] = item  # oldest first, so the newest stays
    return latest


def patient_ids(
    session: Session, tenant: str, member_ids: Collection[str]
) -> dict[str, str | None]:
    """`patient_id` for many members at once: member id -> its FHIR Patient id, if any."""
    found: dict[str, str | None] = {}
    for chunk in in_chunks(member_ids):
        rows = session.execute(
            select(Member.member_id, Member.raw).where(
                Member.tenant_id == tenant, Member.member_id.in_(chunk)
            )
        )
        for member_id, raw in rows:
            found[member_id] = _patient_id(raw)
    return found


def add_requests(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(MemberMatchRequest), list(rows))


def add_attempts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(MemberMatchAttempt), list(rows))
