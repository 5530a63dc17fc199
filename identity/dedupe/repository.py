"""All SQL dedupe needs: which member sets were already offered, and writing the new clusters
with their decision rows and review items."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.db import in_chunks
from identity.models import DuplicateCluster, MatchDecision, ReviewItem


def known_keys(session: Session, tenant: str, keys: Sequence[str]) -> set[str]:
    """The member-set keys already offered to stewards, whatever became of them."""
    found: set[str] = set()
    for chunk in in_chunks(keys):
        found.update(
            session.scalars(
                select(DuplicateCluster.members_key).where(
                    DuplicateCluster.tenant_id == tenant,
                    DuplicateCluster.members_key.in_(chunk),
                )
            )
        )
    return found


def add_clusters(
    session: Session, rows: Sequence[tuple[MatchDecision, ReviewItem, DuplicateCluster]]
) -> None:
    """Every cluster's three rows, a table at a time in foreign-key order: one flush per table
    batches the inserts (a flush per row cost minutes at a million members)."""
    for index in range(3):
        session.add_all([row[index] for row in rows])
        session.flush()
