"""The relatives check: a model whose weights alone would send a spouse or sibling to review.

The negative rules exclude most relatives, but not all: a sibling's given name can be one keystroke
from the member's (Mary, Mark), a birth year one digit off is a keying error to the rules. Behind
them the weights are the last defence, and EM learns them from requests in which relatives share
the household's facts: it can make a different birth date or given name count for little and a
shared address for much. Each of the policy's `model.relative_profiles` is scored in its worst
case: the strongest listed level of each comparison, and on a term-frequency comparison's exact
level the rarest listed value (a rare family name is shared by its household, so the household
is exactly where the largest adjustment lands). It must stay below the review threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from identity.matching.comparisons import NULL_LABEL
from identity.matching.policy import PolicyDocument, RelativeProfile
from identity.matching.scoring import prior_weight, probability_from_weight


@dataclass(frozen=True, slots=True)
class ProfileScore:
    """A profile's worst-case weight under one policy, with the level chosen per comparison."""

    name: str
    weight: float  # prior weight plus the worst level (and tf adjustment) of each comparison
    threshold: float  # the review threshold as a weight: logit(review_probability)
    parts: tuple[tuple[str, str, float], ...]  # (comparison, level, weight incl. tf)

    @property
    def probability(self) -> float:
        return probability_from_weight(self.weight)

    @property
    def ok(self) -> bool:
        return self.weight < self.threshold

    def describe(self) -> str:
        parts = ", ".join(f"{c} {lv} {w:+.2f}" for c, lv, w in self.parts)
        return (
            f"{self.name}: weight {self.weight:+.2f} (p={self.probability:.3g}) vs review at "
            f"{self.threshold:+.2f}: prior {self.weight - sum(w for *_, w in self.parts):+.2f}, "
            f"{parts}"
        )


def _tf_worst(document: PolicyDocument, comparison: str) -> float:
    """The largest term-frequency adjustment the service can add to the exact level (0 when no
    listed value raises it: an unlisted value gets none)."""
    spec = next(c for c in document.comparisons if c.name == comparison)
    model = document.model
    assert model is not None
    tf = model.term_frequencies.get(comparison)
    if not spec.term_frequency or tf is None or not tf.values:
        return 0.0
    log2_u_exact = math.log2(model.parameters[comparison][spec.levels[0].label].u)
    rarest = min(tf.values.values())
    return max(0.0, log2_u_exact - math.log2(max(rarest, tf.minimum_u)))


def _level_weight(document: PolicyDocument, comparison: str, level: str) -> float:
    if level == NULL_LABEL:
        return 0.0
    model = document.model
    assert model is not None
    p = model.parameters[comparison][level]
    weight = math.log2(p.m / p.u)
    spec = next(c for c in document.comparisons if c.name == comparison)
    if level == spec.levels[0].label:
        weight += _tf_worst(document, comparison)
    return weight


def profile_score(document: PolicyDocument, profile: RelativeProfile) -> ProfileScore:
    """The profile's worst case under `document`'s model and review threshold."""
    model = document.model
    if model is None:
        raise ValueError(f"policy {document.label} has no model to score a profile with")
    parts = []
    for comparison, levels in profile.levels.items():
        weight, level = max((_level_weight(document, comparison, lv), lv) for lv in levels)
        parts.append((comparison, level, weight))
    review = document.decision.review_probability
    total = prior_weight(model.prior) + sum(w for *_, w in parts)
    return ProfileScore(profile.name, total, math.log2(review / (1 - review)), tuple(parts))


def profile_scores(document: PolicyDocument) -> list[ProfileScore]:
    """Every relative profile the policy declares, scored (none declared: empty)."""
    if document.model is None:
        return []
    return [profile_score(document, p) for p in document.model.relative_profiles]


def refusal(score: ProfileScore) -> str:
    """Why a model whose profile reaches review is not written, and what the analyst can do."""
    return (
        f"relative profile {score.describe()}: its weights alone reach the review threshold; "
        "tighten model.weight_bounds (a different birth date or given name must count for more "
        "against a match, a household fact for less) or raise the term frequencies' minimum_u"
    )
