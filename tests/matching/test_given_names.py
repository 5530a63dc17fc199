"""Given-name equivalence beyond the `nicknames` package (issue 12, family 2), table-driven.

The true person presenting a diminutive the package lacks (Suzy for Susan, Maddie for Madison)
must reach the member; twins with different full names, and a sister whose diminutive is also
her brother's (Dani: Daniel and Danielle), must never match. Coverage is measured on common US
given names and on a hand-checked list of real diminutive pairs; the floors asserted below are
the measured figures (see the report printed with `-s`).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from faker.providers.person.en_US import Provider as UsNames

from identity.matching.decision import Outcome, Status
from identity.matching.engine import Candidate, Matcher
from identity.matching.given_names import (
    GivenNames,
    LearnedNames,
    LearnedPair,
    canonicals,
    diminutives_of,
    hypocoristics,
)
from identity.matching.policy import Policy, find_policy, parse_policy
from identity.matching.record import StandardRecord
from identity.matching.standardize import clean_name
from tests.conftest import RULES_DIR
from tests.factories import person

DEFAULT = find_policy(RULES_DIR, "default")
ALL: tuple[Any, ...] = ("derived", "listed")


def _without_section(policy: Policy) -> Policy:
    document: dict[str, Any] = yaml.safe_load(policy.source_text)
    del document["given_name_equivalences"]
    return parse_policy(yaml.safe_dump(document, sort_keys=False))


BEFORE = Matcher(_without_section(DEFAULT))
AFTER = Matcher(DEFAULT)
BORN = "1991-06-14"
CARD = "HX5550123"
SEX = {"F": "female", "M": "male"}


def enrolled(given: str, sex: str, family: str = "Whitfield") -> StandardRecord:
    """A member at home with the household's card."""
    return person(given, family, BORN, sex=SEX[sex], subscriber_id=CARD)


def presenting(given: str, sex: str, family: str = "Whitfield") -> StandardRecord:
    """A request with the card, the birth date, the home address and the names."""
    return person(given, family, BORN, sex=SEX[sex], subscriber_id=CARD)


def _resolve(matcher: Matcher, q: StandardRecord, m: StandardRecord) -> Any:
    return matcher.resolve(q, [Candidate(1, "M1", m)])


# (the member's full name, the diminutive the same person presents, sex): real usage, all
# absent from the `nicknames` package, so today `twins-different-given-name` excludes them.
DIMINUTIVE_OF_THE_SAME_PERSON = [
    ("Susan", "Suzy", "F"),
    ("Barbara", "Barb", "F"),
    ("Madison", "Maddie", "F"),
    ("Jeremy", "Jerry", "M"),
    ("Katherine", "Katie", "F"),
    ("Susan", "Susy", "F"),
    ("Katherine", "Kat", "F"),
]


@pytest.mark.parametrize(("full", "diminutive", "sex"), DIMINUTIVE_OF_THE_SAME_PERSON)
def test_the_true_person_presenting_a_diminutive_is_found(
    full: str, diminutive: str, sex: str
) -> None:
    member, request = enrolled(full, sex), presenting(diminutive, sex)
    before = _resolve(BEFORE, request, member)
    assert before.verdicts[0].status is Status.EXCLUDED  # the gap the issue reports
    after = _resolve(AFTER, request, member)
    assert after.verdicts[0].status is not Status.EXCLUDED
    assert after.decision.outcome in (Outcome.MATCH, Outcome.REVIEW)
    assert after.member is None or after.member.member_id == "M1"
    # ...and the other way round: the member on file by the diminutive.
    reverse = _resolve(AFTER, presenting(full, sex), enrolled(diminutive, sex))
    assert reverse.verdicts[0].status is not Status.EXCLUDED


# (the enrolled twin, the other twin who asks, their sexes): same birth date, home and card.
TWINS_NEVER_MATCH = [
    ("Madison", "F", "Mackenzie", "F"),
    ("Susan", "F", "Suzanne", "F"),
    ("Barbara", "F", "Beverly", "F"),
    ("Jeremy", "M", "Jeffrey", "M"),
    ("Katherine", "F", "Kaitlyn", "F"),
    ("Madison", "F", "Madeline", "F"),
    # Opposite-sex twins whose names differ by a letter or two, and whose diminutive collides.
    ("Daniel", "M", "Danielle", "F"),
    ("Danielle", "F", "Daniel", "M"),
    ("Eric", "M", "Erica", "F"),
    ("Francis", "M", "Frances", "F"),
    ("Daniel", "M", "Dani", "F"),  # the sister by her diminutive
    ("Danielle", "F", "Dani", "M"),  # the brother by his
    ("Frances", "F", "Fran", "M"),
    ("Francis", "M", "Fran", "F"),
    ("Bobby", "M", "Bobbie", "F"),
    # Brothers whose names the package's two-way rows joined through a diminutive (Bill).
    ("Robert", "M", "William", "M"),
]


@pytest.mark.parametrize(("member_name", "member_sex", "asker", "asker_sex"), TWINS_NEVER_MATCH)
def test_a_twin_or_sibling_never_matches(
    member_name: str, member_sex: str, asker: str, asker_sex: str
) -> None:
    resolution = _resolve(AFTER, presenting(asker, asker_sex), enrolled(member_name, member_sex))
    assert resolution.decision.outcome is not Outcome.MATCH
    assert resolution.verdicts[0].status is Status.EXCLUDED


def test_a_sister_called_dani_is_kept_apart_from_her_brother_by_the_other_sex_rule() -> None:
    resolution = _resolve(AFTER, presenting("Dani", "F"), enrolled("Daniel", "M"))
    fired = [r.name for r in resolution.verdicts[0].rules if r.fired]
    assert "relative-of-the-other-sex" in fired


def test_a_policy_without_the_section_widens_nothing() -> None:
    """Stored policies decide as before: standardising is unchanged, the engine adds nothing."""
    assert not BEFORE.given_names
    request = presenting("Suzy", "F")
    assert request.given_canonicals == frozenset({"SUZY"})
    assert BEFORE.given_names.query_view(request) is request


# --- equivalence, pure -----------------------------------------------------------------------

# Pairs of distinct full names that must never become equivalent (opposite-sex forms and common
# same-sex names of siblings), with the sex each record carries; None: recorded without a sex.
DISTINCT_FULL_NAMES = [
    ("DANIEL", "M", "DANIELLE", "F"),
    ("DANIEL", None, "DANIELLE", None),
    ("ERIC", None, "ERICA", None),
    ("FRANCIS", None, "FRANCES", None),
    ("GEORGE", "M", "GEORGIA", "F"),
    ("PAUL", "M", "PAULA", "F"),
    ("ROBERT", "M", "ROBERTA", "F"),
    ("JOSEPH", "M", "JOSEPHINE", "F"),
    ("MARTIN", "M", "MARTINA", "F"),
    ("MARY", "F", "MARTHA", "F"),
    ("MARIE", "F", "MARIANNE", "F"),
    ("AUDREY", "F", "AUDRA", "F"),
    ("EMILY", "F", "EMILIA", "F"),
    ("MADISON", "F", "MADELINE", "F"),
    ("SUSAN", "F", "SUZANNE", "F"),
    ("KATHERINE", "F", "KAITLYN", "F"),
    ("JEREMY", "M", "JEFFREY", "M"),
    ("JAMES", "M", "JASON", "M"),
    ("MAE", "F", "RITA", "F"),
    # Both filed under BILL by the package's two-way rows: a full name does not pivot through
    # its own diminutive to another full name.
    ("ROBERT", "M", "WILLIAM", "M"),
    ("ROBERT", None, "WILLIAM", None),
]


@pytest.mark.parametrize(("a", "sex_a", "b", "sex_b"), DISTINCT_FULL_NAMES)
def test_distinct_full_names_stay_distinct(
    a: str, sex_a: str | None, b: str, sex_b: str | None
) -> None:
    assert canonicals(a, sex_a, ALL).isdisjoint(canonicals(b, sex_b, ALL))


def test_a_diminutive_shared_by_both_sexes_follows_the_record_sex() -> None:
    assert "DANIEL" in canonicals("DANI", "M", ALL)
    assert "DANIEL" not in canonicals("DANI", "F", ALL)
    assert "DANIELLE" in canonicals("DANI", "F", ALL)
    assert {"DANIEL", "DANIELLE"} <= canonicals("DANI", None, ALL)  # no sex: both
    assert "FRANCIS" not in canonicals("FRAN", "F", ALL) or "FRANCES" in canonicals(
        "FRAN", "F", ALL
    )


@pytest.mark.parametrize(
    ("formal", "expected", "absent"),
    [
        ("MADISON", {"MADDIE", "MADDY", "MADI"}, set()),
        ("SUSAN", {"SUZY", "SUSIE", "SUZIE"}, set()),
        ("BARBARA", {"BARBIE", "BARBY"}, set()),
        ("ERICA", set(), {"ERIC"}),  # no bare clipping: Eric is a brother's name
        ("JOAN", set(), {"JOANIE"}),  # too short to clip
    ],
)
def test_hypocoristics_are_clippings_with_a_diminutive_ending(
    formal: str, expected: set[str], absent: set[str]
) -> None:
    forms = hypocoristics(formal)
    assert expected <= forms
    assert not (absent & forms)


# A hand-checked list of common US diminutive pairs (diminutive, full name, sex): real usage.
COMMON_PAIRS = [
    ("BILL", "WILLIAM", "M"),
    ("BOB", "ROBERT", "M"),
    ("MIKE", "MICHAEL", "M"),
    ("JIM", "JAMES", "M"),
    ("JOE", "JOSEPH", "M"),
    ("TOM", "THOMAS", "M"),
    ("DAVE", "DAVID", "M"),
    ("CHRIS", "CHRISTOPHER", "M"),
    ("MATT", "MATTHEW", "M"),
    ("DAN", "DANIEL", "M"),
    ("TONY", "ANTHONY", "M"),
    ("STEVE", "STEVEN", "M"),
    ("ANDY", "ANDREW", "M"),
    ("JOSH", "JOSHUA", "M"),
    ("NICK", "NICHOLAS", "M"),
    ("ZACH", "ZACHARY", "M"),
    ("JERRY", "JEREMY", "M"),
    ("JAKE", "JACOB", "M"),
    ("NATE", "NATHAN", "M"),
    ("BEN", "BENJAMIN", "M"),
    ("SAM", "SAMUEL", "M"),
    ("ALEX", "ALEXANDER", "M"),
    ("GREG", "GREGORY", "M"),
    ("TIM", "TIMOTHY", "M"),
    ("KEN", "KENNETH", "M"),
    ("RON", "RONALD", "M"),
    ("DON", "DONALD", "M"),
    ("LARRY", "LAWRENCE", "M"),
    ("TED", "EDWARD", "M"),
    ("CHUCK", "CHARLES", "M"),
    ("DREW", "ANDREW", "M"),
    ("GABE", "GABRIEL", "M"),
    ("LIZ", "ELIZABETH", "F"),
    ("BETH", "ELIZABETH", "F"),
    ("JEN", "JENNIFER", "F"),
    ("JENNY", "JENNIFER", "F"),
    ("SUZY", "SUSAN", "F"),
    ("SUE", "SUSAN", "F"),
    ("BARB", "BARBARA", "F"),
    ("MADDIE", "MADISON", "F"),
    ("KATIE", "KATHERINE", "F"),
    ("KATE", "KATHERINE", "F"),
    ("KATHY", "KATHERINE", "F"),
    ("PATTY", "PATRICIA", "F"),
    ("TRISH", "PATRICIA", "F"),
    ("BECKY", "REBECCA", "F"),
    ("MANDY", "AMANDA", "F"),
    ("ABBY", "ABIGAIL", "F"),
    ("MAGGIE", "MARGARET", "F"),
    ("PEGGY", "MARGARET", "F"),
    ("CINDY", "CYNTHIA", "F"),
    ("DEBBIE", "DEBORAH", "F"),
    ("VICKY", "VICTORIA", "F"),
    ("SAMMY", "SAMANTHA", "F"),
    ("JESS", "JESSICA", "F"),
    ("STEPH", "STEPHANIE", "F"),
    ("ALLIE", "ALLISON", "F"),
    ("GABBY", "GABRIELLA", "F"),
    ("IZZY", "ISABELLA", "F"),
    ("LIBBY", "ELIZABETH", "F"),
    ("MEG", "MEGAN", "F"),
    ("NIKKI", "NICOLE", "F"),
    ("TINA", "CHRISTINA", "F"),
    ("TERRI", "TERESA", "F"),
    ("VAL", "VALERIE", "F"),
    ("ANGIE", "ANGELA", "F"),
    ("CASSIE", "CASSANDRA", "F"),
    ("MOLLY", "MARY", "F"),
    ("ELLIE", "ELEANOR", "F"),
    ("LEXI", "ALEXIS", "F"),
    ("KAYLEE", "KAYLA", "F"),
    ("MANNY", "MANUEL", "M"),
    ("FREDDY", "FREDERICK", "M"),
    ("DANNY", "DANIEL", "M"),
]


def _equivalent(a: str, b: str, sex: str, sources: tuple[Any, ...]) -> bool:
    return not canonicals(a, sex, sources).isdisjoint(canonicals(b, sex, sources))


def test_recall_on_common_diminutive_pairs() -> None:
    before = sum(_equivalent(d, f, s, ()) for d, f, s in COMMON_PAIRS) / len(COMMON_PAIRS)
    after = sum(_equivalent(d, f, s, ALL) for d, f, s in COMMON_PAIRS) / len(COMMON_PAIRS)
    print(f"\ndiminutive pairs ({len(COMMON_PAIRS)}): recall {before:.3f} -> {after:.3f}")
    # Measured with nicknames 1.0.1: 0.892 -> 0.986. Only the floor is asserted: a newer
    # package may cover more on its own.
    assert after >= 0.98
    assert after >= before


def _top_names(weights: dict[str, float], n: int) -> list[str]:
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])[:n]
    return [name for name, _ in ((clean_name(k), w) for k, w in ranked) if name]


@pytest.mark.parametrize(
    ("sex", "weights", "floor_before", "floor_after"),
    [
        # Faker's en_US first names (US frequencies): used to measure only, never as a source.
        ("F", UsNames.first_names_female, 0.640, 0.825),
        ("M", UsNames.first_names_male, 0.615, 0.800),
    ],
)
def test_coverage_of_common_us_given_names(
    sex: str, weights: Any, floor_before: float, floor_after: float
) -> None:
    """Share of the 200 commonest names of each sex with at least one known diminutive."""
    names = _top_names(dict(weights), 200)
    before = sum(bool(diminutives_of(n, sex, ())) for n in names) / len(names)
    after = sum(bool(diminutives_of(n, sex, ALL)) for n in names) / len(names)
    print(f"\n{sex} top {len(names)}: names with a diminutive {before:.3f} -> {after:.3f}")
    # `floor_before`: the package alone (nicknames 1.0.1), for the record; a newer one may
    # cover more. The floor asserted is the measured coverage with the declared sources.
    assert after >= floor_after - 0.005
    assert after >= max(before, floor_before)


# --- learned pairs, pure ---------------------------------------------------------------------

WIDEN = GivenNames.of(DEFAULT.document.given_name_equivalences)


def _learned(a: str, b: str, sex: str | None, members: int) -> LearnedNames:
    ids = frozenset(f"M{i}" for i in range(members))
    return LearnedNames((LearnedPair((a, b), sex, ids, tuple(f"r{i}" for i in range(members))),))


@pytest.mark.parametrize(
    ("query_sex", "pair_sex", "members", "used"),
    [
        ("F", "F", 2, True),
        ("F", None, 2, True),
        (None, "F", 2, True),
        ("F", "F", 1, False),  # fewer distinct members than min_links (2)
        ("M", "F", 2, False),  # learned for women only
    ],
)
def test_a_learned_pair_widens_the_query_as_the_policy_says(
    query_sex: str | None, pair_sex: str | None, members: int, used: bool
) -> None:
    learned = _learned("BITSY", "ELIZABETH", pair_sex, members)
    query = person("Bitsy", "Whitfield", BORN, sex=SEX.get(query_sex or ""))
    member = person("Elizabeth", "Whitfield", BORN, sex="female")
    widened = WIDEN.widen(query, [member], ["M9"], learned)
    assert ("ELIZABETH" in widened.query.given_canonicals) is used
    assert bool(widened.learned_used) is used
    if used:
        assert widened.learned_used[0]["member_id"] == "M9"
        assert widened.learned_used[0]["resolution_ids"] == ["r0", "r1"]


def test_a_near_spelling_is_never_learned() -> None:
    """A steward who linked "Daniel" to Danielle fixed a typo: it teaches no equivalence."""
    learned = _learned("DANIEL", "DANIELLE", None, 5)
    query = person("Daniel", "Whitfield", BORN, sex="male")
    assert "DANIELLE" not in WIDEN.query_view(query, learned).given_canonicals
