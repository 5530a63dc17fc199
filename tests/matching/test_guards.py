"""Guards, table-driven: the levels a candidate fell in -> held or not; a decision -> capped."""

from __future__ import annotations

import pytest

from identity.matching.decision import Decision, Outcome, Reason, Stage
from identity.matching.guards import Guard, GuardCheck, capped

FLOOR = Guard(
    "names-support-the-match",
    Outcome.REVIEW,
    require_any=True,
    conditions=(
        (("given_name", frozenset({"exact", "nickname", "jaro_winkler_0.92"})),),
        (("family_name", frozenset({"exact", "earlier_family", "jaro_winkler_0.92"})),),
        (
            ("given_name", frozenset({"jaro_winkler_0.8"})),
            ("family_name", frozenset({"jaro_winkler_0.8"})),
        ),
    ),
)
INITIAL_OTHER_SEX = Guard(
    "initial-of-the-other-sex",
    Outcome.REVIEW,
    require_any=False,
    conditions=((("given_name", frozenset({"initial"})), ("sex", frozenset({"else"}))),),
)

CHECKS = [
    # (id, guard, levels, held)
    ("both names agree", FLOOR, {"given_name": "exact", "family_name": "exact"}, True),
    ("married: given only", FLOOR, {"given_name": "exact", "family_name": "else"}, True),
    ("nickname only", FLOOR, {"given_name": "nickname", "family_name": "else"}, True),
    ("family only", FLOOR, {"given_name": "else", "family_name": "exact"}, True),
    (
        "family near spelling only",
        FLOOR,
        {"given_name": "initial", "family_name": "jaro_winkler_0.92"},
        True,
    ),
    (
        "a typo in each name",
        FLOOR,
        {"given_name": "jaro_winkler_0.8", "family_name": "jaro_winkler_0.8"},
        True,
    ),
    (
        "a loose family spelling alone",
        FLOOR,
        {"given_name": "else", "family_name": "jaro_winkler_0.8"},
        False,
    ),
    ("both differ", FLOOR, {"given_name": "else", "family_name": "else"}, False),
    (
        "an unlisted level fails closed",
        FLOOR,
        {"given_name": "initial", "family_name": "else"},
        False,
    ),
    (
        "loose given spelling, other family",
        FLOOR,
        {"given_name": "jaro_winkler_0.8", "family_name": "else"},
        False,
    ),
    ("both missing", FLOOR, {"given_name": "null", "family_name": "null"}, False),
    ("no score at all (no model): nothing supports", FLOOR, {}, False),
    (
        "initial and the other sex",
        INITIAL_OTHER_SEX,
        {"given_name": "initial", "sex": "else"},
        False,
    ),
    (
        "initial and the same sex",
        INITIAL_OTHER_SEX,
        {"given_name": "initial", "sex": "exact"},
        True,
    ),
    ("initial, sex missing", INITIAL_OTHER_SEX, {"given_name": "initial", "sex": "null"}, True),
    ("full name, the other sex", INITIAL_OTHER_SEX, {"given_name": "exact", "sex": "else"}, True),
]


@pytest.mark.parametrize(
    ("guard", "levels", "held"), [c[1:] for c in CHECKS], ids=[c[0] for c in CHECKS]
)
def test_guard_check(guard: Guard, levels: dict[str, str], held: bool) -> None:
    check = guard.check(levels)
    assert check.held is held
    # The evidence shows the levels it read, `null` for a comparison the score lacks.
    assert [c for c, _ in check.levels] == list(guard.comparisons)
    assert all(label == levels.get(c, "null") for c, label in check.levels)


def _check(held: bool, cap: Outcome = Outcome.REVIEW, name: str = "g") -> GuardCheck:
    return GuardCheck(name, held, cap, ())


MATCH = Decision(Outcome.MATCH, Stage.PROBABILISTIC, Reason.MATCH_THRESHOLD, 0, 0.988)
RULE_MATCH = Decision(Outcome.MATCH, Stage.DETERMINISTIC, Reason.POSITIVE_RULE, 1, 1.0)
REVIEW = Decision(Outcome.REVIEW, Stage.PROBABILISTIC, Reason.REVIEW_BAND, None, 0.8)

CAPS = [
    # (id, decision, checks, outcome, reason, chosen)
    ("every guard held", MATCH, [_check(True), _check(True)], "match", "match-threshold", 0),
    ("no guards", MATCH, [], "match", "match-threshold", 0),
    (
        "a failed guard caps the weights",
        MATCH,
        [_check(True), _check(False)],
        "review",
        "capped-by-guard",
        None,
    ),
    ("and a positive rule", RULE_MATCH, [_check(False)], "review", "capped-by-guard", None),
    (
        "the strictest cap wins",
        MATCH,
        [_check(False), _check(False, Outcome.NO_MATCH)],
        "no_match",
        "capped-by-guard",
        None,
    ),
    (
        "a review is never raised nor relabelled",
        REVIEW,
        [_check(False)],
        "review",
        "review-band",
        None,
    ),
    (
        "a review may be lowered",
        REVIEW,
        [_check(False, Outcome.NO_MATCH)],
        "no_match",
        "capped-by-guard",
        None,
    ),
]


@pytest.mark.parametrize(
    ("decision", "checks", "outcome", "reason", "chosen"),
    [c[1:] for c in CAPS],
    ids=[c[0] for c in CAPS],
)
def test_capped(
    decision: Decision, checks: list[GuardCheck], outcome: str, reason: str, chosen: int | None
) -> None:
    d = capped(decision, checks)
    assert (d.outcome.value, d.reason.value, d.chosen) == (outcome, reason, chosen)
    assert (d.stage, d.probability) == (decision.stage, decision.probability)
