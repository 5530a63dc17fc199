"""Consent evaluation, as a table a data steward can read: each row is one consent (the HRex
example with one thing changed), who asks, on which day, and what we decide."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from identity.consent.evaluate import ConsentDecision, evaluate_consent
from tests.consent.factories import (
    IDSCL,
    NEW_PLAN,
    NPI,
    OLD_PLAN,
    POLICY,
    hrex_consent,
    recipient_actor,
    source_actor,
)

TODAY = date(2026, 6, 15)
YEAR_2026 = (date(2026, 1, 1), date(2026, 12, 31))
OTHER_NPI = "http://example.org/not-npi"
CODING = "http://terminology.hl7.org/CodeSystem/consentaction"

# (what the consent says, its resource) -> honoured?, category, period
HONOURED: list[tuple[str, dict[str, Any], str, tuple[date | None, date | None]]] = [
    ("the HRex example, regular", hrex_consent(), "regular", YEAR_2026),
    (
        "the sensitive policy (the member opted in to sensitive data)",
        hrex_consent(policy=[{"uri": f"{POLICY}#sensitive"}]),
        "sensitive",
        YEAR_2026,
    ),
    (
        "a period that ends today",
        hrex_consent(provision__period={"start": "2026-01-01", "end": "2026-06-15"}),
        "regular",
        (date(2026, 1, 1), TODAY),
    ),
    (
        "a period that starts today",
        hrex_consent(provision__period={"start": "2026-06-15", "end": "2026-07-01"}),
        "regular",
        (TODAY, date(2026, 7, 1)),
    ),
    (
        "a period with no end (open)",
        hrex_consent(provision__period={"start": "2026-01-01"}),
        "regular",
        (date(2026, 1, 1), None),
    ),
    (
        "months for dates: from the first of the first to the last of the last",
        hrex_consent(provision__period={"start": "2026-02", "end": "2026-06"}),
        "regular",
        (date(2026, 2, 1), date(2026, 6, 30)),
    ),
    (
        "date-times are read in UTC",
        hrex_consent(
            provision__period={"start": "2026-01-01T08:00:00-05:00", "end": "2026-06-15T23:30:00Z"}
        ),
        "regular",
        (date(2026, 1, 1), TODAY),
    ),
    (
        "the recipient listed before the source",
        hrex_consent(provision__actor=[recipient_actor(), source_actor()]),
        "regular",
        YEAR_2026,
    ),
    (
        "IDSCL among other categories",
        hrex_consent(
            category=[
                {"coding": [{"system": "http://loinc.org", "code": "64292-6"}]},
                {"coding": [IDSCL]},
            ]
        ),
        "regular",
        YEAR_2026,
    ),
]


@pytest.mark.parametrize(
    ("case", "consent", "category", "period"), HONOURED, ids=[row[0] for row in HONOURED]
)
def test_honoured(
    case: str, consent: dict[str, Any], category: str, period: tuple[date | None, date | None]
) -> None:
    decision = evaluate_consent(consent, recipient=NEW_PLAN, today=TODAY, required=True)
    expected = ConsentDecision(True, None, category, *period)  # type: ignore[arg-type]
    assert replace(decision, given_at=None) == expected, case


# (what is wrong, the resource, who asks) -> the refusal's reason
REFUSED: list[tuple[str, dict[str, Any] | None, Any, str]] = [
    ("no consent, one is required", None, NEW_PLAN, "missing"),
    ("not a Consent", hrex_consent(resourceType="Patient"), NEW_PLAN, "malformed"),
    ("status draft", hrex_consent(status="draft"), NEW_PLAN, "malformed"),
    ("status inactive", hrex_consent(status="inactive"), NEW_PLAN, "malformed"),
    ("no category", hrex_consent(category=None), NEW_PLAN, "malformed"),
    (
        "category is not IDSCL",
        hrex_consent(category=[{"coding": [{"system": "http://loinc.org", "code": "64292-6"}]}]),
        NEW_PLAN,
        "malformed",
    ),
    ("no policy", hrex_consent(policy=None), NEW_PLAN, "malformed"),
    (
        "two policies",
        hrex_consent(policy=[{"uri": f"{POLICY}#regular"}, {"uri": f"{POLICY}#sensitive"}]),
        NEW_PLAN,
        "malformed",
    ),
    (
        "a policy that is not HRex's",
        hrex_consent(policy=[{"uri": "https://example.org/our-policy"}]),
        NEW_PLAN,
        "malformed",
    ),
    ("no provision", hrex_consent(provision=None), NEW_PLAN, "malformed"),
    ("a dateTime that is not one", hrex_consent(dateTime="yesterday"), NEW_PLAN, "malformed"),
    ("a dateTime that is a number", hrex_consent(dateTime=20260101), NEW_PLAN, "malformed"),
    (
        "a dateTime past the last representable UTC moment",
        hrex_consent(dateTime="9999-12-31T23:00:00-05:00"),
        NEW_PLAN,
        "malformed",
    ),
    (
        "a period start before the first representable UTC moment",
        hrex_consent(provision__period={"start": "0001-01-01T00:00:00+05:00"}),
        NEW_PLAN,
        "malformed",
    ),
    ("provision deny", hrex_consent(provision__type="deny"), NEW_PLAN, "malformed"),
    ("provision without a period", hrex_consent(provision__period=None), NEW_PLAN, "malformed"),
    ("an empty period", hrex_consent(provision__period={}), NEW_PLAN, "malformed"),
    (
        "a period that ends before it starts",
        hrex_consent(provision__period={"start": "2026-12-31", "end": "2026-01-01"}),
        NEW_PLAN,
        "malformed",
    ),
    (
        "a period that is not dates",
        hrex_consent(provision__period={"start": "last spring", "end": "2026-12-31"}),
        NEW_PLAN,
        "malformed",
    ),
    (
        "an impossible date",
        hrex_consent(provision__period={"start": "2026-02-30"}),
        NEW_PLAN,
        "malformed",
    ),
    ("no action", hrex_consent(provision__action=None), NEW_PLAN, "malformed"),
    (
        "action access, not disclose",
        hrex_consent(provision__action=[{"coding": [{"system": CODING, "code": "access"}]}]),
        NEW_PLAN,
        "malformed",
    ),
    (
        "no recipient (IRCP) actor",
        hrex_consent(provision__actor=[source_actor()]),
        NEW_PLAN,
        "malformed",
    ),
    (
        "two recipients",
        hrex_consent(provision__actor=[recipient_actor(), recipient_actor(value="1111111111")]),
        NEW_PLAN,
        "malformed",
    ),
    (
        "a recipient named by reference only",
        hrex_consent(
            provision__actor=[recipient_actor() | {"reference": {"reference": "Organization/1"}}]
        ),
        NEW_PLAN,
        "malformed",
    ),
    ("the requester has no organisation on file", hrex_consent(), None, "recipient-unknown"),
    ("the consent names the source as recipient", hrex_consent(), OLD_PLAN, "wrong-recipient"),
    (
        "same number, other identifier system",
        hrex_consent(provision__actor=[recipient_actor(system=OTHER_NPI)]),
        NEW_PLAN,
        "wrong-recipient",
    ),
    (
        "starts tomorrow",
        hrex_consent(provision__period={"start": "2026-06-16", "end": "2026-12-31"}),
        NEW_PLAN,
        "not-yet-valid",
    ),
    (
        "ended yesterday",
        hrex_consent(provision__period={"start": "2026-01-01", "end": "2026-06-14"}),
        NEW_PLAN,
        "expired",
    ),
    (
        "the HRex example's own period, January 2022",
        hrex_consent(provision__period={"start": "2022-01-01", "end": "2022-01-31"}),
        NEW_PLAN,
        "expired",
    ),
]


@pytest.mark.parametrize(
    ("case", "consent", "recipient", "reason"), REFUSED, ids=[row[0] for row in REFUSED]
)
def test_refused(case: str, consent: dict[str, Any] | None, recipient: Any, reason: str) -> None:
    decision = evaluate_consent(consent, recipient=recipient, today=TODAY, required=True)
    assert (decision.ok, decision.reason) == (False, reason), case
    assert decision.detail, "every refusal says why, in a sentence"


def test_no_consent_where_none_is_required_is_honoured_without_a_category() -> None:
    """Nothing was agreed, so nothing beyond regular data may be released later."""
    assert evaluate_consent(
        None, recipient=NEW_PLAN, today=TODAY, required=False
    ) == ConsentDecision(True, None, None, None, None)


def test_a_consent_sent_when_none_is_required_must_still_hold() -> None:
    decision = evaluate_consent(
        hrex_consent(status="rejected"), recipient=NEW_PLAN, today=TODAY, required=False
    )
    assert (decision.ok, decision.reason) == (False, "malformed")


def test_a_refusal_never_quotes_the_consent() -> None:
    """The detail goes back to the caller: it names the rule, never a value it was given."""
    secret = "Jane-Doe-1970-01-01"
    probes = [
        hrex_consent(status=secret),
        hrex_consent(policy=[{"uri": secret}]),
        hrex_consent(provision__period={"start": secret}),
        hrex_consent(provision__actor=[recipient_actor(value=secret)]),
    ]
    for consent in probes:
        decision = evaluate_consent(consent, recipient=NEW_PLAN, today=TODAY, required=True)
        assert not decision.ok
        assert secret not in (decision.detail or "")
        assert NPI not in (decision.detail or "")


@pytest.mark.parametrize(
    "junk",
    [
        {},
        {"resourceType": "Consent"},
        {"resourceType": "Consent", "status": "active", "category": "IDSCL"},
        {"resourceType": "Consent", "status": "active", "category": [None, 3, "x"]},
        hrex_consent(provision=["permit"]),
        hrex_consent(provision__actor="everyone"),
        hrex_consent(provision__period={"start": 20260101}),
        hrex_consent(policy=[{"uri": None}]),
    ],
)
def test_any_json_is_judged_never_raised(junk: dict[str, Any]) -> None:
    decision = evaluate_consent(junk, recipient=NEW_PLAN, today=TODAY, required=True)
    assert (decision.ok, decision.reason) == (False, "malformed")
