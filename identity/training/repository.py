"""All SQL training needs: read-only scans of a tenant's members and stored match requests.

Both scans stream in primary-key order with `yield_per`, so a million members never sit in the
session's identity map and the order (hence the splink input) is the same run after run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from identity.db import in_chunks
from identity.models import MatchDecision, Member

# The columns `identity.member.repository.record_from_row` reads, and nothing heavier (not `raw`).
_MEMBER_COLUMNS = (
    Member.member_id,
    Member.given,
    Member.middle,
    Member.family,
    Member.suffix,
    Member.given_phonetic,
    Member.family_phonetic,
    Member.birth_date,
    Member.sex,
    Member.phone,
    Member.email,
    Member.address_line,
    Member.unit,
    Member.city,
    Member.state,
    Member.zip5,
    Member.ssn,
    Member.extra,
)

BATCH = 20_000


def count_members(session: Session, tenant: str) -> int:
    return int(session.scalar(select(func.count()).where(Member.tenant_id == tenant)) or 0)


def iter_member_features(session: Session, tenant: str) -> Iterator[Row[str, str | None]]:
    """(member id, compact features) of every member of the tenant, in primary-key order: two
    columns instead of eighteen, for a scan of the whole master."""
    stmt = (
        select(Member.member_id, Member.features)
        .where(Member.tenant_id == tenant)
        .order_by(Member.id)
        .execution_options(yield_per=BATCH)
    )
    yield from session.connection().execute(stmt)


def member_rows_by_id(
    session: Session, tenant: str, member_ids: Sequence[str]
) -> Iterator[Row[Any]]:
    """The named members of the tenant, the columns `record_from_row` reads (dedupe reads back
    only the members of the pairs it scored; a scan falls back to them for unreadable features)."""
    for chunk in in_chunks(member_ids):
        stmt = select(*_MEMBER_COLUMNS).where(
            Member.tenant_id == tenant, Member.member_id.in_(chunk)
        )
        yield from session.connection().execute(stmt)


def _unpurged(tenant: str) -> ColumnElement[bool]:
    """The tenant's decisions whose query is still stored (retention redacts older ones)."""
    return (MatchDecision.tenant_id == tenant) & MatchDecision.purged_at.is_(None)


def count_requests(session: Session, tenant: str) -> int:
    return int(session.scalar(select(func.count()).where(_unpurged(tenant))) or 0)


def iter_request_queries(session: Session, tenant: str) -> Iterator[tuple[str, str, Any]]:
    """(decision id, input fingerprint, standardised query) of each stored match request whose
    demographics retention has not yet purged.

    Only `evidence["query"]` is read (a JSON path on both databases), not the whole evidence with
    its candidates, which is many times larger.
    """
    stmt = (
        select(
            MatchDecision.id,
            MatchDecision.input_fingerprint,
            MatchDecision.stored_evidence["query"],
        )
        .where(_unpurged(tenant))
        .order_by(MatchDecision.created_at, MatchDecision.id)
        .execution_options(yield_per=BATCH)
    )
    for decision_id, fingerprint, query in session.connection().execute(stmt):
        yield str(decision_id), str(fingerprint), query
