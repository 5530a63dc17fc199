"""Everything a steward needs to decide one item, in one read: the stored evidence, the policy's
prior and thresholds (for the waterfall), the candidates' coverage, earlier decisions about the
same members or the same request, and what the service remembers about those members."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import NotFound
from identity.matching.policy import Policy, parse_policy
from identity.models import ReviewItem
from identity.policy import repository as policies
from identity.review import repository
from identity.review.decisions import ResolutionView, candidate_ids, view
from identity.review.memory import RememberedView, about_members


@dataclass(frozen=True)
class ItemDetail:
    item: ReviewItem
    # The stored decision's full evidence (query, candidates with levels, weights, rules) and,
    # under "policy", the prior and thresholds the waterfall is drawn against.
    evidence: dict[str, Any]
    coverages: dict[str, list[dict[str, Any]]]  # member id -> coverage periods
    earlier: list[ResolutionView]  # decisions about the same members or the same fingerprint
    remembered: list[RememberedView]


@lru_cache(maxsize=16)
def _parsed(version: str, source_text: str) -> Policy:
    """A version's text never changes (the version names its hash): parse it once."""
    return parse_policy(source_text, source=version)


def _policy_terms(session: Session, version: str) -> dict[str, Any]:
    row = policies.get_version(session, version)
    if row is None:
        return {"version": version}
    doc = _parsed(version, row.source_text).document
    return {
        "version": version,
        "prior": doc.model.prior if doc.model else None,
        "match_probability": doc.decision.match_probability,
        "review_probability": doc.decision.review_probability,
        "margin": doc.decision.margin,
    }


def item_detail(session: Session, actor: Actor, item_id: str) -> ItemDetail:
    """Read the item for deciding it; audited as a view of the demographics of the request and
    the candidates (the event names the person viewing, `actor.person`, and the members)."""
    item = repository.get_item(session, actor.tenant, item_id)
    if item is None:
        raise NotFound("no review item with that id")
    decision = repository.decision_of(session, actor.tenant, item.match_id)
    evidence: dict[str, Any] = dict(decision.evidence) if decision is not None else {}
    evidence["policy"] = _policy_terms(session, item.policy_version)
    members = candidate_ids(item)
    fingerprint = decision.input_fingerprint if decision is not None else None
    earlier = repository.earlier_resolutions(
        session, actor.tenant, item_id=item.id, member_ids=members, fingerprint=fingerprint
    )
    audit.record(
        session,
        actor,
        action="review.view",
        outcome="success",
        object_type="review_item",
        object_ids=[item.id, item.match_id, *members],
        policy_version=item.policy_version,
    )
    return ItemDetail(
        item=item,
        evidence=evidence,
        coverages=repository.coverages_of(session, actor.tenant, members),
        earlier=[view(r) for r in earlier],
        remembered=about_members(session, actor.tenant, members),
    )
