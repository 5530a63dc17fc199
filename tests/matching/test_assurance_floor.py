"""The identity assurance floor of the default policy, table-driven through the real matcher.

A card's member id and a birth date outweigh two wrong names in the weights (p ~ 0.99); the
policy's guards hold such a match at review unless the names support it, while the ways real
people's names vary (nicknames, married and compound names, typos, initials) still match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from identity.matching.decision import Outcome
from identity.matching.engine import Candidate, Matcher
from identity.matching.policy import Policy, find_policy, parse_policy
from identity.matching.record import StandardRecord
from identity.training.estimates import Estimates, LevelEstimate
from identity.training.write import render, trained_document
from tests.conftest import RULES_DIR
from tests.factories import person

DEFAULT = find_policy(RULES_DIR, "default")
CARD = "DH10001235"
BORN = "1974-12-25"


def _without_guards(policy: Policy) -> Policy:
    document: dict[str, Any] = yaml.safe_load(policy.source_text)
    del document["guards"]
    return parse_policy(yaml.safe_dump(document, sort_keys=False))


UNGUARDED = Matcher(_without_guards(DEFAULT))
GUARDED = Matcher(DEFAULT)


def member(
    family: str = "Person",
    *,
    maiden: str | None = None,
    given: str = "Patricia",
    sex: str = "female",
) -> StandardRecord:
    return person(
        given,
        family,
        BORN,
        sex=sex,
        member_id=CARD,
        street="12 Elm Street",
        maiden=maiden,
    )


def query(
    given: str, family: str, *, sex: str = "female", zip_code: str | None = None
) -> StandardRecord:
    """What a caller holding the card sends: its member id, the birth date, some names."""
    return person(given, family, BORN, sex=sex, member_id=CARD, street=None, zip_code=zip_code)


NAMES, INITIAL = "names-support-the-match", "initial-of-the-other-sex"
CAPPED = [
    # (id, query, member, the guards that do not hold)
    ("John Smith", query("John", "Smith"), member(), [NAMES]),
    ("garbage names", query("Xqzvt", "Wkkjhg"), member(), [NAMES]),
    ("a loose given spelling is not support", query("Patience", "Smith"), member(), [NAMES]),
    (
        "a typo in one short name, the other different",
        query("Rajl", "Smith", sex="male"),
        member("Lee", given="Raul", sex="male"),
        [NAMES],
    ),
    (
        "a sound-alike code is not support (NYSIIS: John, James)",
        query("John", "Smith", sex="male"),
        member("Powell", given="James", sex="male"),
        [NAMES],
    ),
    (
        "nor a name crosswise on a longer one (John, Johnson)",
        query("John", "Smith", sex="male"),
        member("Johnson", given="Joshua", sex="male"),
        [NAMES],
    ),
    (
        "a one-letter sound-alike of the other sex",
        query("L", "Gilmore", zip_code="02143"),
        member("Gilmore", given="Luis", sex="male"),
        [INITIAL],
    ),
    (
        "other sex, an initial, another family name",
        query("P", "Q", sex="male", zip_code="02143"),
        member(),
        [NAMES, INITIAL],
    ),
    (
        "other sex, an initial, the family name",
        query("P", "Person", sex="male", zip_code="02143"),
        member(),
        [INITIAL],
    ),
]


@pytest.mark.parametrize(("q", "m", "guards"), [c[1:] for c in CAPPED], ids=[c[0] for c in CAPPED])
def test_a_card_and_a_birth_date_are_not_enough(
    q: StandardRecord, m: StandardRecord, guards: list[str]
) -> None:
    # Without its guards the same policy matches on the card and the birth date alone...
    assert UNGUARDED.resolve(q, [Candidate(1, CARD, m)]).decision.outcome is Outcome.MATCH
    resolution = GUARDED.resolve(q, [Candidate(1, CARD, m)])
    # ...with them, at most review, and the evidence says which guard held it back.
    assert resolution.decision.outcome is Outcome.REVIEW
    assert resolution.decision.reason.value == "capped-by-guard"
    assert resolution.member is None
    [verdict] = resolution.verdicts
    failed = [g["guard"] for g in verdict.evidence()["guards"] if not g["held"]]
    assert failed == guards


MATCHED = [
    # (id, query, member)
    ("the same names", query("Patricia", "Person"), member()),
    ("a nickname", query("Trish", "Person"), member()),
    ("a nickname and a new family name", query("Trish", "Okafor"), member()),
    ("married: a new family name, the same given name", query("Patricia", "Okafor"), member()),
    (
        "the earlier family name on record",
        query("Patricia", "Person"),
        member("Okafor", maiden="Person"),
    ),
    ("a typo in each name", query("Patrcia", "Persn"), member()),
    (
        "a typo in each short name (neither clearly differs)",
        query("Rajl", "Lse", sex="male"),
        member("Lee", given="Raul", sex="male"),
    ),
    ("a typo in the given name, a new family name", query("Patricai", "Okafor"), member()),
    ("names swapped", query("Person", "Patricia"), member()),
    ("names in each other's fields, one mistyped", query("Persn", "Patricia"), member()),
    ("in each other's fields, a nickname", query("Person", "Trish"), member()),
    ("part of a compound family name", query("Patricia", "Person"), member("Person-Okafor")),
    ("a hyphenated family name for the plain one", query("Patricia", "Okafor-Person"), member()),
    ("an initial with the family name", query("P", "Person"), member()),
    ("the middle name used as given name", query("Ann", "Person"), member()),
    ("the other sex with a full name", query("Patricia", "Person", sex="male"), member()),
]


@pytest.mark.parametrize(("q", "m"), [c[1:] for c in MATCHED], ids=[c[0] for c in MATCHED])
def test_real_name_variations_still_match(q: StandardRecord, m: StandardRecord) -> None:
    resolution = GUARDED.resolve(q, [Candidate(1, CARD, m)])
    assert resolution.decision.outcome is Outcome.MATCH, resolution.decision
    [verdict] = resolution.verdicts
    checks = verdict.evidence()["guards"]
    assert [g["guard"] for g in checks] == [g.name for g in DEFAULT.document.guards]
    assert all(g["held"] for g in checks)


def test_names_in_each_others_fields_are_read_crosswise() -> None:
    mixed = GUARDED.resolve(query("Persn", "Patricia"), [Candidate(1, CARD, member())])
    floor = mixed.verdicts[0].evidence()["guards"][0]
    assert floor == {
        "guard": "names-support-the-match",
        "held": True,
        "cap": "review",
        "levels": {"given_name": "exact", "family_name": "jaro_winkler_0.92"},
        "crosswise": True,
    }


def test_the_default_policy_declares_the_floor() -> None:
    floor, initial = DEFAULT.document.guards[:2]
    assert (floor.name, floor.cap) == ("names-support-the-match", "review")
    assert floor.require_any is not None
    alone = [c["given_name"] for c in floor.require_any if set(c) == {"given_name"}]
    assert alone == [("exact", "swapped", "nickname", "jaro_winkler_0.92")]  # no initial
    assert (initial.name, initial.when) == (
        "initial-of-the-other-sex",
        {"given_name": ("phonetic", "initial"), "sex": ("else",)},
    )
    assert DEFAULT.label == "1.5.0"


def test_a_trained_policy_keeps_the_guards() -> None:
    """`identity train` rewrites the model only: the floor survives, and still caps."""
    model = DEFAULT.document.model
    assert model is not None
    levels = [
        LevelEstimate(name, label, label, p.m * 0.9, p.u, True, True, p.m)
        for name, by_label in model.parameters.items()
        for label, p in by_label.items()
    ]
    estimates = Estimates(0.0002, levels, ("member_id",), 0.5, 10, 1000, 1, [])
    document = trained_document(
        DEFAULT,
        estimates,
        label="1.3.0-trained.202612070000",
        term_frequencies={},
        training={"trained_at": datetime(2026, 12, 7, tzinfo=UTC).isoformat()},
    )
    trained = parse_policy(render(document, "trained"))
    assert trained.version != DEFAULT.version
    assert trained.document.guards == DEFAULT.document.guards
    john = Matcher(trained).resolve(query("John", "Smith"), [Candidate(1, CARD, member())])
    assert john.decision.reason.value == "capped-by-guard"
