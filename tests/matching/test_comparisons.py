"""Comparison levels, read as a table: left person, right person, the level the pair lands in.

Every row is checked twice: by the service's Python and by the SQL splink runs (on DuckDB), which
must put the pair in the same level. The comparisons are declared here as in the default policy.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pytest

from identity.matching.comparison_columns import LIST_COLUMNS, TEXT_COLUMNS, frame_row
from identity.matching.comparisons import (
    compared_values,
    comparison_vectors,
    level_label,
    splink_comparison,
)
from identity.matching.policy import ComparisonSpec, LevelSpec
from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.standardize import standardize


def _spec(name: str, *levels: str | tuple[str, float], tf: bool = False) -> ComparisonSpec:
    specs = [
        LevelSpec(kind=lv) if isinstance(lv, str) else LevelSpec(kind=lv[0], threshold=lv[1])
        for lv in levels
    ]
    return ComparisonSpec(name=name, levels=tuple(specs), term_frequency=tf)


SPECS = {
    s.name: s
    for s in (
        _spec(
            "given_name",
            "exact",
            "swapped",
            "nickname",
            ("jaro_winkler", 0.92),
            ("jaro_winkler", 0.8),
            "phonetic",
            "initial",
            "else",
            tf=True,
        ),
        _spec(
            "family_name",
            "exact",
            "swapped",
            "earlier_family",
            "compound_part",
            ("jaro_winkler", 0.92),
            ("jaro_winkler", 0.8),
            "phonetic",
            "else",
            tf=True,
        ),
        _spec(
            "birth_date",
            "exact",
            "day_month_swap",
            "one_digit_off",
            "transposed",
            "year_off_by_one",
            "else",
        ),
        _spec("sex", "exact", "else"),
        _spec("household", "address", "phone", "subscriber_id", "street", "zip", "else"),
        _spec("email", "exact", "else"),
        _spec("ssn", "exact", "one_digit_off", "transposed", "last_four", "else"),
        _spec("member_id", "exact", "else"),
    )
}


def person(
    given: str | None = None,
    family: str | None = None,
    *,
    maiden: str | None = None,
    born: str | None = None,
    sex: str | None = None,
    street: str | None = None,
    zip_code: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    ssn: str | None = None,
    member_id: str | None = None,
    subscriber_id: str | None = None,
) -> StandardRecord:
    """A person as a source would send them, standardised as the service does."""
    names = [RawName(given=(given,) if given else (), family=family, use="official")]
    if maiden:
        names.append(RawName(family=maiden, use="maiden"))
    addresses = ()
    if street or zip_code:
        addresses = (RawAddress(lines=(street,) if street else (), postal_code=zip_code),)
    raw = RawDemographics(
        names=tuple(names),
        birth_date=born,
        gender=sex,
        phones=(phone,) if phone else (),
        emails=(email,) if email else (),
        addresses=addresses,
        ssn=ssn,
        member_id=member_id,
        subscriber_ids=(subscriber_id,) if subscriber_id else (),
    )
    return standardize(raw, today=date(2026, 1, 1))


HOME = {"street": "12 Oak Street", "zip_code": "02139"}

# (comparison, left, right, expected level)
TABLE: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # given name
    ("given_name", {"given": "William"}, {"given": "WILLIAM"}, "exact"),
    ("given_name", {"given": "Bill"}, {"given": "William"}, "nickname"),
    (
        "given_name",
        {"given": "Lowe", "family": "Robbie"},
        {"given": "Robbie", "family": "Lowe"},
        "swapped",
    ),
    (
        "given_name",
        {"given": "Lowe", "family": "Robbie"},
        {"given": "Robbie", "family": "Low"},
        "else",
    ),
    ("given_name", {"given": "Lowe"}, {"given": "Robbie", "family": "Lowe"}, "else"),
    ("given_name", {"given": "Alison"}, {"given": "Allison"}, "jaro_winkler_0.92"),
    ("given_name", {"given": "Steven"}, {"given": "Stephen"}, "jaro_winkler_0.8"),
    ("given_name", {"given": "Jo"}, {"given": "John"}, "jaro_winkler_0.8"),
    ("given_name", {"given": "Cain"}, {"given": "Kane"}, "phonetic"),
    ("given_name", {"given": "J"}, {"given": "John"}, "initial"),
    ("given_name", {"given": "John"}, {"given": "J."}, "initial"),
    ("given_name", {"given": "J"}, {"given": "J"}, "exact"),
    ("given_name", {"given": "A"}, {"given": "B"}, "else"),
    ("given_name", {"given": "Mary"}, {"given": "John"}, "else"),
    ("given_name", {"given": None}, {"given": "John"}, "null"),
    ("given_name", {"given": "John"}, {"given": "..."}, "null"),
    # family name
    ("family_name", {"family": "Smith"}, {"family": "SMITH"}, "exact"),
    (
        "family_name",
        {"given": "Lowe", "family": "Robbie"},
        {"given": "Robbie", "family": "Lowe"},
        "swapped",
    ),
    ("family_name", {"given": "Ann", "family": "Ann"}, {"given": "Ann", "family": "Ann"}, "exact"),
    ("family_name", {"family": "Jones", "maiden": "Smith"}, {"family": "Smith"}, "earlier_family"),
    ("family_name", {"family": "Smith"}, {"family": "Jones", "maiden": "Smith"}, "earlier_family"),
    (
        "family_name",
        {"family": "Jones", "maiden": "Smith"},
        {"family": "Brown", "maiden": "Smith"},
        "earlier_family",
    ),
    ("family_name", {"family": "Garcia Lopez"}, {"family": "Lopez"}, "compound_part"),
    ("family_name", {"family": "Garcia"}, {"family": "Garcia-Lopez"}, "compound_part"),
    ("family_name", {"family": "Garcia Lopez"}, {"family": "Lopez Garcia"}, "compound_part"),
    ("family_name", {"family": "Garcia-Lopez"}, {"family": "Garcia Lopez"}, "exact"),
    ("family_name", {"family": "Johnson"}, {"family": "Johnston"}, "jaro_winkler_0.92"),
    ("family_name", {"family": "Smith"}, {"family": "Smyth"}, "jaro_winkler_0.8"),
    ("family_name", {"family": "Blake"}, {"family": "Block"}, "phonetic"),
    ("family_name", {"family": "Smith"}, {"family": "Nguyen"}, "else"),
    ("family_name", {"family": None}, {"family": "Smith"}, "null"),
    # birth date
    ("birth_date", {"born": "1985-03-07"}, {"born": "1985-03-07"}, "exact"),
    ("birth_date", {"born": "1985-03-07"}, {"born": "1985-07-03"}, "day_month_swap"),
    ("birth_date", {"born": "1985-01-12"}, {"born": "1985-12-01"}, "day_month_swap"),
    ("birth_date", {"born": "1985-03-07"}, {"born": "1985-03-08"}, "one_digit_off"),
    ("birth_date", {"born": "1985-03-07"}, {"born": "1986-03-07"}, "one_digit_off"),
    ("birth_date", {"born": "1989-03-07"}, {"born": "1990-03-07"}, "year_off_by_one"),
    # keying errors in the year: one digit (1972 as 1992), two adjacent digits swapped
    ("birth_date", {"born": "1972-03-12"}, {"born": "1992-03-12"}, "one_digit_off"),
    ("birth_date", {"born": "1963-05-30"}, {"born": "1943-05-30"}, "one_digit_off"),
    ("birth_date", {"born": "1972-03-12"}, {"born": "1927-03-12"}, "transposed"),
    ("birth_date", {"born": "1990-09-09"}, {"born": "1909-09-09"}, "transposed"),
    ("birth_date", {"born": "1985-03-12"}, {"born": "1985-03-21"}, "transposed"),
    ("birth_date", {"born": "1985-01-05"}, {"born": "1985-10-05"}, "transposed"),
    ("birth_date", {"born": "1972-03-12"}, {"born": "1927-03-21"}, "else"),
    ("birth_date", {"born": "1972-03-12"}, {"born": "1972-12-30"}, "else"),
    ("birth_date", {"born": "1985-03-07"}, {"born": "1985-04-08"}, "else"),
    ("birth_date", {"born": "1985-03-07"}, {"born": "1991-11-20"}, "else"),
    ("birth_date", {"born": "1985-03"}, {"born": "1985-03-07"}, "null"),
    ("birth_date", {"born": None}, {"born": None}, "null"),
    # sex
    ("sex", {"sex": "female"}, {"sex": "F"}, "exact"),
    ("sex", {"sex": "female"}, {"sex": "male"}, "else"),
    ("sex", {"sex": "unknown"}, {"sex": "male"}, "null"),
    # household: address, phone, subscriber id and ZIP are one piece of evidence
    ("household", HOME, {"street": "12 OAK ST", "zip_code": "02139-4307"}, "address"),
    ("household", HOME, {**HOME, "phone": "617-555-0100"}, "address"),
    (
        "household",
        {**HOME, "phone": "(617) 555-0100"},
        {"street": "9 Elm St", "zip_code": "02139", "phone": "+1 617 555 0100"},
        "phone",
    ),
    ("household", {"subscriber_id": "S-123"}, {"subscriber_id": "s123", **HOME}, "subscriber_id"),
    ("household", HOME, {"street": "9 Elm St", "zip_code": "02139"}, "zip"),
    ("household", {"street": "12 Oak Street"}, {"street": "12 Oak Street"}, "street"),
    ("household", HOME, {"street": "12 Oak Street", "zip_code": "02193"}, "street"),
    ("household", HOME, {"street": "12 Oak Street, Apt 4"}, "street"),
    ("household", HOME, {"street": "14 Oak Street", "zip_code": "02193"}, "else"),
    ("household", HOME, {"phone": "617-555-0199"}, "else"),
    ("household", HOME, {}, "null"),
    # email and member id
    ("email", {"email": "Ann@Example.org"}, {"email": "ann@example.org"}, "exact"),
    ("email", {"email": "ann@example.org"}, {"email": "anne@example.org"}, "else"),
    ("email", {"email": "not an email"}, {"email": "ann@example.org"}, "null"),
    ("member_id", {"member_id": "M-100 200"}, {"member_id": "m100200"}, "exact"),
    ("member_id", {"member_id": "M100200"}, {"member_id": "M100201"}, "else"),
    ("member_id", {}, {"member_id": "M100201"}, "null"),
    # ssn
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "234567801"}, "exact"),
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "234-56-7809"}, "one_digit_off"),
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "234-56-7810"}, "transposed"),
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "234-65-7801"}, "transposed"),
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "243-56-7810"}, "else"),  # two swaps
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "234-76-5801"}, "else"),  # not adjacent digits
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "432-65-7801"}, "last_four"),
    ("ssn", {"ssn": "234-56-7801"}, {"ssn": "432-65-1087"}, "else"),
    ("ssn", {"ssn": "000-12-3456"}, {"ssn": "234-56-7801"}, "null"),  # never issued
]


def _label(comparison: str, left: StandardRecord, right: StandardRecord) -> str:
    spec = SPECS[comparison]
    gamma = int(comparison_vectors(left, [right], [spec])[0, 0])
    return level_label(spec, gamma)


def _case_sql(spec: ComparisonSpec) -> str:
    """The CASE splink builds from a comparison: null level, then the levels strongest first."""
    arms = []
    for level in splink_comparison(spec)["comparison_levels"]:
        sql, label = level["sql_condition"], level["label_for_charts"]
        gamma = -1 if level.get("is_null_level") else _gamma(spec, label)
        arms.append(f"ELSE {gamma}" if sql == "ELSE" else f"WHEN {sql} THEN {gamma}")
    return "CASE " + " ".join(arms) + " END"


def _gamma(spec: ComparisonSpec, label: str) -> int:
    labels = [lv.label for lv in spec.levels]
    return len(labels) - 1 - labels.index(label)


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _sql_gamma(
    con: duckdb.DuckDBPyConnection,
    spec: ComparisonSpec,
    left: dict[str, Any],
    right: dict[str, Any],
) -> int:
    """Run the comparison's SQL on one pair of frame rows, as splink would."""
    columns = []
    params: dict[str, Any] = {}
    for side, row in (("l", left), ("r", right)):
        for name in TEXT_COLUMNS:
            columns.append(f"CAST(${name}_{side} AS VARCHAR) AS {name}_{side}")
            params[f"{name}_{side}"] = row[name]
        for name in LIST_COLUMNS:
            columns.append(f"CAST(${name}_{side} AS VARCHAR[]) AS {name}_{side}")
            params[f"{name}_{side}"] = row[name]
    sql = f"SELECT {_case_sql(spec)} FROM (SELECT {', '.join(columns)})"
    found = con.execute(sql, params).fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.parametrize(("comparison", "left", "right", "expected"), TABLE)
def test_level(comparison: str, left: dict[str, Any], right: dict[str, Any], expected: str) -> None:
    assert _label(comparison, person(**left), person(**right)) == expected


@pytest.mark.parametrize(("comparison", "left", "right", "expected"), TABLE)
def test_level_is_symmetric(
    comparison: str, left: dict[str, Any], right: dict[str, Any], expected: str
) -> None:
    assert _label(comparison, person(**right), person(**left)) == expected


@pytest.mark.parametrize(("comparison", "left", "right", "expected"), TABLE)
def test_splink_sql_gives_the_same_level(
    duck: duckdb.DuckDBPyConnection,
    comparison: str,
    left: dict[str, Any],
    right: dict[str, Any],
    expected: str,
) -> None:
    spec = SPECS[comparison]
    gamma = _sql_gamma(duck, spec, frame_row(person(**left)), frame_row(person(**right)))
    assert level_label(spec, gamma) == expected


BLANK = StandardRecord(
    given="",
    family="",
    given_phonetic="",
    family_phonetic="",
    family_parts=("",),
    earlier_families=("",),
    given_canonicals=frozenset({""}),
    sex="",
    phones=("",),
    subscriber_ids=("",),
    address_line="",
    zip5="",
    email="",
    ssn="",
    member_id="",
)


@pytest.mark.parametrize("comparison", sorted(SPECS))
def test_empty_strings_and_lists_are_missing(
    duck: duckdb.DuckDBPyConnection, comparison: str
) -> None:
    """Two empty values are not a match (rapidfuzz would score two empty strings 1.0).

    splink reads `frame_row`, which drops empty strings from lists; its SQL treats an empty list
    and, should one get through, an empty string as missing."""
    spec = SPECS[comparison]
    assert _label(comparison, BLANK, BLANK) == "null"
    row = frame_row(BLANK) | {name: "" for name in TEXT_COLUMNS if name != "birth_date"}
    assert all(row[name] == [] for name in LIST_COLUMNS)
    assert _sql_gamma(duck, spec, row, row) == -1


def test_empty_given_name_against_a_real_one() -> None:
    john = person("John", "Smith")
    assert _label("given_name", replace(john, given=""), john) == "null"
    assert _label("family_name", john, replace(john, family="")) == "null"


@pytest.mark.parametrize(
    ("left", "right", "threshold", "agree"),
    [
        # rapidfuzz: 0.8049999999999999, DuckDB: 0.805; the exact value is 0.805.
        ("EGANQ", "EWAN", 0.805, True),
        ("KYRA", "KEIRA", 0.805, True),
        ("SEAN", "SHAWN", 0.805, True),
        ("SEAN", "SHAWN", 0.81, False),
        ("J", "J", 0.99, True),
        ("J", "JO", 0.8, True),
        ("JO", "OJ", 0.5, False),
    ],
)
def test_jaro_winkler_threshold_is_decided_alike(
    duck: duckdb.DuckDBPyConnection, left: str, right: str, threshold: float, agree: bool
) -> None:
    """Both renderings decide `similarity >= t` the same, even where they round differently."""
    spec = _spec("given_name", ("jaro_winkler", threshold), "else")
    a, b = StandardRecord(given=left), StandardRecord(given=right)
    expected = 1 if agree else 0
    assert int(comparison_vectors(a, [b], [spec])[0, 0]) == expected
    assert _sql_gamma(duck, spec, frame_row(a), frame_row(b)) == expected


def test_vectors_cover_every_candidate_and_comparison() -> None:
    query = person("Ann", "Lee", born="1980-02-03", sex="female", **HOME)
    candidates = [
        person("Ann", "Lee", born="1980-02-03", sex="female", **HOME),
        person("Anne", "Leigh", born="1980-03-02"),
        person(None, None),
    ]
    specs = list(SPECS.values())
    vectors = comparison_vectors(query, candidates, specs)
    assert vectors.dtype == np.int8
    assert vectors.shape == (3, len(specs))
    names = [s.name for s in specs]
    first = dict(zip(names, vectors[0].tolist(), strict=True))
    assert (first["given_name"], first["household"], first["email"]) == (7, 5, -1)
    assert level_label(SPECS["birth_date"], int(vectors[1, names.index("birth_date")])) == (
        "day_month_swap"
    )
    assert (vectors[2, :2] == -1).all()
    assert comparison_vectors(query, [], specs).shape == (0, len(specs))


def test_compared_values_are_standardised_and_json_ready() -> None:
    record = person(
        "Bill", "Jones", maiden="Smith", born="1980-02-03", ssn="123-45-6780", phone="6175550100"
    )
    assert compared_values(record, "given_name") == "BILL"
    assert compared_values(record, "family_name") == {
        "family": "JONES",
        "earlier_families": ["SMITH"],
    }
    assert compared_values(record, "birth_date") == "1980-02-03"
    assert compared_values(record, "ssn") == "*****6780"  # evidence never shows a whole SSN
    assert compared_values(record, "household")["phones"] == ["+16175550100"]


def test_splink_comparison_has_a_null_level_first_and_tf_on_exact() -> None:
    levels = splink_comparison(SPECS["given_name"])["comparison_levels"]
    assert levels[0]["is_null_level"] is True
    assert [lv["label_for_charts"] for lv in levels[1:]] == [
        lv.label for lv in SPECS["given_name"].levels
    ]
    assert levels[1]["tf_adjustment_column"] == "given"
    assert all("tf_adjustment_column" not in lv for lv in levels[2:])
    assert levels[-1]["sql_condition"] == "ELSE"
    household = splink_comparison(SPECS["household"])["comparison_levels"]
    assert all("tf_adjustment_column" not in lv for lv in household)
