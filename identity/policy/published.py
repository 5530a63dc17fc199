"""The tenant's active policy as people read it, published like an API contract (pure).

Everything here is generated from the stored policy document and the settings that govern review
and retention, never written by hand: a new policy version or a changed setting changes the page.
The JSON (`GET /v1/policy`) and the HTML page render the same dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from identity.matching.policy import Policy
from identity.policy.published_words import (
    coverage_in_words,
    equivalences_in_words,
    guard_in_words,
    predicates_in_words,
    predicates_settings,
    steward_decisions_in_words,
)

IDEMPOTENCY_HOURS = 24  # identity/idempotency keeps a key's answer this long (README)

# Where a policy section is published when not under its own name (a test checks that every
# section of the policy model is published and rendered).
NESTED_SECTIONS: dict[str, tuple[str, ...]] = {
    "steward_decisions": ("review", "remembered_decisions"),
    "comparisons": ("model", "comparisons"),
}


@dataclass(frozen=True, slots=True)
class Terms:
    """The settings a caller is held to beside the policy: how fast reviews are settled and how
    long evidence is kept."""

    review_sla_hours: float
    review_claim_lease_s: int
    retention_days: int
    match_token_lifetime_s: int
    bulk_match_retention_s: int
    member_match_window_s: int
    member_match_max_cards: int
    member_match_max_people_per_card: int
    require_consent: bool

    @classmethod
    def from_settings(cls, settings: Any) -> Terms:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def _pct(p: float) -> str:
    return f"{p:.10g}"


def _outcomes(policy: Policy, terms: Terms) -> list[dict[str, str]]:
    d = policy.document.decision
    match, review, margin = _pct(d.match_probability), _pct(d.review_probability), _pct(d.margin)
    scored = policy.document.model is not None
    rows = [
        {
            "outcome": "match",
            "when": "exactly one candidate is certain by a positive rule (or a steward's link), "
            + (
                f"or the best candidate's probability is at least {match} and at least {margin} "
                "above the runner-up's"
                if scored
                else "the policy has no model"
            )
            + ", and every guard holds for it",
        },
        {
            "outcome": "review",
            "when": "a steward decides, within "
            f"{terms.review_sla_hours:g} hours: two or more candidates are certain; "
            + (
                f"the two best are within {margin} of each other, with the runner-up at least "
                f"{review} or the best at least {match}; the best probability is at least "
                f"{review} and below {match}; "
                if scored
                else ""
            )
            + "a guard capped a match at review"
            + (
                "; candidates remain that no rule settles and the policy has no model"
                if not scored and d.unscored_outcome == "review"
                else ""
            ),
        },
        {
            "outcome": "no_match",
            "when": "no candidate is found, every candidate is excluded by a negative rule or a "
            "steward" + (f", or the best probability is below {review}" if scored else ""),
        },
    ]
    return rows


def _rules(specs: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "description": r.description.strip(),
            "when": r.when,
            "when_in_words": predicates_in_words(r.when),
        }
        for r in specs
    ]


def _guards(policy: Policy) -> list[dict[str, Any]]:
    return [
        {
            "name": g.name,
            "description": g.description.strip(),
            "cap": g.cap,
            "condition": g.model_dump(
                mode="json", include={"require_any", "when", "when_predicates", "crosswise"}
            ),
            "condition_in_words": guard_in_words(g),
        }
        for g in policy.document.guards
    ]


def _model(policy: Policy) -> dict[str, Any] | None:
    doc = policy.document
    if doc.model is None:
        return None
    training = doc.model.training or {}
    return {
        "prior": doc.model.prior,
        "trained": bool(training),
        "comparisons": [
            {"name": c.name, "levels": [lv.label for lv in c.levels]} for c in doc.comparisons
        ],
    }


def _evidence(terms: Terms) -> dict[str, Any]:
    days = terms.retention_days
    return {
        "kept_with_each_decision": [
            "the standardised request and each candidate's standardised record",
            "the two values each comparison compared, its level, m, u and weight",
            "every rule's and guard's verdict, the probabilities, the outcome, the reason and "
            "the policy version",
        ],
        "demographics_kept_days": days,
        "after_that": "the demographics are removed (`identity purge`); ids, outcome, reason, "
        "policy version, levels, weights and rule names stay, as does the audit trail",
        "open_review_items": "a decision whose review is still open keeps its demographics "
        "until a steward settles it",
        "match_token_max_days": round(terms.match_token_lifetime_s / 86400, 2),
        "bulk_results_kept_hours": round(terms.bulk_match_retention_s / 3600, 2),
        "idempotent_answers_kept_hours": IDEMPOTENCY_HOURS,
        "audit_trail": "kept; append-only and hash-chained",
    }


def published_policy(
    policy: Policy, *, tenant: str, activated_at: datetime | None, terms: Terms
) -> dict[str, Any]:
    """The policy and the terms around it, as a dictionary both renderings share."""
    doc = policy.document
    d = doc.decision
    steward = doc.steward_decisions
    return {
        "tenant": tenant,
        "version": policy.version,
        "label": policy.label,
        "name": doc.name,
        "description": doc.description.strip(),
        "activated_at": activated_at.isoformat() if activated_at else None,
        "decision": {
            "match_probability": d.match_probability,
            "review_probability": d.review_probability,
            "margin": d.margin,
            "unscored_outcome": d.unscored_outcome,
            "outcomes": _outcomes(policy, terms),
        },
        "review": {
            "sla_hours": terms.review_sla_hours,
            "claim_lease_minutes": round(terms.review_claim_lease_s / 60, 2),
            "remembered_decisions": steward.model_dump() if steward is not None else None,
            "remembered_decisions_in_words": steward_decisions_in_words(steward),
        },
        "blocking": {
            "keys": list(doc.blocking.keys),
            "max_block_size": doc.blocking.max_block_size,
            "max_candidates": doc.blocking.max_candidates,
        },
        "rules": {"negative": _rules(doc.rules.negative), "positive": _rules(doc.rules.positive)},
        "predicates": predicates_settings(doc.predicates),
        "guards": _guards(policy),
        "given_name_equivalences": {
            "settings": doc.given_name_equivalences.model_dump(mode="json")
            if doc.given_name_equivalences is not None
            else None,
            "in_words": equivalences_in_words(doc.given_name_equivalences),
        },
        "coverage_status": {
            **doc.coverage_status.model_dump(mode="json"),
            "in_words": coverage_in_words(doc.coverage_status),
        },
        "model": _model(policy),
        "member_match": {
            "consent_required": terms.require_consent,
            "max_cards_per_person": terms.member_match_max_cards,
            "max_people_per_card": terms.member_match_max_people_per_card,
            "window_minutes": round(terms.member_match_window_s / 60, 2),
        },
        "evidence": _evidence(terms),
    }
