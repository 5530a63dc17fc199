"""Comparison levels: one definition per level kind, rendered as Python (service) and SQL (splink).

The online scorer must put every pair in exactly the level splink put it in when the model was
trained, so each kind is written once, here, with its two renderings side by side: a vectorised
Python test over one query's candidates, and a DuckDB condition on `<column>_l` / `<column>_r`.
Both read the same columns, made by `frame_row` (names are upper-case ASCII, so DuckDB's byte-wise
string functions agree with Python's; `birth_date` is ISO text `YYYY-MM-DD`). An empty string or
list is missing, exactly like None: `frame_row` turns '' into NULL and drops '' from lists, the
Python side reads values the same way, and the SQL also treats '' text as missing. So two empty
names are never "similar" (rapidfuzz scores two empty strings 1.0; it never gets to).

Levels are tried strongest first, as a policy lists them; the first that holds wins. Missing
values make the null level, before any other: splink gamma -1, no evidence either way. The other
levels are numbered n-1 (first) down to 0 (`else`), as splink numbers them.

given_name    null: `given` missing on either side.
  exact           same `given`
  swapped         given and family names entered the wrong way round: each side's `given` is the
                  other's `family` (the same level exists in family_name)
  nickname        `given_canonicals` intersect (nickname table canonicals, each name included)
  jaro_winkler t  Jaro-Winkler similarity of `given` >= t (see JW_TOLERANCE)
  phonetic        same NYSIIS code `given_phonetic`
  initial         same first letter and at least one side is that single letter
family_name   null: `family` missing on either side.
  exact           same `family`
  swapped         as in given_name
  earlier_family  one side's `family` is among the other's `earlier_families`, or those intersect
  compound_part   one side's `family` is among the other's `family_parts`, or the parts intersect
  jaro_winkler t  Jaro-Winkler similarity of `family` >= t
  phonetic        same NYSIIS code `family_phonetic`
birth_date    null: missing on either side.
  exact           same date
  day_month_swap  same year, month and day swapped (so month != day)
  one_digit_off   the ISO strings differ in exactly one character
  transposed      two adjacent digits swapped, the rest the same (1972 keyed as 1927, day 12 as
                  21): the ISO strings' only difference is one adjacent transposition
  year_off_by_one same month and day, years one apart
sex           null: missing. exact.
household     null: either side has none of address_line, zip5, phones, subscriber_ids.
  address         same `address_line` and same `zip5`, both present (the unit is ignored)
  phone           a phone number in common
  subscriber_id   a subscriber id in common
  street          same `address_line` (the ZIP differs or is missing: a mistyped ZIP)
  zip             same `zip5`
email, member_id  null: missing. exact.
ssn           null: missing.
  exact           same nine digits
  one_digit_off   both nine characters long, exactly one position differs
  transposed      both nine characters long, two adjacent digits swapped, the rest the same
  last_four       same last four characters
Every comparison ends with `else`: present on both sides, and no other level holds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from identity.matching.comparison_columns import (
    TEXT_COLUMNS,
    Batch,
    iso_birth_date,
)
from identity.matching.policy import ComparisonSpec, LevelSpec
from identity.matching.record import StandardRecord

GammaArray = npt.NDArray[np.int8]

# rapidfuzz and DuckDB compute Jaro-Winkler with the same algorithm but round differently in the
# last bit (0.805 vs 0.8049999999999999). A similarity is a ratio of small integers, so a value
# below t is below it by far more than 1e-12 for any real name: comparing against t - 1e-12 makes
# both sides decide "exactly >= t" identically, whichever way their rounding went.
JW_TOLERANCE = 1e-12
NULL_LABEL = "null"


# --- Level kinds: SQL and Python side by side -----------------------------------------------------
#
# A Python test answers for the candidates still open (`idx`: not null, no stronger level held),
# one bool each. With tens of candidates numpy's per-call cost exceeds the work of a comparison of
# two short strings, so plain lists are used; the string measures (Jaro-Winkler, Hamming) are
# vectorised with rapidfuzz over all candidates at once.

Test = Callable[[Batch, float | None, list[int]], list[bool]]


@dataclass(frozen=True, slots=True)
class LevelKind:
    """A level's meaning, twice: `sql(threshold)` for splink, `test(batch, threshold, idx)` here."""

    sql: Callable[[float | None], str]
    test: Test


def _equal(column: str) -> Test:
    def test(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
        q, cs = b.text(column)
        return [False] * len(idx) if q is None else [cs[i] == q for i in idx]

    return test


def _exact(column: str) -> LevelKind:
    """Equal values. Plain `=` in SQL: only used on the column the null level guards."""
    return LevelKind(lambda _: f"{column}_l = {column}_r", _equal(column))


def _same_present(column: str) -> LevelKind:
    """Equal and present, for a column the null level does not guard (phonetic code, ZIP)."""
    return LevelKind(lambda _: f"nullif({column}_l, '') = {column}_r", _equal(column))


def _share(column: str) -> LevelKind:
    """The two lists have a value in common."""

    def test(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
        q, cs = b.items(column)
        return [False] * len(idx) if not q else [not q.isdisjoint(cs[i]) for i in idx]

    return LevelKind(lambda _: f"list_has_any({column}_l, {column}_r)", test)


def _in_or_share(value: str, column: str) -> LevelKind:
    """One side's value is in the other's list, or the two lists have a value in common."""

    def test(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
        qv, cvs = b.text(value)
        ql, cls = b.items(column)
        return [
            (cvs[i] is not None and cvs[i] in ql)
            or (qv is not None and qv in cls[i])
            or not ql.isdisjoint(cls[i])
            for i in idx
        ]

    sql = (
        f"list_contains({column}_l, {value}_r) OR list_contains({column}_r, {value}_l) "
        f"OR list_has_any({column}_l, {column}_r)"
    )
    return LevelKind(lambda _: sql, test)


def _jaro_winkler(column: str) -> LevelKind:
    def test(b: Batch, threshold: float | None, idx: list[int]) -> list[bool]:
        scores, floor = b.jaro_winkler(column), _jw_floor(threshold)
        return [scores[i] >= floor for i in idx]

    def sql(threshold: float | None) -> str:
        _jw_floor(threshold)  # refuses a missing threshold
        return (
            f"jaro_winkler_similarity({column}_l, {column}_r) >= {threshold!r} - {JW_TOLERANCE!r}"
        )

    return LevelKind(sql, test)


def _jw_floor(threshold: float | None) -> float:
    if threshold is None:
        raise ValueError("a jaro_winkler level needs a threshold")
    return threshold - JW_TOLERANCE


def _initial(column: str) -> LevelKind:
    def test(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
        q, cs = b.text(column)
        if q is None:
            return [False] * len(idx)
        first, single = q[0], len(q) == 1
        return [(c := cs[i]) is not None and c[0] == first and (single or len(c) == 1) for i in idx]

    sql = (
        f"substr({column}_l, 1, 1) = substr({column}_r, 1, 1) "
        f"AND (length({column}_l) = 1 OR length({column}_r) = 1)"
    )
    return LevelKind(lambda _: sql, test)


def _names_swapped(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q_given, givens = b.text("given")
    q_family, families = b.text("family")
    if q_given is None or q_family is None:
        return [False] * len(idx)
    return [families[i] == q_given and givens[i] == q_family for i in idx]


# Symmetric, so it reads the same from either side; NULL on either side is not a swap.
_NAMES_SWAPPED = LevelKind(lambda _: "given_l = family_r AND family_l = given_r", _names_swapped)


def _one_char_off(column: str, length: int | None) -> LevelKind:
    """Same length (`length` when given) and exactly one position differs: Hamming distance 1
    here; in SQL Levenshtein 1 between equal-length strings, which is exactly one substitution
    (DuckDB's `hamming` raises on unequal lengths, and a length test ANDed before it does not
    stop that)."""

    def test(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
        q, cs = b.text(column)
        if q is None or (length is not None and len(q) != length):
            return [False] * len(idx)
        n, differ = len(q), b.hamming(column)
        return [differ[i] == 1 and (c := cs[i]) is not None and len(c) == n for i in idx]

    if length is None:
        sql = f"length({column}_l) = length({column}_r) AND levenshtein({column}_l, {column}_r) = 1"
    else:
        sql = (
            f"length({column}_l) = {length} AND length({column}_r) = {length} "
            f"AND levenshtein({column}_l, {column}_r) = 1"
        )
    return LevelKind(lambda _: sql, test)


# `birth_date` is always ISO text from date.isoformat(): YYYY-MM-DD, ten characters.


def _day_month_swap(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q, cs = b.text("birth_date")
    if q is None:
        return [False] * len(idx)
    year, month, day = q[0:4], q[5:7], q[8:10]
    return [
        (c := cs[i]) is not None
        and c[0:4] == year
        and c[8:10] == month
        and c[5:7] == day
        and c != q
        for i in idx
    ]


_DAY_MONTH_SWAP_SQL = (
    "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) "
    "AND substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2) "
    "AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2) "
    "AND birth_date_l <> birth_date_r"
)


def _date_transposed(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q, cs = b.text("birth_date")
    if q is None:
        return [False] * len(idx)
    # A swap differs in exactly two positions: the vectorised Hamming count skips the rest.
    differ = b.hamming("birth_date")
    return [differ[i] == 2 and (c := cs[i]) is not None and _adjacent_swap(q, c) for i in idx]


# As for the SSN (below): equal lengths, Damerau-Levenshtein 1 and Levenshtein 2 is exactly one
# adjacent swap. A swap across a '-' is no date, so it never reaches here.
_DATE_TRANSPOSED_SQL = (
    "length(birth_date_l) = length(birth_date_r) "
    "AND damerau_levenshtein(birth_date_l, birth_date_r) = 1 "
    "AND levenshtein(birth_date_l, birth_date_r) = 2"
)


def _year_off_by_one(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q, cs = b.text("birth_date")
    if q is None:
        return [False] * len(idx)
    month_day, year = q[4:], int(q[0:4])
    return [
        (c := cs[i]) is not None and c[4:] == month_day and abs(int(c[0:4]) - year) == 1
        for i in idx
    ]


_YEAR_OFF_BY_ONE_SQL = (
    "substr(birth_date_l, 5) = substr(birth_date_r, 5) "
    "AND abs(CAST(substr(birth_date_l, 1, 4) AS INTEGER) "
    "- CAST(substr(birth_date_r, 1, 4) AS INTEGER)) = 1"
)


def _address(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q_line, lines = b.text("address_line")
    q_zip, zips = b.text("zip5")
    if q_line is None or q_zip is None:
        return [False] * len(idx)
    return [lines[i] == q_line and zips[i] == q_zip for i in idx]


_ADDRESS_SQL = "nullif(address_line_l, '') = address_line_r AND nullif(zip5_l, '') = zip5_r"


def _adjacent_swap(a: str, b: str) -> bool:
    """Equal length, exactly two positions differ, next to each other, each the other's digit."""
    if len(a) != len(b):
        return False
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and a[differ[0]] == b[differ[1]]
        and a[differ[1]] == b[differ[0]]
    )


def _ssn_transposed(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q, cs = b.text("ssn")
    if q is None or len(q) != 9:
        return [False] * len(idx)
    differ = b.hamming("ssn")  # as for dates: a swap differs in exactly two positions
    return [differ[i] == 2 and (c := cs[i]) is not None and _adjacent_swap(q, c) for i in idx]


# DuckDB's damerau_levenshtein counts an adjacent swap as one edit and levenshtein as two; with
# equal lengths, that pair of distances is exactly one adjacent swap.
_SSN_TRANSPOSED_SQL = (
    "length(ssn_l) = 9 AND length(ssn_r) = 9 "
    "AND damerau_levenshtein(ssn_l, ssn_r) = 1 AND levenshtein(ssn_l, ssn_r) = 2"
)


def _street(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q, lines = b.text("address_line")
    return [False] * len(idx) if q is None else [lines[i] == q for i in idx]


def _last_four(b: Batch, _: float | None, idx: list[int]) -> list[bool]:
    q, cs = b.text("ssn")
    if q is None:
        return [False] * len(idx)
    tail = q[-4:]
    return [(c := cs[i]) is not None and c[-4:] == tail for i in idx]


# --- Null levels ---------------------------------------------------------------------------------

NullTest = Callable[[Batch], list[bool]]


@dataclass(frozen=True, slots=True)
class NullKind:
    sql: str
    test: NullTest


def _text_missing(column: str) -> NullKind:
    def test(b: Batch) -> list[bool]:
        q, cs = b.text(column)
        return [True] * b.size if q is None else [c is None for c in cs]

    return NullKind(f"nullif({column}_l, '') IS NULL OR nullif({column}_r, '') IS NULL", test)


def _household_missing(b: Batch) -> list[bool]:
    q_line, lines = b.text("address_line")
    q_zip, zips = b.text("zip5")
    q_phones, phones = b.items("phones")
    q_ids, ids = b.items("subscriber_ids")
    if q_line is None and q_zip is None and not q_phones and not q_ids:
        return [True] * b.size
    return [
        line is None and z is None and not any(p) and not any(s)
        for line, z, p, s in zip(lines, zips, phones, ids, strict=True)
    ]


def _household_missing_sql(side: str) -> str:
    texts = [f"nullif({c}_{side}, '') IS NULL" for c in ("address_line", "zip5")]
    lists = [f"coalesce(len({c}_{side}), 0) = 0" for c in ("phones", "subscriber_ids")]
    return "(" + " AND ".join(texts + lists) + ")"


_HOUSEHOLD_NULL = NullKind(
    f"{_household_missing_sql('l')} OR {_household_missing_sql('r')}", _household_missing
)


# --- The comparisons -----------------------------------------------------------------------------


def _masked_ssn(record: StandardRecord) -> str | None:
    """Evidence is shown to stewards and stored with decisions: the last four digits suffice."""
    return None if not record.ssn else "*****" + record.ssn[-4:]


def _family_evidence(record: StandardRecord) -> dict[str, Any]:
    return {"family": record.family, "earlier_families": list(record.earlier_families)}


def _household_evidence(record: StandardRecord) -> dict[str, Any]:
    return {
        "address_line": record.address_line,
        "zip5": record.zip5,
        "phones": list(record.phones),
        "subscriber_ids": list(record.subscriber_ids),
    }


@dataclass(frozen=True, slots=True)
class ComparisonKind:
    """A comparison: its null level, its level kinds, the column an `exact` level compares
    (which term frequencies are keyed by), what evidence shows of each side, and the fields
    that evidence is made of (equal fields, equal evidence: the scorer shares it)."""

    null: NullKind
    levels: dict[str, LevelKind]
    value_column: str | None
    evidence: Callable[[StandardRecord], Any]
    evidence_key: Callable[[StandardRecord], Hashable]


def _exact_only(column: str) -> ComparisonKind:
    get = TEXT_COLUMNS[column]
    return ComparisonKind(_text_missing(column), {"exact": _exact(column)}, column, get, get)


COMPARISONS: dict[str, ComparisonKind] = {
    "given_name": ComparisonKind(
        _text_missing("given"),
        {
            "exact": _exact("given"),
            "swapped": _NAMES_SWAPPED,
            "nickname": _share("given_canonicals"),
            "jaro_winkler": _jaro_winkler("given"),
            "phonetic": _same_present("given_phonetic"),
            "initial": _initial("given"),
        },
        "given",
        attrgetter("given"),
        attrgetter("given"),
    ),
    "family_name": ComparisonKind(
        _text_missing("family"),
        {
            "exact": _exact("family"),
            "swapped": _NAMES_SWAPPED,
            "earlier_family": _in_or_share("family", "earlier_families"),
            "compound_part": _in_or_share("family", "family_parts"),
            "jaro_winkler": _jaro_winkler("family"),
            "phonetic": _same_present("family_phonetic"),
        },
        "family",
        _family_evidence,
        attrgetter("family", "earlier_families"),
    ),
    "birth_date": ComparisonKind(
        _text_missing("birth_date"),
        {
            "exact": _exact("birth_date"),
            "day_month_swap": LevelKind(lambda _: _DAY_MONTH_SWAP_SQL, _day_month_swap),
            "one_digit_off": _one_char_off("birth_date", None),
            "transposed": LevelKind(lambda _: _DATE_TRANSPOSED_SQL, _date_transposed),
            "year_off_by_one": LevelKind(lambda _: _YEAR_OFF_BY_ONE_SQL, _year_off_by_one),
        },
        "birth_date",
        iso_birth_date,
        attrgetter("birth_date"),
    ),
    "sex": _exact_only("sex"),
    "household": ComparisonKind(
        _HOUSEHOLD_NULL,
        {
            "address": LevelKind(lambda _: _ADDRESS_SQL, _address),
            "phone": _share("phones"),
            "subscriber_id": _share("subscriber_ids"),
            "street": LevelKind(lambda _: "nullif(address_line_l, '') = address_line_r", _street),
            "zip": _same_present("zip5"),
        },
        None,
        _household_evidence,
        attrgetter("address_line", "zip5", "phones", "subscriber_ids"),
    ),
    "email": _exact_only("email"),
    "ssn": ComparisonKind(
        _text_missing("ssn"),
        {
            "exact": _exact("ssn"),
            "one_digit_off": _one_char_off("ssn", 9),
            "transposed": LevelKind(lambda _: _SSN_TRANSPOSED_SQL, _ssn_transposed),
            "last_four": LevelKind(lambda _: "right(ssn_l, 4) = right(ssn_r, 4)", _last_four),
        },
        "ssn",
        _masked_ssn,
        attrgetter("ssn"),
    ),
    "member_id": _exact_only("member_id"),
}


def compared_values(record: StandardRecord, comparison: str) -> Any:
    """The standardised value(s) evidence shows for one side of a comparison (JSON-able)."""
    return COMPARISONS[comparison].evidence(record)


def value_column(comparison: str) -> str | None:
    """The column the comparison's `exact` level compares; term frequencies are keyed by it."""
    return COMPARISONS[comparison].value_column


# --- Plans: a policy's comparisons made ready to run ---------------------------------------------


def gammas_of(spec: ComparisonSpec) -> tuple[int, ...]:
    """splink's gamma per declared level: n-1 for the first (strongest) down to 0 for `else`."""
    n = len(spec.levels)
    return tuple(range(n - 1, -1, -1))


def level_label(spec: ComparisonSpec, gamma: int) -> str:
    """The label of the level a gamma stands for (`null` for -1)."""
    if gamma == -1:
        return NULL_LABEL
    return spec.levels[len(spec.levels) - 1 - gamma].label


def _level_sql(spec: ComparisonSpec, level: LevelSpec) -> str:
    if level.kind == "else":
        return "ELSE"
    return COMPARISONS[spec.name].levels[level.kind].sql(level.threshold)


class _CompiledComparison:
    __slots__ = ("_levels", "_null", "spec")

    def __init__(self, spec: ComparisonSpec) -> None:
        kind = COMPARISONS[spec.name]
        self.spec = spec
        self._null = kind.null.test
        self._levels = tuple(
            (gamma, level.threshold, kind.levels[level.kind].test)
            for gamma, level in zip(gammas_of(spec), spec.levels, strict=True)
            if level.kind != "else"
        )

    def gammas(self, batch: Batch) -> list[int]:
        """splink's CASE: null first, then the first level that holds, strongest first."""
        null = self._null(batch)
        out = [-1 if missing else 0 for missing in null]
        open_ = [i for i, missing in enumerate(null) if not missing]
        for gamma, threshold, test in self._levels:
            if not open_:
                break
            hits = test(batch, threshold, open_)
            if any(hits):
                for i in compress(open_, hits):
                    out[i] = gamma
                open_ = [i for i, hit in zip(open_, hits, strict=True) if not hit]
        return out


class ComparisonPlan:
    """A policy's comparisons compiled once; `vectors` then runs per request."""

    __slots__ = ("_compiled", "comparisons")

    def __init__(self, comparisons: Sequence[ComparisonSpec]) -> None:
        self.comparisons = tuple(comparisons)
        self._compiled = tuple(_CompiledComparison(c) for c in self.comparisons)

    def vectors(self, query: StandardRecord, candidates: Sequence[StandardRecord]) -> GammaArray:
        batch = Batch(query, candidates)
        columns = [compiled.gammas(batch) for compiled in self._compiled]
        if not columns:
            return np.zeros((batch.size, 0), dtype=np.int8)
        return np.array(columns, dtype=np.int8).T.copy()


# Plans by the identity of the specs (hashing pydantic models costs more than scoring a few
# candidates). The entry keeps the specs alive, so their ids cannot be reused while it exists.
_PLANS: dict[tuple[int, ...], ComparisonPlan] = {}


def _plan(comparisons: Sequence[ComparisonSpec]) -> ComparisonPlan:
    key = tuple(map(id, comparisons))
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= 32:
            _PLANS.clear()
        plan = _PLANS[key] = ComparisonPlan(comparisons)
    return plan


def comparison_vectors(
    query: StandardRecord,
    candidates: Sequence[StandardRecord],
    comparisons: Sequence[ComparisonSpec],
) -> GammaArray:
    """splink gammas (int8, -1 null) of each candidate (rows) for each comparison (columns)."""
    return _plan(comparisons).vectors(query, candidates)


def splink_comparison(spec: ComparisonSpec) -> dict[str, Any]:
    """The comparison as a splink dict: null level first, then the policy's levels in order.
    m/u are the trainer's to add. Term frequencies adjust the exact level, using its own u."""
    kind = COMPARISONS[spec.name]
    levels: list[dict[str, Any]] = [
        {"sql_condition": kind.null.sql, "label_for_charts": NULL_LABEL, "is_null_level": True}
    ]
    for level in spec.levels:
        entry: dict[str, Any] = {
            "sql_condition": _level_sql(spec, level),
            "label_for_charts": level.label,
        }
        if spec.term_frequency and level.kind == "exact" and kind.value_column is not None:
            entry["tf_adjustment_column"] = kind.value_column
            entry["disable_tf_exact_match_detection"] = True
        levels.append(entry)
    return {
        "output_column_name": spec.name,
        "comparison_description": f"{spec.name}: " + ", ".join(lv.label for lv in spec.levels),
        "comparison_levels": levels,
    }
