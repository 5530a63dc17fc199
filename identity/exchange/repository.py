"""All SQL for $member-match: attempts, pending requests, and the lookups the answer needs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from identity.db import in_chunks, insert_row
from identity.exchange.guard import Tried
from identity.models import (
    MatchDecision,
    Member,
    MemberMatchAttempt,
    MemberMatchRequest,
    ReviewItem,
)

# The guard's purge runs on every $member-match: a prebuilt Core statement on the table (an ORM
# DELETE also plans how to synchronise the session, which nothing here needs).
_ATTEMPTS = cast(Table, MemberMatchAttempt.__table__)
_FORGET_ATTEMPTS = delete(_ATTEMPTS).where(
    _ATTEMPTS.c.tenant_id == bindparam("tenant"),
    _ATTEMPTS.c.client_id == bindparam("client"),
    _ATTEMPTS.c.attempted_at < bindparam("before"),
)


def tried(
    session: Session,
    tenant: str,
    client_id: str,
    demographics_keys: Collection[str],
    card_keys: Collection[str],
    since: datetime,
) -> Tried:
    """What the client tried since `since`: the cards per demographics key and the people per
    card key, for the keys given (one request's, or a batch's)."""
    found = Tried()
    recent = (
        _ATTEMPTS.c.tenant_id == tenant,
        _ATTEMPTS.c.client_id == client_id,
        _ATTEMPTS.c.attempted_at >= since,
    )
    last_tried = func.max(_ATTEMPTS.c.attempted_at)
    connection = session.connection()
    for chunk in in_chunks(demographics_keys):
        rows = connection.execute(
            select(_ATTEMPTS.c.demographics_key, _ATTEMPTS.c.card_key, last_tried)
            .where(*recent, _ATTEMPTS.c.demographics_key.in_(chunk))
            .group_by(_ATTEMPTS.c.demographics_key, _ATTEMPTS.c.card_key)
        )
        for key, card, last in rows:
            found.cards.setdefault(key, {})[card] = _utc(last)
    for chunk in in_chunks(card_keys):
        rows = connection.execute(
            select(_ATTEMPTS.c.card_key, _ATTEMPTS.c.person_key, last_tried)
            .where(*recent, _ATTEMPTS.c.card_key.in_(chunk))
            .group_by(_ATTEMPTS.c.card_key, _ATTEMPTS.c.person_key)
        )
        for card, person, last in rows:
            found.people.setdefault(card, {})[person] = _utc(last)
    return found


def _utc(moment: Any) -> datetime:
    """A stored time, UTC-aware (SQLite gives it back naive; func.max may give it as text)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def add_attempt(session: Session, attempt: MemberMatchAttempt) -> None:
    insert_row(session, attempt)


def forget_attempts_before(session: Session, tenant: str, client_id: str, before: datetime) -> None:
    params = {"tenant": tenant, "client": client_id, "before": before}
    session.connection().execute(_FORGET_ATTEMPTS, params)


def latest_review_for(session: Session, tenant: str, fingerprint: str) -> ReviewItem | None:
    """The newest review item opened for the same standardised request, if any."""
    return session.scalars(
        select(ReviewItem)
        .join(MatchDecision, MatchDecision.id == ReviewItem.match_id)
        .where(
            ReviewItem.tenant_id == tenant,
            MatchDecision.tenant_id == tenant,
            MatchDecision.input_fingerprint == fingerprint,
        )
        .order_by(ReviewItem.created_at.desc())
        .limit(1)
    ).first()


def add_request(session: Session, request: MemberMatchRequest) -> None:
    insert_row(session, request)


def get_request(session: Session, tenant: str, match_id: str) -> MemberMatchRequest | None:
    row = session.get(MemberMatchRequest, match_id)
    return row if row is not None and row.tenant_id == tenant else None


def patient_id(session: Session, tenant: str, member_id: str) -> str | None:
    """The member's FHIR Patient id as loaded (what the payer's FHIR server serves)."""
    raw = session.scalar(
        select(Member.raw).where(Member.tenant_id == tenant, Member.member_id == member_id)
    )
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
            source = (raw or {}).get("source") or {}
            value = source.get("id") if source.get("resourceType") == "Patient" else None
            found[member_id] = str(value) if value else None
    return found


def add_requests(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(MemberMatchRequest), list(rows))


def add_attempts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(MemberMatchAttempt), list(rows))
