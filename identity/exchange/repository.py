"""All SQL for $member-match: attempts, pending requests, and the lookups the answer needs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from identity.db import in_chunks, insert_row
from identity.models import (
    MatchDecision,
    Member,
    MemberMatchAttempt,
    MemberMatchRequest,
    ReviewItem,
)

# The guard's read and purge run on every $member-match: prebuilt Core statements on the table
# (an ORM DELETE also plans how to synchronise the session, which nothing here needs).
_ATTEMPTS = cast(Table, MemberMatchAttempt.__table__)
_CARDS_TRIED = (
    select(_ATTEMPTS.c.card_key)
    .where(
        _ATTEMPTS.c.tenant_id == bindparam("tenant"),
        _ATTEMPTS.c.client_id == bindparam("client"),
        _ATTEMPTS.c.demographics_key == bindparam("key"),
        _ATTEMPTS.c.attempted_at >= bindparam("since"),
    )
    .distinct()
)
_FORGET_ATTEMPTS = delete(_ATTEMPTS).where(
    _ATTEMPTS.c.tenant_id == bindparam("tenant"),
    _ATTEMPTS.c.client_id == bindparam("client"),
    _ATTEMPTS.c.attempted_at < bindparam("before"),
)


def cards_tried(
    session: Session, tenant: str, client_id: str, demographics_key: str, since: datetime
) -> set[str]:
    params = {"tenant": tenant, "client": client_id, "key": demographics_key, "since": since}
    return set(session.connection().execute(_CARDS_TRIED, params).scalars())


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


def cards_tried_many(
    session: Session,
    tenant: str,
    client_id: str,
    demographics_keys: Collection[str],
    since: datetime,
) -> dict[str, set[str]]:
    """`cards_tried` for many demographics keys at once: key -> the cards tried with it."""
    tried: dict[str, set[str]] = {}
    for chunk in in_chunks(demographics_keys):
        rows = session.execute(
            select(MemberMatchAttempt.demographics_key, MemberMatchAttempt.card_key)
            .where(
                MemberMatchAttempt.tenant_id == tenant,
                MemberMatchAttempt.client_id == client_id,
                MemberMatchAttempt.demographics_key.in_(chunk),
                MemberMatchAttempt.attempted_at >= since,
            )
            .distinct()
        )
        for key, card in rows:
            tried.setdefault(key, set()).add(card)
    return tried


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
