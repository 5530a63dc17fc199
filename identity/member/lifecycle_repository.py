"""SQL for a member's lifecycle as an operator reads it: the
`member_lifecycle` view (migration 0021: the last covered day once all coverage ended, and the
erasure while the record is still erased)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

_LIFECYCLE = text(
    "SELECT member_id, terminated_on, erased_at FROM member_lifecycle "
    "WHERE tenant_id = :tenant AND member_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def lifecycle(
    session: Session, tenant: str, member_ids: Sequence[str]
) -> dict[str, tuple[date | None, datetime | None]]:
    """member id -> (last covered day if every coverage period ended, erasure time if the
    record is still erased), from the view. SQLite hands the view's values back as text."""
    rows = session.execute(_LIFECYCLE, {"tenant": tenant, "ids": list(member_ids)})
    return {r.member_id: (_date(r.terminated_on), _time(r.erased_at)) for r in rows}


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value
