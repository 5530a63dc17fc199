"""The rules' thresholds, distances and codes live in the policy (`predicates:`): today's values
are the defaults, a changed value is a new version that decides differently, and a policy that
does not mention them decides as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from identity.matching.engine import Candidate, Matcher
from identity.matching.policy import PolicyError, PredicatesSpec, canonical_hash, parse_policy
from identity.matching.record import StandardRecord
from identity.matching.rules import DEFAULT_SETTINGS, PredicateSettings
from tests.conftest import RULES_DIR
from tests.factories import person
from tests.matching.test_rules import CASES

DEFAULT_TEXT = (RULES_DIR / "default.yaml").read_text()
Edit = Callable[[dict[str, Any]], None]


def _document(edit: Edit | None = None) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)
    if edit is not None:
        edit(document)
    return document


def _matcher(document: dict[str, Any]) -> Matcher:
    return Matcher(parse_policy(yaml.safe_dump(document, sort_keys=False)))


def _fired(matcher: Matcher, query: StandardRecord, member: StandardRecord) -> set[str]:
    verdict = matcher.verdict(query, Candidate(1, "M1", member))
    return {r.name for r in verdict.rules if r.fired}


def _rule(document: dict[str, Any], name: str) -> dict[str, Any]:
    rules = document["rules"]["negative"] + document["rules"]["positive"]
    found: dict[str, Any] = next(r for r in rules if r["name"] == name)
    return found


def _as_stored_before(document: dict[str, Any]) -> None:
    """The default policy as a document stored before `predicates:` existed would say it."""
    del document["predicates"]
    _rule(document, "generations-apart")["when"]["birth_date"] = {"years_apart_at_least": 15}


def test_the_default_policy_declares_the_defaults_and_its_keying_errors() -> None:
    declared = parse_policy(DEFAULT_TEXT).document.predicates
    assert declared.birth_date.keying_errors == (
        "year_digit",
        "year_digits_swapped",
        "day_month_swap",
    )
    without_keying = declared.model_copy(
        update={"birth_date": declared.birth_date.model_copy(update={"keying_errors": ()})}
    )
    assert without_keying == PredicatesSpec()
    assert PredicatesSpec().settings() == DEFAULT_SETTINGS == PredicateSettings()


def test_a_document_without_the_section_keeps_its_hash_and_gets_the_defaults() -> None:
    document = _document(_as_stored_before)
    text = yaml.safe_dump(document, sort_keys=False)
    policy = parse_policy(text)
    assert policy.content_hash == canonical_hash(yaml.safe_load(text))
    assert policy.document.predicates == PredicatesSpec()


SAME_HOME_NAMESAKES = [
    # (id, query, member): pairs whose verdict no keying error touches
    *[(c[0], c[1], c[2]) for c in CASES],
    ("Steven and Stefan, twins", person("Steven"), person("Stefan")),
    ("Daniel and Danielle", person("Daniel", sex="other"), person("Danielle", sex="female")),
    ("Jr/Sr 15 years to the day", person(born="1980-01-01"), person(born="1995-01-01")),
]


@pytest.mark.parametrize(
    ("query", "member"),
    [c[1:] for c in SAME_HOME_NAMESAKES],
    ids=[c[0] for c in SAME_HOME_NAMESAKES],
)
def test_the_defaults_decide_as_a_policy_stored_before_them(
    query: StandardRecord, member: StandardRecord
) -> None:
    """Declaring today's values explicitly changes no verdict (rules compiled from the section
    against rules compiled from an old document without it)."""
    explicit = _document()
    explicit["predicates"]["birth_date"]["keying_errors"] = []
    old, new = _matcher(_document(_as_stored_before)), _matcher(explicit)
    assert _fired(old, query, member) == _fired(new, query, member)


def _set(section: str, key: str, value: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["predicates"][section][key] = value

    return edit


SSN, SSN_SWAPPED = "523-45-6780", "523-45-6870"

# (id, edit of the default policy, query, member, rule, fires under default, fires after edit)
CHANGES: list[tuple[str, Edit, StandardRecord, StandardRecord, str, bool, bool]] = [
    (
        "two edits are still a typo: Steven/Stefan are no longer twins' names",
        _set("given_name", "typo_edits", 2),
        person("Steven"),
        person("Stefan"),
        "twins-different-given-name",
        True,
        False,
    ),
    (
        "a stricter agreement: Jordyn no longer agrees with Jordan",
        _set("given_name", "agree_jaro_winkler", 0.95),
        person("Jordyn", ssn=SSN),
        person("Jordan", ssn=SSN),
        "ssn-birth-date-given-name",
        True,
        False,
    ),
    (
        "first letter not kept: Ryan/Bryan become a near spelling",
        _set("given_name", "first_letter_kept", False),
        person("Ryan", subscriber_id="S1"),
        person("Bryan", subscriber_id="S1"),
        "twins-different-given-name",
        True,
        False,
    ),
    (
        "a family name near spelling must be closer to count as a typo",
        _set("family_name", "differ_jaro_winkler", 0.9),
        person("Frederick", "Davis"),
        person("Angel", "Dsvis"),
        "twins-different-given-name",
        True,
        False,
    ),
    (
        "a family name near spelling must be closer to agree",
        _set("family_name", "agree_jaro_winkler", 0.97),
        person(family="Okafro", born="1952-01-10"),
        person(family="Okafor", born="1980-01-10"),
        "generations-apart",
        True,
        False,
    ),
    (
        "a longer year: 15 years to the day are not 15 years",
        _set("birth_date", "days_per_year", 366),
        person(born="1980-01-01"),
        person(born="1995-01-01"),
        "generations-apart",
        True,
        False,
    ),
    (
        "no keying error declared: a year keyed 1992 for 1972 is a Jr/Sr again",
        _set("birth_date", "keying_errors", []),
        person(born="1992-05-14"),
        person(born="1972-05-14"),
        "generations-apart",
        False,
        True,
    ),
    (
        "SSNs with two digits swapped differ once no keying error is allowed",
        _set("ssn", "keying_edits", 0),
        person(ssn=SSN, born="1970-01-01"),
        person(ssn=SSN_SWAPPED),
        "different-ssn-and-birth-date",
        False,
        True,
    ),
    (
        "a recorded 'other' sex can differ once listed",
        _set("sex", "differ_codes", ["M", "F", "O"]),
        person("Daniel", sex="other"),
        person("Danielle", sex="female"),
        "relative-of-the-other-sex",
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("edit", "query", "member", "rule", "before", "after"),
    [c[1:] for c in CHANGES],
    ids=[c[0] for c in CHANGES],
)
def test_a_changed_setting_is_a_new_version_and_changes_the_verdict(
    edit: Edit,
    query: StandardRecord,
    member: StandardRecord,
    rule: str,
    before: bool,
    after: bool,
) -> None:
    default, changed = _document(), _document(edit)
    assert canonical_hash(changed) != canonical_hash(default)
    assert (rule in _fired(_matcher(default), query, member)) is before
    assert (rule in _fired(_matcher(changed), query, member)) is after


def test_every_problem_in_the_section_is_reported_at_once() -> None:
    def edit(document: dict[str, Any]) -> None:
        predicates = document["predicates"]
        predicates["given_name"]["agree_jaro_winkler"] = 1.5
        predicates["given_name"]["typo_edits"] = -1
        predicates["family_name"]["shoe_size"] = 3
        predicates["birth_date"]["keying_errors"] = ["year_digit", "century", "year_digit"]
        predicates["sex"]["differ_codes"] = ["M", "X"]

    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(_document(edit)), source="edited.yaml")
    text = " | ".join(caught.value.problems)
    for where in (
        "predicates.given_name.agree_jaro_winkler",
        "predicates.given_name.typo_edits",
        "predicates.family_name.shoe_size",
        "predicates.birth_date.keying_errors",
        "predicates.sex.differ_codes",
    ):
        assert where in text
    assert len(caught.value.problems) == 5


def test_names_out_of_order_and_repeats_are_refused() -> None:
    def edit(document: dict[str, Any]) -> None:
        document["predicates"]["family_name"] = {
            "agree_jaro_winkler": 0.8,
            "differ_jaro_winkler": 0.9,
        }
        document["predicates"]["birth_date"]["keying_errors"] = ["year_digit", "year_digit"]

    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(_document(edit)))
    text = " | ".join(caught.value.problems)
    assert "differ_jaro_winkler must not exceed agree_jaro_winkler" in text
    assert "listed more than once" in text


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ([], "an empty list of predicates"),
        (["differ", "differ"], "listed twice"),
        (["differ", "resembles", {"years_apart_at_least": "x"}], "resembles"),
    ],
    ids=["empty", "repeated", "two unknown"],
)
def test_a_list_of_predicates_on_one_field_is_checked(spec: list[Any], problem: str) -> None:
    def edit(document: dict[str, Any]) -> None:
        _rule(document, "household-relative")["when"]["birth_date"] = spec

    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(_document(edit)))
    text = " | ".join(caught.value.problems)
    assert problem in text
    if len(spec) == 3:
        assert "years_apart_at_least" in text


def _keying_guard(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        g for g in document["guards"] if g["name"] == "another-generation-behind-a-keying-error"
    )
    return found


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda g: g["when_predicates"].update(suffix="resembles", ssn=["differ", "differ"]),
            "resembles",
        ),
        (lambda g: g.update(crosswise=True), "not with predicates"),
        (lambda g: g.update(when={"sex": ["else"]}), "either `require_any` or `when`"),
        (lambda g: g.update(when_predicates={}), "a guard needs a condition"),
    ],
    ids=["unknown predicates", "crosswise", "two forms", "empty"],
)
def test_a_guard_of_predicates_is_checked(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    document = _document()
    change(_keying_guard(document))
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(document))
    [found] = caught.value.problems
    assert found.startswith("guards.")
    assert problem in found
    if problem == "resembles":
        assert "listed twice" in found


def test_a_guard_of_predicates_needs_no_model() -> None:
    """Predicates read the records, not comparison levels: no comparisons needed, and the guard
    still caps what a positive rule made certain."""

    def edit(document: dict[str, Any]) -> None:
        document["guards"] = [_keying_guard(document)]
        del document["comparisons"], document["model"]
        document["rules"]["positive"] = [
            {"name": "card-and-name", "when": {"subscriber_id": "exact", "given_name": "exact"}}
        ]

    matcher = Matcher(parse_policy(yaml.safe_dump(_document(edit))))
    member = Candidate(1, "M1", person(born="1952-05-14", subscriber_id="S1"))
    for suffix, outcome in ((None, "match"), ("Jr", "review")):
        query = person(born="1982-05-14", suffix=suffix, subscriber_id="S1")
        resolution = matcher.resolve(query, [member])
        assert resolution.decision.outcome.value == outcome
        [check] = resolution.verdicts[0].guards
        assert check.held is (suffix is None)
