"""Given-name pairs learned from stewards' links: recorded when a steward links, forgotten when
the link is superseded or undone, and read (once per request or batch) for matching, which
receives them as data (`LearnedNames`) and applies them as the policy's
`given_name_equivalences` says.

Where the request's given name comes from: the decision the review item was opened for keeps
the standardised query and every candidate's record in its evidence (until the retention
purge); the pair is the query's given name and the linked candidate's, with that member's sex.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from identity.learned_names import repository
from identity.matching.given_names import (
    NO_LEARNED,
    GivenNames,
    LearnedNames,
    LearnedPair,
    learnable,
    ordered_pair,
)
from identity.matching.record import StandardRecord, record_from_dict
from identity.models import LearnedGivenName, MatchDecision, ReviewResolution

EVIDENCE_KEY = "learned_given_names"


def learn_from_link(
    session: Session, resolution: ReviewResolution, decision: MatchDecision | None
) -> bool:
    """Record the pair a link teaches, if any: the request's given name and the linked member's
    differ and no static source makes them equivalent. Returns whether a pair was recorded."""
    if resolution.kind != "link" or not resolution.member_id or decision is None:
        return False
    evidence = decision.evidence or {}
    if decision.purged_at is not None or "query" not in evidence:
        return False  # the retention purge removed the names
    linked = next(
        (
            c
            for c in evidence.get("candidates", ())
            if c.get("member_id") == resolution.member_id and "record" in c
        ),
        None,
    )
    if linked is None:
        return False
    request = record_from_dict(evidence["query"])
    member = record_from_dict(linked["record"])
    if not learnable(request, member):
        return False
    if request.given is None or member.given is None:  # learnable says neither is
        return False
    repository.add(
        session,
        LearnedGivenName(
            id=str(uuid.uuid4()),
            tenant_id=resolution.tenant_id,
            request_given=request.given,
            member_given=member.given,
            sex=member.sex,
            member_id=resolution.member_id,
            resolution_id=resolution.id,
            decided_by=resolution.decided_by,
            decided_at=resolution.decided_at,
            active=True,
        ),
    )
    return True


def forget_for_item(session: Session, tenant: str, item_id: str, *, by: str, now: datetime) -> None:
    """A newer decision on the item supersedes what its earlier links taught."""
    repository.deactivate_for_item(session, tenant, item_id, by=by, now=now)


def forget_link(
    session: Session, tenant: str, resolution_id: str, *, by: str, now: datetime
) -> None:
    """An undone link teaches nothing any more."""
    repository.deactivate_for_resolution(session, tenant, resolution_id, by=by, now=now)


def forget_members(
    session: Session, tenant: str, member_ids: Sequence[str], *, by: str, now: datetime
) -> int:
    """Erased members: the pairs their links taught lose their names and teach nothing more."""
    return repository.erase_for_members(session, tenant, member_ids, by=by, now=now)


def _pairs(rows: Sequence[repository.PairRow]) -> LearnedNames:
    grouped: dict[tuple[tuple[str, str], str | None], tuple[set[str], set[str]]] = {}
    for request_given, member_given, sex, member_id, resolution_id in rows:
        key = (ordered_pair(request_given, member_given), sex)
        members, links = grouped.setdefault(key, (set(), set()))
        members.add(member_id)
        links.add(resolution_id)
    return LearnedNames(
        tuple(
            LearnedPair(names, sex, frozenset(members), tuple(sorted(links)))
            for (names, sex), (members, links) in sorted(
                grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
            )
        )
    )


def for_queries(
    session: Session,
    tenant: str,
    given_names: GivenNames,
    queries: Sequence[StandardRecord],
    *,
    any_active: bool = True,
) -> LearnedNames:
    """The active pairs naming these queries' given names: one read for a request or a batch,
    none when the policy does not learn from links or the tenant has no active pair
    (`any_active`: from `review.memory.in_use`, read in this transaction)."""
    if not (given_names and given_names.learn and any_active):
        return NO_LEARNED
    names = {q.given for q in queries if q.given}
    if not names:
        return NO_LEARNED
    return _pairs(repository.active_naming(session, tenant, names))


def for_replay(session: Session, tenant: str, evidence: dict[str, Any]) -> LearnedNames:
    """The pairs a stored decision used (its evidence names their links), as they were."""
    used = evidence.get(EVIDENCE_KEY) or []
    links = [rid for u in used for rid in u.get("resolution_ids", ())]
    if not links:
        return NO_LEARNED
    return _pairs(repository.of_resolutions(session, tenant, links))
