"""The guard's counting, as a table: what one client tried, what it tries next, admitted or not
(limits 3 cards per near-same demographics and 3 people per card)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from identity.config import Settings
from identity.exchange.guard import GuardKeys, Tried, admit, guard_keys, retry_after_s
from identity.matching.record import StandardRecord

SETTINGS = Settings(
    member_match_max_cards=3, member_match_max_people_per_card=3, member_match_window_s=3600
)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


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
    assert [admit(tried, k, SETTINGS, NOW) for k in attempts] == [bool(a) for a in admitted], case


def test_retry_after_is_when_the_oldest_counted_card_leaves_the_window() -> None:
    tried = Tried()
    for minutes_ago, card in ((50, "a"), (20, "b"), (5, "c")):
        assert admit(tried, keys(card), SETTINGS, NOW - timedelta(minutes=minutes_ago))
    assert not admit(tried, keys("d"), SETTINGS, NOW)
    assert retry_after_s(tried, keys("d"), SETTINGS, NOW) == 10 * 60  # "a" expires in 10 min
    # Trying "a" again keeps it counted: the lockout ends when "b" expires.
    assert admit(tried, keys("a"), SETTINGS, NOW)
    assert retry_after_s(tried, keys("d"), SETTINGS, NOW) == 40 * 60


def test_retry_after_waits_for_both_counters_when_both_are_full() -> None:
    tried = Tried()
    for n, minutes_ago in enumerate((55, 50, 45)):  # three cards for these demographics
        assert admit(tried, keys(f"c{n}"), SETTINGS, NOW - timedelta(minutes=minutes_ago))
    for n, minutes_ago in enumerate((30, 25, 20)):  # three people with card "z" (others' keys)
        when = NOW - timedelta(minutes=minutes_ago)
        assert admit(tried, keys("z", f"p{n}", demographics=f"d{n}"), SETTINGS, when)
    refused = keys("z", "p-new")
    assert not admit(tried, refused, SETTINGS, NOW)
    assert retry_after_s(tried, refused, SETTINGS, NOW) == 30 * 60


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
