"""All SQL dedupe needs: which member sets were already offered, and writing a new cluster with
its decision row and review item."""

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


def add_cluster(
    session: Session, decision: MatchDecision, item: ReviewItem, cluster: DuplicateCluster
) -> None:
    """The three rows in foreign-key order."""
    session.add(decision)
    session.flush()
    session.add(item)
    session.flush()
    session.add(cluster)
    session.flush()
