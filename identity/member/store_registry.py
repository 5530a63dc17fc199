"""Which in-memory member store, if any, serves a session's engine (identity/member/store.py).

A registry keyed by engine, so candidate retrieval (`repository.retrieve_candidates`) finds the
store the server started for its database without every caller handing it down, and a session
on any other engine (a command-line tool, a test's own engine, a benchmark's "before") reads SQL
as it always did. Apart from store.py so the repository can ask without importing it (the store
is built on the repository's statements).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from identity.member.repository import Retrieved


class Snapshot(Protocol):
    """A tenant's members as of the asking transaction's change number."""

    def answer(
        self, keys: Sequence[str], *, max_block_size: int, max_candidates: int
    ) -> Retrieved | None:
        """`retrieve_candidates`' answer, or None where only the database can give it exactly."""
        ...


class Stores(Protocol):
    def current(self, session: Session, tenant: str) -> Snapshot | None:
        """The tenant's members as this session's transaction sees them, or None (use SQL)."""
        ...


_SERVING: weakref.WeakKeyDictionary[Engine, Stores] = weakref.WeakKeyDictionary()


def serve(engine: Engine, stores: Stores | None) -> None:
    """Let `stores` answer for sessions on `engine` (None: stop)."""
    if stores is None:
        _SERVING.pop(engine, None)
    else:
        _SERVING[engine] = stores


def current(session: Session, tenant: str) -> Snapshot | None:
    """The tenant's current store for this session, or None when SQL must answer."""
    if not _SERVING:
        return None
    stores = _SERVING.get(session.get_bind())  # type: ignore[arg-type]
    return None if stores is None else stores.current(session, tenant)
