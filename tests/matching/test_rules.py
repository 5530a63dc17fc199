"""The default policy's deterministic rules, as a steward would read them: left person, right
person, which rule fires (or none)."""

from __future__ import annotations

import pytest

from identity.matching.engine import Candidate, Matcher
from identity.matching.policy import find_policy
from identity.matching.record import StandardRecord
from identity.matching.rules import given_agree, given_differ
from tests.conftest import RULES_DIR
from tests.factories import person

MATCHER = Matcher(find_policy(RULES_DIR, "default"))

CASES = [
    # (id, query, member, rules that fire)
    (
        "same card, birth date and name",
        person(subscriber_id="S1"),
        person(subscriber_id="S1"),
        {"subscriber-id-birth-date-name", "full-demographics-at-home"},
    ),
    (
        "same card, nickname Bill for William",
        person("Bill", subscriber_id="S1", street=None, zip_code=None),
        person("William", subscriber_id="S1"),
        {"subscriber-id-birth-date-name"},
    ),
    (
        "same card but a twin: other given name",
        person("Jordan", subscriber_id="S1"),
        person("Taylor", subscriber_id="S1"),
        {"twins-different-given-name"},
    ),
    (
        "a near spelling on a household card is left to the weights",
        person("Jordan", subscriber_id="S1"),
        person("Jordon", subscriber_id="S1"),
        set(),
    ),
    (
        "Jr and Sr at one address, 28 years apart",
        person(born="1952-01-10", subscriber_id="S1"),
        person(born="1980-01-10", subscriber_id="S1"),
        {"generations-apart"},
    ),
    (
        "Jr versus Sr suffixes",
        person(suffix="Jr", street=None),
        person(suffix="Sr", street="1 Elm St"),
        {"generation-suffix-conflict"},
    ),
    (
        "member id confirmed by birth date and names",
        person(member_id="M123", street=None, zip_code=None),
        person(member_id="m-123"),
        {"member-id-birth-date-name"},
    ),
    (
        "member id but another birth date: nothing certain",
        person(member_id="M123", born="1981-04-02", street=None),
        person(member_id="M123"),
        set(),
    ),
    (
        "SSN with a married family name",
        person("Ana", "Smith", ssn="123-45-6780", street=None),
        person("Ana", "Jones", ssn="123456780", street="9 Oak Ave"),
        {"ssn-birth-date-given-name"},
    ),
    (
        "a sibling on the same card: other name, other birth date",
        person("Pedro", born="1967-11-19", subscriber_id="S1", street=None),
        person("Luis", born="2017-10-22", subscriber_id="S1", street=None),
        {"household-relative"},
    ),
    (
        "different SSNs and birth dates",
        person(ssn="123-45-6780", born="1970-01-01"),
        person(ssn="223-55-6781"),
        {"different-ssn-and-birth-date"},
    ),
    (
        "two SSN digits swapped is a keying error, not another person",
        person(ssn="123-45-6780", born="1970-01-01"),
        person(ssn="123-45-6870"),
        set(),
    ),
    (
        "twins never share an SSN: the same one means a mistyped given name",
        person("Jordan", ssn="123-45-6780"),
        person("Taylor", ssn="123-45-6780"),
        set(),
    ),
    (
        "a twin with an SSN of their own is still kept apart",
        person("Jordan", ssn="123-45-6780"),
        person("Taylor", ssn="223-45-6781"),
        {"twins-different-given-name"},
    ),
    (
        "Jr and Sr with the same SSN: one person, a mistyped birth year",
        person(born="1952-01-10", subscriber_id="S1", ssn="123-45-6780"),
        person(born="1982-01-10", subscriber_id="S1", ssn="123-45-6780"),
        set(),
    ),
    (
        "maiden name on file agrees with the family name given",
        person("Ana", "Lopez", subscriber_id="S9"),
        person("Ana", "Garcia", subscriber_id="S9", maiden="Lopez"),
        {"subscriber-id-birth-date-name"},
    ),
]


@pytest.mark.parametrize(
    ("query", "member", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rules_fire_as_a_steward_expects(
    query: StandardRecord, member: StandardRecord, expected: set[str]
) -> None:
    verdict = MATCHER.verdict(query, Candidate(1, "M1", member))
    fired = {r.name for r in verdict.rules if r.fired}
    assert fired == expected


def test_negative_rule_wins_over_positive() -> None:
    # Same card, birth date, family name and home, but clearly another given name: a twin.
    verdict = MATCHER.verdict(
        person("Jordan", subscriber_id="S1"),
        Candidate(1, "M1", person("Taylor", subscriber_id="S1")),
    )
    assert verdict.status.value == "excluded"


@pytest.mark.parametrize(
    ("a", "b", "agree", "differ"),
    [
        ("Robert", "Bob", True, False),
        ("Margaret", "Peggy", True, False),
        ("Jonathan", "Jonathon", True, False),
        ("J", "Jordan", False, False),  # an initial is neither
        ("J", "Taylor", False, True),
        ("Jordan", "Taylor", False, True),
        ("Jordan", "Jordon", True, False),  # one keystroke, first letter kept: a typo
        ("Ryan", "Bryan", False, True),  # near spelling, another first letter: twins' names
        ("Casey", "Chase", False, True),
        ("Joshua", "John", False, True),
        ("Ale Xander", "Alexander", True, False),  # a stray space splits one name in two
    ],
)
def test_given_name_agreement(a: str, b: str, agree: bool, differ: bool) -> None:
    left, right = person(a), person(b)
    assert given_agree(left, right) is agree
    assert given_differ(left, right) is differ


def test_an_ssn_two_members_hold_excuses_no_relative() -> None:
    """Twins filed under their parent's SSN: the shared SSN identifies nobody, so the twin rule
    keeps the other twin apart, and the evidence says the rules set the SSN aside."""
    parents_ssn = "123-45-6780"
    twin = Candidate(1, "M1", person("Taylor", ssn=parents_ssn))
    parent = Candidate(2, "M2", person("Chidi", born="1955-07-30", ssn=parents_ssn))
    query = person("Jordan", ssn=parents_ssn)

    alone = MATCHER.resolve(query, [twin])
    assert not alone.ssn_set_aside
    assert alone.verdicts[0].status.value != "excluded"

    together = MATCHER.resolve(query, [twin, parent])
    assert together.ssn_set_aside
    statuses = {v.candidate.member_id: v.status.value for v in together.verdicts}
    assert statuses == {"M1": "excluded", "M2": "excluded"}
    assert together.member is None


@pytest.mark.parametrize(
    ("query", "member", "expected"),
    [
        (
            person("Michael", born="1993-01-10", sex="male", subscriber_id="S1"),
            person("Michelle", born="1999-05-16", sex="female", subscriber_id="S1"),
            {"relative-of-the-other-sex"},
        ),
        (  # boy/girl twins: one keystroke apart, yet a brother's and a sister's names
            person("Francis", sex="male", subscriber_id="S1"),
            person("Frances", sex="female", subscriber_id="S1"),
            {"relative-of-the-other-sex"},
        ),
        (  # a nickname, the sex recorded wrongly on one side: the card still confirms
            person("Alex", sex="male", subscriber_id="S1"),
            person("Alexandra", sex="female", subscriber_id="S1"),
            {"subscriber-id-birth-date-name"},
        ),
        (  # a twin whose family name was mistyped on enrolment
            person("Frederick", "Davis", born="2006-02-02"),
            person("Angel", "Dsvis", born="2006-02-02"),
            {"twins-different-given-name"},
        ),
    ],
)
def test_relatives_despite_close_spellings(
    query: StandardRecord, member: StandardRecord, expected: set[str]
) -> None:
    fired = {r.name for r in MATCHER.verdict(query, Candidate(1, "M1", member)).rules if r.fired}
    assert fired == expected
