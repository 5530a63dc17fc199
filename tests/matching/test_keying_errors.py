"""Keying errors are not relatives: a birth date keyed with one digit of the year wrong, two of
its digits swapped, or day and month swapped is the member mistyped, not a Jr/Sr; the relatives it
looks like are still never matched. Every row goes through the real `Matcher` and the default
policy, the member as the only candidate (a steward reads: request, member on file, outcome)."""

from __future__ import annotations

import pytest

from identity.matching.engine import Candidate, Matcher
from identity.matching.policy import find_policy
from identity.matching.record import StandardRecord
from identity.matching.rules import birth_date_keying_error
from tests.conftest import RULES_DIR
from tests.factories import person

MATCHER = Matcher(find_policy(RULES_DIR, "default"))
SSN, OTHER_SSN = "523-45-6780", "412-67-8831"
MOVED = {"street": "7 Pine Road", "zip_code": "01801"}

# (id, request, member on file, keying error, the birth-date level the weights see)
TRUE_PERSON: list[tuple[str, StandardRecord, StandardRecord, str, str]] = [
    (
        "1972 keyed as 1992, card and home",
        person(born="1992-05-14", subscriber_id="S1"),
        person(born="1972-05-14", subscriber_id="S1"),
        "year_digit",
        "one_digit_off",
    ),
    (
        "1963 keyed as 1943, at home",
        person("Maria", "Lopez", born="1943-11-02", sex="female"),
        person("Maria", "Lopez", born="1963-11-02", sex="female"),
        "year_digit",
        "one_digit_off",
    ),
    (
        "1958 keyed as 1988, moved, the phone is the household fact left",
        person(born="1988-08-30", phone="617-555-0101", **MOVED),
        person(born="1958-08-30", phone="617-555-0101"),
        "year_digit",
        "one_digit_off",
    ),
    (
        "1972 keyed as 1927",
        person(born="1927-05-14", subscriber_id="S1"),
        person(born="1972-05-14", subscriber_id="S1"),
        "year_digits_swapped",
        "transposed",
    ),
    (
        "1990 keyed as 1909, at home",
        person("Ana", "Silva", born="1909-09-09", sex="female"),
        person("Ana", "Silva", born="1990-09-09", sex="female"),
        "year_digits_swapped",
        "transposed",
    ),
    (
        "day and month swapped",
        person(born="1985-07-03", subscriber_id="S1"),
        person(born="1985-03-07", subscriber_id="S1"),
        "day_month_swap",
        "day_month_swap",
    ),
]


@pytest.mark.parametrize(
    ("query", "member", "error", "level"),
    [c[1:] for c in TRUE_PERSON],
    ids=[c[0] for c in TRUE_PERSON],
)
def test_the_member_with_a_keyed_birth_date_is_found(
    query: StandardRecord, member: StandardRecord, error: str, level: str
) -> None:
    assert query.birth_date is not None
    assert member.birth_date is not None
    assert birth_date_keying_error(query.birth_date, member.birth_date) == error
    resolution = MATCHER.resolve(query, [Candidate(1, "M1", member)])
    verdict = resolution.verdicts[0]
    assert not [r.name for r in verdict.rules if r.fired and r.kind == "negative"]
    assert resolution.decision.outcome.value in ("match", "review")
    assert verdict.score is not None
    assert {f.comparison: f.label for f in verdict.score.fields}["birth_date"] == level


# (id, request, the enrolled relative, the outcome, the rule that excludes (None: not excluded))
RELATIVES: list[tuple[str, StandardRecord, StandardRecord, str, str | None]] = [
    (
        "a Jr born another month and day",
        person(born="1980-06-22"),
        person(born="1952-01-10"),
        "no_match",
        "generations-apart",
    ),
    (
        "a Jr born another day, the year one digit from his father's",
        person(born="1982-06-22"),
        person(born="1952-01-10"),
        "no_match",
        "generations-apart",
    ),
    (
        "a Jr born on his father's birthday, both suffixes recorded",
        person(born="1982-05-14", suffix="Jr"),
        person(born="1952-05-14", suffix="Sr"),
        "no_match",
        "generation-suffix-conflict",
    ),
    (
        "a Jr born on his father's birthday, each with an SSN of his own",
        person(born="1982-05-14", ssn=OTHER_SSN),
        person(born="1952-05-14", ssn=SSN),
        "no_match",
        "different-ssn-and-birth-date",
    ),
    (
        "a sister born the same decade",
        person("Elena", "Lopez", born="1975-09-02", sex="female"),
        person("Maria", "Lopez", born="1972-05-14", sex="female"),
        "no_match",
        "household-relative",
    ),
    (
        "a brother born a year later to the day: a year digit apart",
        person("Luis", "Lopez", born="1973-05-14", subscriber_id="S1"),
        person("Pedro", "Lopez", born="1972-05-14", subscriber_id="S1"),
        "no_match",
        "household-relative",
    ),
    (
        "a wife born the same day ten years on: a year digit apart",
        person("Taylor", born="1982-04-02", sex="female", subscriber_id="S1"),
        person("Jordan", born="1972-04-02", sex="male", subscriber_id="S1"),
        "no_match",
        "household-relative",
    ),
    (
        "a sister born with the day and month swapped, another given name",
        person("Elena", "Lopez", born="1990-12-01", sex="female", subscriber_id="S1"),
        person("Maria", "Lopez", born="1990-01-12", sex="female", subscriber_id="S1"),
        "no_match",
        "household-relative",
    ),
    (
        "a twin",
        person("Taylor", subscriber_id="S1"),
        person("Jordan", subscriber_id="S1"),
        "no_match",
        "twins-different-given-name",
    ),
    (
        "a twin whose birth year was keyed wrong",
        person("Taylor", born="1990-04-02", subscriber_id="S1"),
        person("Jordan", born="1980-04-02", subscriber_id="S1"),
        "no_match",
        "household-relative",
    ),
    (
        "a twin whose day and month were swapped",
        person("Taylor", born="1980-02-04", subscriber_id="S1"),
        person("Jordan", born="1980-04-02", subscriber_id="S1"),
        "no_match",
        "household-relative",
    ),
]


@pytest.mark.parametrize(
    ("query", "member", "outcome", "rule"),
    [c[1:] for c in RELATIVES],
    ids=[c[0] for c in RELATIVES],
)
def test_the_relative_it_looks_like_is_never_matched(
    query: StandardRecord, member: StandardRecord, outcome: str, rule: str | None
) -> None:
    resolution = MATCHER.resolve(query, [Candidate(1, "M1", member)])
    fired = [r.name for r in resolution.verdicts[0].rules if r.fired and r.kind == "negative"]
    assert resolution.decision.outcome.value == outcome
    assert (fired[0] if fired else None) == rule


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1972-05-14", "1992-05-14", "year_digit"),
        ("1972-05-14", "1973-05-14", "year_digit"),
        ("1972-05-14", "1927-05-14", "year_digits_swapped"),
        ("2010-05-14", "2001-05-14", "year_digits_swapped"),
        ("1985-03-07", "1985-07-03", "day_month_swap"),
        ("1985-03-03", "1985-03-03", None),
        ("1972-05-14", "1982-05-15", None),  # a digit of the year and one of the day
        ("1972-05-14", "1929-05-14", None),  # a swap and a digit
        ("1972-05-14", "1927-04-15", None),
        ("1985-03-07", "1985-03-17", None),  # a day digit is not declared
    ],
)
def test_which_keying_error(left: str, right: str, expected: str | None) -> None:
    a, b = person(born=left).birth_date, person(born=right).birth_date
    assert a is not None
    assert b is not None
    assert birth_date_keying_error(a, b) == expected
    assert birth_date_keying_error(b, a) == expected


GUARD = "another-generation-behind-a-keying-error"

# (id, request, member on file, guard holds): same name and home, years a keying error apart
SUFFIXES: list[tuple[str, StandardRecord, StandardRecord, bool]] = [
    (
        "a Jr born on his father's birthday, 'Jr' on the request only",
        person(born="1982-05-14", suffix="Jr"),
        person(born="1952-05-14"),
        False,
    ),
    (
        "a Sr asked for, his Jr enrolled without a suffix",
        person(born="1927-05-14", suffix="Sr", subscriber_id="S1"),
        person(born="1972-05-14", subscriber_id="S1"),
        False,
    ),
    (
        "no suffix on either side: the keyed year is the member",
        person(born="1982-05-14"),
        person(born="1952-05-14"),
        True,
    ),
    (
        "the same suffix on both sides: the member",
        person(born="1992-05-14", suffix="Jr"),
        person(born="1972-05-14", suffix="Jr"),
        True,
    ),
    (
        "a suffix on one side, but a year digit off by less than a generation",
        person(born="1979-05-14", suffix="Jr"),
        person(born="1972-05-14"),
        True,
    ),
]


@pytest.mark.parametrize(
    ("query", "member", "held"),
    [c[1:] for c in SUFFIXES],
    ids=[c[0] for c in SUFFIXES],
)
def test_a_suffix_on_one_side_sends_a_keyed_generation_to_review(
    query: StandardRecord, member: StandardRecord, held: bool
) -> None:
    """`generations-apart` excuses the keyed year; a Jr born on his father's birthday looks the
    same, and a suffix on one side is the only sign of him: a steward decides."""
    resolution = MATCHER.resolve(query, [Candidate(1, "M1", member)])
    [check] = [g for g in resolution.verdicts[0].guards if g.guard == GUARD]
    assert check.held is held
    assert resolution.decision.outcome.value == ("match" if held else "review")
