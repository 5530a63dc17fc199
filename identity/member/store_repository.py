"""The SQL of the in-memory member store (identity/member/store.py): the tenant's change number
(migration 0023's `member_change` log), the members changed since a number, and the rows a store
is built from. Members' rows are read with the very columns candidate retrieval reads
(`repository.MEMBER_ROWS`), so the store holds what the SQL path would have read.

Also the log's retention (run by `identity purge`), here beside the check it must keep true:
pruning deletes a prefix of a tenant's log ids (its oldest rows, always keeping its newest), so
while the row numbered as a store's snapshot is still there, every row after it is too
(`still_logged`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, column, delete, func, select, table

from identity.member.repository import FEATURE_COLUMNS, MEMBER_ROWS
from identity.models import BlockingKey, Member

_CHANGES = table("member_change", column("id"), column("tenant_id"), column("member_pk"))
_KEYS = cast(Table, BlockingKey.__table__)
_MEMBERS = cast(Table, Member.__table__)

# The tenant's change number: its last log row (a backward step on (tenant_id, id)); 0 when none.
_NUMBER = select(func.coalesce(func.max(_CHANGES.c.id), 0)).where(
    _CHANGES.c.tenant_id == bindparam("tenant")
)
# The members changed in (after, upto], at most `cap` log rows (a load's million stop early).
_CHANGED = (
    select(_CHANGES.c.member_pk)
    .where(
        _CHANGES.c.tenant_id == bindparam("tenant"),
        _CHANGES.c.id > bindparam("after"),
        _CHANGES.c.id <= bindparam("upto"),
    )
    .limit(bindparam("cap"))
)
# Some members' blocking keys (by the key table's member index).
_MEMBER_KEYS = select(_KEYS.c.key, _KEYS.c.member_pk).where(
    _KEYS.c.tenant_id == bindparam("tenant"),
    _KEYS.c.member_pk.in_(bindparam("pks", expanding=True)),
)
# All the tenant's keys in primary key order (key, then member), and all its members' rows.
_ALL_KEYS = (
    select(_KEYS.c.key, _KEYS.c.member_pk)
    .where(_KEYS.c.tenant_id == bindparam("tenant"))
    .order_by(_KEYS.c.key, _KEYS.c.member_pk)
)
_ALL_MEMBERS = (
    select(_MEMBERS.c.id.label("member_pk"), *FEATURE_COLUMNS)
    .where(_MEMBERS.c.tenant_id == bindparam("tenant"))
    .order_by(_MEMBERS.c.id)
)
# Is the tenant's log row numbered `number` still there (one primary key read)?
_HELD = select(_CHANGES.c.id).where(
    _CHANGES.c.id == bindparam("number"), _CHANGES.c.tenant_id == bindparam("tenant")
)
# The newest id a prune may delete: the tenant's row just older than the `keep` newest.
_CUTOFF = (
    select(_CHANGES.c.id)
    .where(_CHANGES.c.tenant_id == bindparam("tenant"))
    .order_by(_CHANGES.c.id.desc())
    .limit(1)
    .offset(bindparam("keep"))
)
# The tenant's oldest rows up to the cutoff, at most `limit` (one batch of a prune).
_OLDEST = (
    select(_CHANGES.c.id)
    .where(_CHANGES.c.tenant_id == bindparam("tenant"), _CHANGES.c.id <= bindparam("cutoff"))
    .order_by(_CHANGES.c.id)
    .limit(bindparam("limit"))
)
_UP_TO = delete(_CHANGES).where(
    _CHANGES.c.tenant_id == bindparam("tenant"), _CHANGES.c.id <= bindparam("upto")
)
_PRUNABLE = select(func.count()).where(
    _CHANGES.c.tenant_id == bindparam("tenant"), _CHANGES.c.id <= bindparam("cutoff")
)
_LOGGING_MORE = (
    select(_CHANGES.c.tenant_id)
    .group_by(_CHANGES.c.tenant_id)
    .having(func.count() > bindparam("keep"))
)
_COUNT = select(func.count()).where(_MEMBERS.c.tenant_id == bindparam("tenant"))
_TENANTS = select(_MEMBERS.c.tenant_id).distinct()

# Rows a build reads per round trip (a server-side cursor on PostgreSQL).
_BATCH = 20_000


def change_number(connection: Connection, tenant: str) -> int:
    """The tenant's change number as this transaction sees it."""
    return int(connection.execute(_NUMBER, {"tenant": tenant}).scalar_one())


def changed_members(
    connection: Connection, tenant: str, after: int, upto: int, cap: int
) -> set[int] | None:
    """The members whose rows changed in (after, upto]; None past `cap` log rows."""
    pks = connection.execute(
        _CHANGED, {"tenant": tenant, "after": after, "upto": upto, "cap": cap + 1}
    ).scalars()
    found = list(pks)
    return None if len(found) > cap else set(found)


def log_rows_read(members: int) -> int:
    """How many log rows a store reads to catch up on `members` changed members (a member's
    write logs its row and its coverage rows); past it the store is rebuilt instead."""
    return 4 * members


def still_logged(connection: Connection, tenant: str, number: int) -> bool:
    """Whether the log still says everything that changed after `number` (a snapshot's number:
    0 or one of the tenant's log ids): its row is there, so no prune reached past it. At 0 the
    log cannot tell whether rows since were pruned, so it answers False."""
    if number <= 0:
        return False
    found = connection.execute(_HELD, {"tenant": tenant, "number": number}).first()
    return found is not None


def prune_cutoff(connection: Connection, tenant: str, keep: int) -> int:
    """The newest log id a prune may delete so that the tenant's `keep` newest rows stay (at
    least one: the change number must survive); 0 when there is nothing to prune."""
    found = connection.execute(_CUTOFF, {"tenant": tenant, "keep": max(keep, 1)}).scalar()
    return int(found or 0)


def prune_batch(connection: Connection, tenant: str, cutoff: int, limit: int) -> int:
    """Delete the tenant's oldest log rows up to `cutoff`, at most `limit` of them (a prefix of
    its ids, so `still_logged` stays exact); how many went."""
    ids = list(
        connection.execute(_OLDEST, {"tenant": tenant, "cutoff": cutoff, "limit": limit}).scalars()
    )
    if ids:
        connection.execute(_UP_TO, {"tenant": tenant, "upto": ids[-1]})
    return len(ids)


def prunable(connection: Connection, tenant: str, cutoff: int) -> int:
    """How many of the tenant's log rows are at or below `cutoff` (a dry run's count)."""
    return int(connection.execute(_PRUNABLE, {"tenant": tenant, "cutoff": cutoff}).scalar_one())


def tenants_logging_more_than(connection: Connection, keep: int) -> list[str]:
    """The tenants with more than `keep` log rows (as the tables' owner: every tenant)."""
    return sorted(connection.execute(_LOGGING_MORE, {"keep": max(keep, 1)}).scalars())


def member_keys(connection: Connection, tenant: str, pks: Sequence[int]) -> list[tuple[str, int]]:
    """These members' blocking keys, (key, member_pk)."""
    if not pks:
        return []
    rows = connection.execute(_MEMBER_KEYS, {"tenant": tenant, "pks": list(pks)})
    return [(key, pk) for key, pk in rows]


def member_rows(connection: Connection, pks: Sequence[int]) -> list[Any]:
    """These members' rows as candidate retrieval reads them (tenant_id, member_id, features,
    coverage ends); members that no longer exist are absent."""
    if not pks:
        return []
    return list(connection.execute(MEMBER_ROWS, {"pks": list(pks)}))


def all_keys(connection: Connection, tenant: str) -> Iterator[Sequence[Any]]:
    """The tenant's blocking keys, in batches of (key, member_pk), in key order."""
    rows = connection.execution_options(stream_results=True, yield_per=_BATCH).execute(
        _ALL_KEYS, {"tenant": tenant}
    )
    yield from rows.partitions()


def all_members(connection: Connection, tenant: str) -> Iterator[Sequence[Any]]:
    """The tenant's members' rows (as `member_rows`), in batches, by primary key."""
    rows = connection.execution_options(stream_results=True, yield_per=_BATCH).execute(
        _ALL_MEMBERS, {"tenant": tenant}
    )
    yield from rows.partitions()


def member_count(connection: Connection, tenant: str) -> int:
    return int(connection.execute(_COUNT, {"tenant": tenant}).scalar_one())


def tenants(connection: Connection) -> list[str]:
    """The tenants with members (what this connection may see of them)."""
    return sorted(connection.execute(_TENANTS).scalars())
