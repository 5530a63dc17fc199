"""All SQL about match decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Table, Text, bindparam, cast, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from identity.db import insert_row
from identity.matching.evidence_render import render_evidence
from identity.models import MatchDecision


def add_decision(session: Session, decision: MatchDecision) -> None:
    """Written once, never changed: a Core INSERT (the object stays out of the session)."""
    insert_row(session, decision)


def get_decision(session: Session, tenant: str, match_id: str) -> MatchDecision | None:
    return session.scalar(
        select(MatchDecision).where(MatchDecision.tenant_id == tenant, MatchDecision.id == match_id)
    )


_JSON_COLUMNS = ("candidates", "evidence", "timings_ms")


def add_decisions_serialized(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many decisions in one executemany (a bulk batch's), their JSON columns (candidates,
    evidence, timings_ms) already serialised: written as they are, not encoded again."""
    if not rows:
        return
    table = typing_cast(Table, MatchDecision.__table__)
    postgres = session.get_bind().dialect.name == "postgresql"

    def as_json(name: str) -> Any:
        param = bindparam(f"json_{name}", type_=Text)
        return cast(param, JSONB) if postgres else param

    params = []
    for row in rows:
        plain = {k: v for k, v in row.items() if k not in _JSON_COLUMNS}
        params.append(plain | {f"json_{name}": row[name] for name in _JSON_COLUMNS})
    session.execute(insert(table).values({n: as_json(n) for n in _JSON_COLUMNS}), params)


def recent_decisions(
    session: Session,
    tenant: str,
    *,
    since: datetime | None,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[tuple[str, datetime, str, dict[str, Any]]]:
    """(id, created at, input fingerprint, evidence) of the tenant's newest decisions whose
    demographics are still held, newest first, from `before` (a keyset: the last row of the
    previous page): what a shadow run re-decides, a page at a time."""
    query = select(
        MatchDecision.id,
        MatchDecision.created_at,
        MatchDecision.input_fingerprint,
        MatchDecision.stored_evidence,
    ).where(MatchDecision.tenant_id == tenant, MatchDecision.purged_at.is_(None))
    if since is not None:
        query = query.where(MatchDecision.created_at >= since)
    if before is not None:
        created, decision_id = before
        query = query.where(
            (MatchDecision.created_at < created)
            | ((MatchDecision.created_at == created) & (MatchDecision.id > decision_id))
        )
    rows = session.execute(
        query.order_by(MatchDecision.created_at.desc(), MatchDecision.id).limit(limit)
    )
    return [
        (str(i), created, str(fp), render_evidence(evidence)) for i, created, fp, evidence in rows
    ]
