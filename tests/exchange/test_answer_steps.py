"""The answer steps the single $member-match path and the bulk batch both take
(`refusal_for_new`, `refusal_for_member`): one table each, so the two paths cannot drift apart
in which refusal a decision gets."""

from __future__ import annotations

import pytest

from identity.consent.evaluate import ConsentDecision
from identity.exchange.outcomes import PendingReview
from identity.exchange.service import refusal_for_member, refusal_for_new, status_path
from identity.matching.decision import Outcome, Reason

OK = ConsentDecision(ok=True, reason=None, category="regular", period_start=None, period_end=None)
REFUSED = ConsentDecision(
    ok=False,
    reason="expired",
    category="regular",
    period_start=None,
    period_end=None,
    detail="the consent's period has ended",
)


@pytest.mark.parametrize(
    ("outcome", "reason", "review_item_id", "code"),
    [
        (Outcome.REVIEW, Reason.MULTIPLE_CERTAIN, "item-1", "multiple-matches"),
        (Outcome.REVIEW, Reason.MULTIPLE_CERTAIN, None, "multiple-matches"),
        (Outcome.REVIEW, Reason.AMBIGUOUS, "item-1", "pending-review"),
        (Outcome.REVIEW, Reason.REVIEW_BAND, None, None),
        (Outcome.MATCH, Reason.MATCH_THRESHOLD, None, None),
        (Outcome.NO_MATCH, Reason.BELOW_REVIEW_THRESHOLD, None, None),
    ],
)
def test_a_new_decision_a_steward_must_see_is_refused_by_its_reason(
    outcome: str, reason: str, review_item_id: str | None, code: str | None
) -> None:
    refused = refusal_for_new(outcome, reason, review_item_id, "match-1")
    assert (refused.refusal.code if refused else None) == code
    if refused is not None:
        assert refused.match_id == "match-1"
    if refused is not None and isinstance(refused.refusal, PendingReview):
        assert refused.refusal.review_item_id == "item-1"
        assert refused.refusal.headers == {"Content-Location": status_path("match-1")}


@pytest.mark.parametrize(
    ("disclosed", "consent", "code", "text"),
    [
        (False, OK, "no-match", "no member matches"),
        (False, REFUSED, "no-match", "no member matches"),  # the look-back is checked first
        (True, REFUSED, "consent-invalid", "the consent's period has ended"),
        (True, OK, None, None),
    ],
)
def test_a_matched_member_is_answered_unless_out_of_look_back_or_consent(
    disclosed: bool, consent: ConsentDecision, code: str | None, text: str | None
) -> None:
    refused = refusal_for_member("match-1", disclosed, consent)
    assert (refused.refusal.code if refused else None) == code
    if refused is not None:
        assert refused.match_id == "match-1"
        assert str(refused.refusal) == text
