"""All SQL about given-name pairs learned from stewards' links."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Exists, Table, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session

from identity.db import in_chunks
from identity.models import LearnedGivenName, ReviewResolution

# (request given, member given, member's sex, member id, resolution id)
PairRow = tuple[str, str, str | None, str, str]
_PAIR_COLUMNS = (
    LearnedGivenName.request_given,
    LearnedGivenName.member_given,
    LearnedGivenName.sex,
    LearnedGivenName.member_id,
    LearnedGivenName.resolution_id,
)


def add(session: Session, row: LearnedGivenName) -> None:
    session.add(row)
    session.flush()


# Matching's read, built once as a Core statement (expanding IN lists), as the member index's
# reads are: building the select per request cost more than running it.
_TABLE = cast(Table, LearnedGivenName.__table__)
_ACTIVE_NAMING = select(
    _TABLE.c.request_given,
    _TABLE.c.member_given,
    _TABLE.c.sex,
    _TABLE.c.member_id,
    _TABLE.c.resolution_id,
).where(
    _TABLE.c.tenant_id == bindparam("tenant"),
    _TABLE.c.active.is_(True),
    or_(
        _TABLE.c.request_given.in_(bindparam("names", expanding=True)),
        _TABLE.c.member_given.in_(bindparam("names", expanding=True)),
    ),
)


def any_active(tenant: Any) -> Exists:
    """Whether the tenant has any active pair (`tenant`: a value or a bound parameter), for the
    one read that tells matching which stewards' memories it must read at all."""
    return exists().where(_TABLE.c.tenant_id == tenant, _TABLE.c.active.is_(True))


def active_naming(session: Session, tenant: str, names: Collection[str]) -> list[PairRow]:
    """The tenant's active pairs with one of these names on either side."""
    rows: list[PairRow] = []
    for chunk in in_chunks(names):
        found = session.execute(_ACTIVE_NAMING, {"tenant": tenant, "names": chunk})
        rows += [(a, b, sex, member, link) for a, b, sex, member, link in found]
    return rows


def of_resolutions(session: Session, tenant: str, resolution_ids: Sequence[str]) -> list[PairRow]:
    """The pairs these links taught, active or since undone (a replay decides as it was)."""
    rows: list[PairRow] = []
    for chunk in in_chunks(sorted(set(resolution_ids))):
        found = session.execute(
            select(*_PAIR_COLUMNS).where(
                LearnedGivenName.tenant_id == tenant,
                LearnedGivenName.resolution_id.in_(chunk),
            )
        )
        rows += [(a, b, sex, member, link) for a, b, sex, member, link in found]
    return rows


def deactivate_for_item(
    session: Session, tenant: str, item_id: str, *, by: str, now: datetime
) -> None:
    """What the item's earlier resolutions taught: a newer decision on the item replaces it."""
    of_item = select(ReviewResolution.id).where(
        ReviewResolution.tenant_id == tenant, ReviewResolution.item_id == item_id
    )
    _deactivate(session, tenant, LearnedGivenName.resolution_id.in_(of_item), by=by, now=now)


def deactivate_for_resolution(
    session: Session, tenant: str, resolution_id: str, *, by: str, now: datetime
) -> None:
    _deactivate(session, tenant, LearnedGivenName.resolution_id == resolution_id, by=by, now=now)


def _deactivate(session: Session, tenant: str, which: Any, *, by: str, now: datetime) -> None:
    session.execute(
        update(LearnedGivenName)
        .where(LearnedGivenName.tenant_id == tenant, LearnedGivenName.active.is_(True), which)
        .values(active=False, undone_by=by, undone_at=now)
        .execution_options(synchronize_session=False)
    )


def erase_for_members(
    session: Session, tenant: str, member_ids: Sequence[str], *, by: str, now: datetime
) -> int:
    """Blank the given names of every pair these members' links taught, and withdraw the pairs
    (a member's erasure: the pair held the member's own given name). The rows stay, for the
    links that made them; a pair already erased is left alone. Returns the pairs erased."""
    erased = 0
    for chunk in in_chunks(sorted(set(member_ids))):
        result = session.execute(
            update(LearnedGivenName)
            .where(
                LearnedGivenName.tenant_id == tenant,
                LearnedGivenName.member_id.in_(chunk),
                or_(LearnedGivenName.request_given != "", LearnedGivenName.member_given != ""),
            )
            .values(
                request_given="",
                member_given="",
                active=False,
                undone_by=func.coalesce(LearnedGivenName.undone_by, by),
                undone_at=func.coalesce(LearnedGivenName.undone_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        erased += int(getattr(result, "rowcount", 0) or 0)
    return erased
