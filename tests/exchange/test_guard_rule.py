"""The guard's counting, as a table: what one client tried, what it tries next, admitted or not
(limits 3 cards per near-same demographics and 3 people per card)."""

from __future__ import annotations

from datetime import date

import pytest

from identity.config import Settings
from identity.exchange.guard import GuardKeys, Tried, admit, guard_keys
from identity.matching.record import StandardRecord

SETTINGS = Settings(member_match_max_cards=3, member_match_max_people_per_card=3)


def keys(card: str, person: str = "p", demographics: str = "d") -> GuardKeys:
    return GuardKeys(demographics, card, person)


# (case, attempts in order) -> admitted, in order
CASES: list[tuple[str, list[GuardKeys], list[bool]]] = [
    ("three cards, then a fourth", [keys("a"), keys("b"), keys("c"), keys("d")], [1, 1, 1, 0]),
    ("a card tried before is still admitted", [*(keys(c) for c in "abc"), keys("a")], [1, 1, 1, 1]),
    (
        "a refused card is not remembered",
        [*(keys(c) for c in "abc"), keys("d"), keys("d")],
        [1, 1, 1, 0, 0],
    ),
    (
        "other demographics have their own budget",
        [*(keys(c) for c in "abc"), keys("d", demographics="e")],
        [1, 1, 1, 1],
    ),
    (
        "four people with one card",
        [keys("a", p) for p in ("p1", "p2", "p3", "p4")],
        [1, 1, 1, 0],
    ),
    (
        "a person tried before with the card",
        [keys("a", p) for p in ("p1", "p2", "p3", "p1")],
        [1, 1, 1, 1],
    ),
]


@pytest.mark.parametrize(("case", "attempts", "admitted"), CASES, ids=[c[0] for c in CASES])
def test_admit(case: str, attempts: list[GuardKeys], admitted: list[int]) -> None:
    tried = Tried()
    assert [admit(tried, k, SETTINGS) for k in attempts] == [bool(a) for a in admitted], case


def _query(given: str, family: str, born: date) -> StandardRecord:
    return StandardRecord(
        given=given, family=family, family_phonetic=family[:3].upper(), birth_date=born
    )


def test_the_given_name_is_not_part_of_the_demographics_key() -> None:
    born = date(1974, 12, 25)
    patricia = guard_keys(_query("patricia", "person", born), "card")
    batricia = guard_keys(_query("batricia", "person", born), "card")
    assert patricia.demographics == batricia.demographics
    assert patricia.person != batricia.person  # but another person tried with the card
    other_day = guard_keys(_query("patricia", "person", date(1974, 12, 24)), "card")
    assert other_day.demographics != patricia.demographics
    assert other_day.person != patricia.person
