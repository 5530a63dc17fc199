"""Who may decide what, in which state: the rules of `decisions.check`, table-driven (no
database: an item is a plain object here)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity.errors import Conflict, InvalidInput
from identity.models import ReviewItem
from identity.review.decisions import StewardDecision, check
from identity.review.roles import Role, RoleForbidden
from tests.review.conftest import NOW

OK = None


def _item(status: str = "open", holder: str | None = None, lapsed: bool = False) -> ReviewItem:
    expires = NOW + timedelta(minutes=-1 if lapsed else 10)
    return ReviewItem(
        id="i",
        tenant_id="t",
        match_id="m",
        policy_version="p",
        reason="ambiguous",
        status=status,
        candidates=[{"member_id": "A"}, {"member_id": "B"}],
        claimed_by=holder,
        claim_expires_at=expires if holder else None,
    )


LINK_A = StewardDecision("link", member_id="A")
RULES = [
    # (who, role, item, decision, refusal)
    ("me", Role.STEWARD, _item(), LINK_A, OK),
    ("me", Role.AUDITOR, _item(), LINK_A, RoleForbidden),
    ("me", Role.AUDITOR, _item(), StewardDecision("escalate"), RoleForbidden),
    ("me", Role.STEWARD, _item(holder="me"), LINK_A, OK),
    ("me", Role.STEWARD, _item(holder="you"), LINK_A, Conflict),
    ("me", Role.STEWARD, _item(holder="you", lapsed=True), LINK_A, OK),
    ("me", Role.LEAD, _item(holder="you"), LINK_A, OK),
    ("me", Role.STEWARD, _item("escalated"), LINK_A, RoleForbidden),
    ("me", Role.LEAD, _item("escalated"), LINK_A, OK),
    ("me", Role.LEAD, _item("escalated"), StewardDecision("escalate"), Conflict),
    ("me", Role.STEWARD, _item("resolved"), StewardDecision("keep_apart", member_id="B"), OK),
    ("me", Role.STEWARD, _item(), StewardDecision("keep_apart"), OK),
    ("me", Role.STEWARD, _item(), StewardDecision("new_person"), OK),
    ("me", Role.STEWARD, _item(), StewardDecision("escalate", note="why"), OK),
    ("me", Role.STEWARD, _item(), StewardDecision("link", member_id="C"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("link"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("merge", member_id="A"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("new_person", member_id="A"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("link", "A", other_member_id="B"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("same_person", "A", "B"), OK),
    ("me", Role.STEWARD, _item(), StewardDecision("same_person", "A"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("same_person", "A", "A"), InvalidInput),
    ("me", Role.STEWARD, _item(), StewardDecision("not_same_person", "A", "B"), OK),
    ("me", Role.STEWARD, _item(), StewardDecision("escalate", note="x" * 2001), InvalidInput),
]


@pytest.mark.parametrize(
    ("me", "role", "item", "decision", "refusal"),
    RULES,
    ids=[f"{r[1].value}-{r[2].status}-{r[3].kind}-{n}" for n, r in enumerate(RULES)],
)
def test_decision_rules(
    me: str,
    role: Role,
    item: ReviewItem,
    decision: StewardDecision,
    refusal: type[Exception] | None,
) -> None:
    if refusal is None:
        check(item, decision, role=role, me=me, now=NOW)
    else:
        with pytest.raises(refusal):
            check(item, decision, role=role, me=me, now=NOW)
