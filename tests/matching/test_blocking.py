"""Blocking keys, table-driven: which pairs of records share a key (and so meet as candidates).

The keys for two simultaneous changes: a birth date keyed with one error keeps one of its
partial forms (each paired with a name's sound), and a new family name with a mistyped given
name keeps the birth date with the given initial. Two errors in the date, or another person's
date, share none.
"""

from __future__ import annotations

from datetime import date

import pytest

from identity.matching.blocking import BLOCKING_KEYS, blocking_keys, partial_birth_dates
from identity.matching.policy import find_policy
from identity.matching.record import StandardRecord
from tests.conftest import RULES_DIR
from tests.factories import person

BORN = "1972-05-09"

DATES = [
    # (id, the other date, do they share a partial form)
    ("a day digit", "1972-05-08", True),
    ("a month digit", "1972-04-09", True),
    ("the year's last digit", "1973-05-09", True),
    ("a decade digit (1972 as 1992)", "1992-05-09", True),
    ("the year's last two digits swapped (1972 as 1927)", "1927-05-09", True),
    ("day and month swapped", "1972-09-05", True),
    ("the same date", BORN, True),
    ("a day digit and a year digit: two errors", "1973-05-08", False),
    ("another person's date", "1980-11-23", False),
    ("a century away: the year's last digit and the day still meet", "2072-05-09", True),
    ("another year and another day", "1975-05-19", False),
]


@pytest.mark.parametrize(("other", "shared"), [c[1:] for c in DATES], ids=[c[0] for c in DATES])
def test_one_keying_error_keeps_a_partial_birth_date(other: str, shared: bool) -> None:
    forms = set(partial_birth_dates(date.fromisoformat(BORN)))
    assert bool(forms & set(partial_birth_dates(date.fromisoformat(other)))) is shared


def _share(key: str, a: StandardRecord, b: StandardRecord) -> bool:
    return bool(set(blocking_keys(a, [key])) & set(blocking_keys(b, [key])))


MEMBER = person("Katherine", "Novak", BORN)
PAIRS = [
    # (id, key, request, shares the key with MEMBER)
    (
        "new family name, a birth year digit: the given name's sound and month-day",
        "given_partial_dob",
        person("Katherine", "Zabrowski", "1992-05-09"),
        True,
    ),
    (
        "mistyped given name, a day digit: the family name's sound and year-month",
        "family_partial_dob",
        person("Katherqne", "Novak", "1972-05-08"),
        True,
    ),
    (
        "a namesake born another day: no partial date in common",
        "given_partial_dob",
        person("Katherine", "Zabrowski", "1972-11-23"),
        False,
    ),
    (
        "new family name and a mistyped given name: the birth date with the given initial",
        "dob_given_initial",
        person("Katherqne", "Zabrowski", BORN),
        True,
    ),
    (
        "a nickname with another first letter: its full name's initial (Kathy, Katherine)",
        "dob_given_initial",
        person("Cathy", "Zabrowski", BORN),
        True,
    ),
    (
        "a twin of another initial born the same day",
        "dob_given_initial",
        person("Olivia", "Novak", BORN),
        False,
    ),
]


@pytest.mark.parametrize(
    ("key", "request_", "shared"), [c[1:] for c in PAIRS], ids=[c[0] for c in PAIRS]
)
def test_keys_for_two_changes(key: str, request_: StandardRecord, shared: bool) -> None:
    assert _share(key, request_, MEMBER) is shared


def test_no_birth_date_or_name_gives_no_partial_keys() -> None:
    nameless = person(None, None, BORN)
    undated = person("Katherine", "Novak", None)
    for key in ("given_partial_dob", "family_partial_dob", "dob_given_initial"):
        assert blocking_keys(undated, [key]) == []
    assert blocking_keys(nameless, ["given_partial_dob", "family_partial_dob"]) == []


def test_the_default_policy_blocks_on_every_known_key() -> None:
    """Members are indexed under every key; the default policy asks every one of them."""
    assert set(find_policy(RULES_DIR, "default").document.blocking.keys) == set(BLOCKING_KEYS)
