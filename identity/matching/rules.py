"""Deterministic rules: conjunctions of field predicates that settle a pair outright.

A positive rule ("certain match") fires when every predicate holds; a negative rule ("certainly
not") removes the candidate. Predicates are a small fixed vocabulary, so a policy file can only say
things this module knows how to check, and a steward can read a rule as a sentence.

"differ" is deliberately stronger than "not agree": a typo in a given name is neither agreement nor
a difference, so a negative rule that keeps twins apart never throws away a real match with a typo.

Every number and code a predicate decides with (the Jaro-Winkler levels, what counts as a typo or a
keying error, the length of a year, the sex codes that can differ) comes from the policy's
`predicates:` section as `PredicateSettings`, so a decision replayed under its policy version
decides the same whatever this module's defaults become. A rule's predicates are compiled once per
policy into plain closures: `Rule.fires` runs for every rule on every candidate of every request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import compress
from operator import attrgetter
from typing import Any, Literal, get_args

from rapidfuzz.distance import OSA, JaroWinkler

from identity.matching.record import StandardRecord

# The ways a birth date is commonly keyed wrong, that a policy may declare as "not another
# person's birth date" (`predicates.birth_date.keying_errors`):
#   year_digit           same month and day, one digit of the year changed (1972 as 1992)
#   year_digits_swapped  same month and day, two adjacent digits of the year swapped (1972, 1927)
#   day_month_swap       same year, month and day swapped (03-07 as 07-03)
KeyingError = Literal["year_digit", "year_digits_swapped", "day_month_swap"]
KEYING_ERRORS: tuple[KeyingError, ...] = get_args(KeyingError)


@dataclass(frozen=True, slots=True)
class PredicateSettings:
    """What the predicates decide with, from a policy's `predicates:` section. The defaults are
    the values this module used before policies declared them, and declare no birth-date keying
    error, so a policy that does not mention them decides exactly as it always did."""

    # Jaro-Winkler at or above which two given names agree despite a typo...
    given_agree_jaro_winkler: float = 0.92
    # ...and the optimal-string-alignment edits a typo may make (more: another name).
    given_typo_edits: int = 1
    # A typo or near spelling keeps the first letter (Winkler's prefix observation).
    given_first_letter_kept: bool = True
    family_agree_jaro_winkler: float = 0.92
    # Below this two family names are clearly different people's names.
    family_differ_jaro_winkler: float = 0.80
    days_per_year: float = 365.25
    birth_date_keying_errors: frozenset[str] = frozenset()
    # SSNs this many edits apart (OSA: a mistyped digit, two digits swapped) are one keying error.
    ssn_keying_edits: int = 1
    # Only these recorded sexes can "differ" (another code says nothing either way).
    sex_differ_codes: frozenset[str] = frozenset({"M", "F"})


DEFAULT_SETTINGS = PredicateSettings()

Pair = Callable[[StandardRecord, StandardRecord], bool]
# A predicate of the vocabulary: made into a `Pair` test from the settings and its number (if any).
Factory = Callable[[PredicateSettings, int | None], Pair]


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


def _both(a: object, b: object) -> bool:
    return a is not None and b is not None


def _joined_given(r: StandardRecord) -> str | None:
    """The given name run together with the first middle name: "ALE XANDER" -> "ALEXANDER"."""
    if r.given is None or not r.middle:
        return None
    return r.given + r.middle.split(" ", 1)[0]


def _split_given(a: StandardRecord, b: StandardRecord) -> bool:
    """One side's given name split in two by a stray space (a keying error, not another name)."""
    return (
        a.given is not None
        and b.given is not None
        and (_joined_given(a) == b.given or _joined_given(b) == a.given)
    )


def given_agree(
    a: StandardRecord, b: StandardRecord, settings: PredicateSettings = DEFAULT_SETTINGS
) -> bool:
    """Same given name, a nickname of it (Bill/William), split by a stray space, or a near
    spelling that keeps the first letter (see `given_differ`)."""
    if a.given is None or b.given is None:
        return False
    if a.given == b.given or (a.given_canonicals & b.given_canonicals) or _split_given(a, b):
        return True
    if settings.given_first_letter_kept and a.given[0] != b.given[0]:
        return False
    return _jw(a.given, b.given) >= settings.given_agree_jaro_winkler


def given_equivalent(a: StandardRecord, b: StandardRecord) -> bool:
    """The same given name or a nickname of it; no fuzzy spelling. Household keys (subscriber id,
    address) are shared by twins named Ryan and Bryan, so rules on them need this, not `agree`."""
    if a.given is None or b.given is None:
        return False
    return a.given == b.given or bool(a.given_canonicals & b.given_canonicals)


def given_not_equivalent(a: StandardRecord, b: StandardRecord) -> bool:
    """Both given and not the same name or a nickname of it, however close the spelling:
    Daniel/Danielle and Francis/Frances are a brother's and a sister's names."""
    if a.given is None or b.given is None:
        return False
    return not given_equivalent(a, b) and not _split_given(a, b)


def given_differ(
    a: StandardRecord, b: StandardRecord, settings: PredicateSettings = DEFAULT_SETTINGS
) -> bool:
    """Names of two different people: not equivalent, and not one keystroke apart.

    A typo is at most `given_typo_edits` edits (insertions, deletions, substitutions or
    transpositions; one by default) that keep the first letter: people rarely mistype a name's
    first letter (Winkler's prefix observation). So Jordan/Jordon is a typo, but Ryan/Bryan and
    Casey/Chase are twins' names.
    """
    if a.given is None or b.given is None or given_equivalent(a, b) or _split_given(a, b):
        return False
    if len(a.given) == 1 or len(b.given) == 1:
        return a.given[0] != b.given[0]
    if settings.given_first_letter_kept and a.given[0] != b.given[0]:
        return True
    return (
        int(OSA.distance(a.given, b.given)) > settings.given_typo_edits
        and _jw(a.given, b.given) < settings.given_agree_jaro_winkler
    )


def _family_names(r: StandardRecord) -> set[str]:
    return {n for n in (r.family, *r.family_parts, *r.earlier_families) if n}


def family_agree(
    a: StandardRecord, b: StandardRecord, settings: PredicateSettings = DEFAULT_SETTINGS
) -> bool:
    """Same family name, an earlier (maiden) one, a compound part, or a near spelling."""
    if a.family is None or b.family is None:
        return False
    if _family_names(a) & _family_names(b):
        return True
    return _jw(a.family, b.family) >= settings.family_agree_jaro_winkler


def family_similar(
    a: StandardRecord, b: StandardRecord, settings: PredicateSettings = DEFAULT_SETTINGS
) -> bool:
    """Agree, or spelled closely enough (JW >= 0.80) that one may be a typo of the other."""
    if a.family is None or b.family is None:
        return False
    return (
        family_agree(a, b, settings)
        or _jw(a.family, b.family) >= settings.family_differ_jaro_winkler
    )


def family_differ(
    a: StandardRecord, b: StandardRecord, settings: PredicateSettings = DEFAULT_SETTINGS
) -> bool:
    if a.family is None or b.family is None or family_agree(a, b, settings):
        return False
    return _jw(a.family, b.family) < settings.family_differ_jaro_winkler


def birth_date_keying_error(x: date, y: date) -> KeyingError | None:
    """Which keying error turns one birth date into the other, if one does."""
    if x == y:
        return None
    if x.year == y.year:
        return "day_month_swap" if (x.month, x.day) == (y.day, y.month) else None
    if (x.month, x.day) != (y.month, y.day):
        return None
    xs, ys = f"{x.year:04d}", f"{y.year:04d}"
    differ = [i for i in range(4) if xs[i] != ys[i]]
    if len(differ) == 1:
        return "year_digit"
    i = differ[0]
    if differ == [i, i + 1] and (xs[i], xs[i + 1]) == (ys[i + 1], ys[i]):
        return "year_digits_swapped"
    return None


def _address_exact(a: StandardRecord, b: StandardRecord) -> bool:
    return _both(a.address_line, b.address_line) and (a.address_line, a.zip5) == (
        b.address_line,
        b.zip5,
    )


def _household_shared(a: StandardRecord, b: StandardRecord) -> bool:
    """Any fact a household shares: home address, a phone, the card, an e-mail."""
    return (
        _address_exact(a, b)
        or bool(set(a.phones) & set(b.phones))
        or bool(set(a.subscriber_ids) & set(b.subscriber_ids))
        or (a.email is not None and a.email == b.email)
    )


def _eq(field_name: str) -> Factory:
    def make(_s: PredicateSettings, _n: int | None) -> Pair:
        def test(a: StandardRecord, b: StandardRecord) -> bool:
            x = getattr(a, field_name)
            return x is not None and x == getattr(b, field_name)

        return test

    return make


def _neq(field_name: str) -> Factory:
    def make(_s: PredicateSettings, _n: int | None) -> Pair:
        def test(a: StandardRecord, b: StandardRecord) -> bool:
            x, y = getattr(a, field_name), getattr(b, field_name)
            return _both(x, y) and x != y

        return test

    return make


def _shared(field_name: str) -> Factory:
    def make(_s: PredicateSettings, _n: int | None) -> Pair:
        def test(a: StandardRecord, b: StandardRecord) -> bool:
            return bool(set(getattr(a, field_name)) & set(getattr(b, field_name)))

        return test

    return make


def _plain(test: Pair) -> Factory:
    """A predicate that reads no setting."""
    return lambda _s, _n: test


def _given_agree(s: PredicateSettings, _: int | None) -> Pair:
    return lambda a, b: given_agree(a, b, s)


def _given_differ(s: PredicateSettings, _: int | None) -> Pair:
    return lambda a, b: given_differ(a, b, s)


def _family_agree(s: PredicateSettings, _: int | None) -> Pair:
    return lambda a, b: family_agree(a, b, s)


def _family_similar(s: PredicateSettings, _: int | None) -> Pair:
    return lambda a, b: family_similar(a, b, s)


def _family_differ(s: PredicateSettings, _: int | None) -> Pair:
    return lambda a, b: family_differ(a, b, s)


def _years_at_least(s: PredicateSettings, n: int | None) -> Pair:
    if n is None:
        raise ValueError("years_apart_at_least needs a number of years")
    days_per_year = s.days_per_year

    def test(a: StandardRecord, b: StandardRecord) -> bool:
        x, y = a.birth_date, b.birth_date
        return x is not None and y is not None and abs((x - y).days) / days_per_year >= n

    return test


def _not_keying_error(s: PredicateSettings, _: int | None) -> Pair:
    """Not one of the policy's declared birth-date keying errors apart (with none declared, or a
    date missing, nothing is one)."""
    kinds = s.birth_date_keying_errors
    if not kinds:
        return lambda a, b: True

    def test(a: StandardRecord, b: StandardRecord) -> bool:
        x, y = a.birth_date, b.birth_date
        return x is None or y is None or birth_date_keying_error(x, y) not in kinds

    return test


def _keying_error(s: PredicateSettings, _: int | None) -> Pair:
    """Both dates given and one of the policy's declared keying errors apart."""
    kinds = s.birth_date_keying_errors

    def test(a: StandardRecord, b: StandardRecord) -> bool:
        x, y = a.birth_date, b.birth_date
        return x is not None and y is not None and birth_date_keying_error(x, y) in kinds

    return test


def _suffix_on_one_side(a: StandardRecord, b: StandardRecord) -> bool:
    """A generation suffix (Jr, Sr, II...) on one side only: the other generation may be named."""
    return (a.suffix is None) != (b.suffix is None)


def _sex_differ(s: PredicateSettings, _: int | None) -> Pair:
    codes = s.sex_differ_codes

    def test(a: StandardRecord, b: StandardRecord) -> bool:
        return a.sex in codes and b.sex in codes and a.sex != b.sex

    return test


def _ssn_differ(s: PredicateSettings, _: int | None) -> Pair:
    """Different SSNs, beyond one keying error (a mistyped digit or two digits swapped)."""
    edits = s.ssn_keying_edits

    def test(a: StandardRecord, b: StandardRecord) -> bool:
        if a.ssn is None or b.ssn is None:
            return False
        return int(OSA.distance(a.ssn, b.ssn)) > edits

    return test


def _ssn_not_shared(a: StandardRecord, b: StandardRecord) -> bool:
    """Not the same SSN on both sides (one missing, or different). Relatives never share one, so
    a negative rule about relatives says this: the same SSN means the same person with another
    field mistyped, not a twin."""
    return a.ssn is None or a.ssn != b.ssn


# (field, test) -> predicate. The keys are exactly what a policy's `when:` may say.
PREDICATES: dict[tuple[str, str], Factory] = {
    ("given_name", "exact"): _eq("given"),
    ("given_name", "agree"): _given_agree,
    ("given_name", "equivalent"): _plain(given_equivalent),
    ("given_name", "differ"): _given_differ,
    ("given_name", "not_equivalent"): _plain(given_not_equivalent),
    ("family_name", "exact"): _eq("family"),
    ("family_name", "agree"): _family_agree,
    ("family_name", "similar"): _family_similar,
    ("family_name", "differ"): _family_differ,
    ("birth_date", "exact"): _eq("birth_date"),
    ("birth_date", "differ"): _neq("birth_date"),
    ("birth_date", "years_apart_at_least"): _years_at_least,
    ("birth_date", "not_keying_error"): _not_keying_error,
    ("birth_date", "keying_error"): _keying_error,
    ("sex", "exact"): _eq("sex"),
    ("sex", "differ"): _sex_differ,
    ("suffix", "exact"): _eq("suffix"),
    ("suffix", "differ"): _neq("suffix"),
    ("suffix", "one_side_only"): _plain(_suffix_on_one_side),
    ("address", "exact"): _plain(_address_exact),
    ("zip", "exact"): _eq("zip5"),
    ("household", "shared"): _plain(_household_shared),
    ("phone", "exact"): _shared("phones"),
    ("email", "exact"): _eq("email"),
    ("ssn", "exact"): _eq("ssn"),
    ("ssn", "differ"): _ssn_differ,
    ("ssn", "not_shared"): _plain(_ssn_not_shared),
    ("member_id", "exact"): _eq("member_id"),
    ("subscriber_id", "exact"): _shared("subscriber_ids"),
}

_TAKES_NUMBER = {("birth_date", "years_apart_at_least")}

# The commonest predicates down a candidate set (the query side read once, one comparison per
# candidate), each beside nothing but the pair test it must equal: the same field, the same
# missing-value rule. Any other predicate runs its pair test per candidate.
Column = Callable[[StandardRecord, Sequence[StandardRecord]], list[bool]]
ColumnFactory = Callable[[PredicateSettings, int | None], Column]


def _eq_column(field_name: str) -> ColumnFactory:
    """`_eq`: present on the query side and equal."""
    get = attrgetter(field_name)

    def make(_s: PredicateSettings, _n: int | None) -> Column:
        def column(a: StandardRecord, bs: Sequence[StandardRecord]) -> list[bool]:
            x = get(a)
            return [False] * len(bs) if x is None else [get(b) == x for b in bs]

        return column

    return make


def _neq_column(field_name: str) -> ColumnFactory:
    """`_neq`: present on both sides and different."""
    get = attrgetter(field_name)

    def make(_s: PredicateSettings, _n: int | None) -> Column:
        def column(a: StandardRecord, bs: Sequence[StandardRecord]) -> list[bool]:
            x = get(a)
            if x is None:
                return [False] * len(bs)
            return [(y := get(b)) is not None and y != x for b in bs]

        return column

    return make


def _shared_column(field_name: str) -> ColumnFactory:
    """`_shared`: a value in common."""
    get = attrgetter(field_name)

    def make(_s: PredicateSettings, _n: int | None) -> Column:
        def column(a: StandardRecord, bs: Sequence[StandardRecord]) -> list[bool]:
            mine = set(get(a))
            if not mine:
                return [False] * len(bs)
            return [not mine.isdisjoint(get(b)) for b in bs]

        return column

    return make


def _ssn_not_shared_column(_s: PredicateSettings, _n: int | None) -> Column:
    """`_ssn_not_shared`: the query has no SSN, or another than the candidate's."""

    def column(a: StandardRecord, bs: Sequence[StandardRecord]) -> list[bool]:
        x = a.ssn
        return [True] * len(bs) if x is None else [b.ssn != x for b in bs]

    return column


COLUMNS: dict[tuple[str, str], ColumnFactory] = {
    ("given_name", "exact"): _eq_column("given"),
    ("family_name", "exact"): _eq_column("family"),
    ("birth_date", "exact"): _eq_column("birth_date"),
    ("birth_date", "differ"): _neq_column("birth_date"),
    ("sex", "exact"): _eq_column("sex"),
    ("suffix", "exact"): _eq_column("suffix"),
    ("suffix", "differ"): _neq_column("suffix"),
    ("zip", "exact"): _eq_column("zip5"),
    ("phone", "exact"): _shared_column("phones"),
    ("email", "exact"): _eq_column("email"),
    ("ssn", "exact"): _eq_column("ssn"),
    ("ssn", "not_shared"): _ssn_not_shared_column,
    ("member_id", "exact"): _eq_column("member_id"),
    ("subscriber_id", "exact"): _shared_column("subscriber_ids"),
}


@dataclass(frozen=True, slots=True)
class RulePredicate:
    field: str
    test: str
    arg: int | None = None

    def compile(self, settings: PredicateSettings) -> Pair:
        return PREDICATES[(self.field, self.test)](settings, self.arg)

    def column(self, settings: PredicateSettings, test: Pair) -> Column:
        """The predicate down a candidate set: its `COLUMNS` form, else `test` pair by pair."""
        make = COLUMNS.get((self.field, self.test))
        if make is not None:
            return make(settings, self.arg)
        return lambda a, bs: [test(a, b) for b in bs]

    def describe(self) -> str:
        return f"{self.field} {self.test}" + (f" {self.arg}" if self.arg is not None else "")


def parse_predicate(field_name: str, spec: Any) -> RulePredicate:
    """`given_name: agree` or `birth_date: {years_apart_at_least: 15}` -> a RulePredicate."""
    if isinstance(spec, dict) and len(spec) == 1:
        test, arg = next(iter(spec.items()))
        if (field_name, test) not in _TAKES_NUMBER or not isinstance(arg, int) or arg < 0:
            raise ValueError(f"{field_name}: {spec!r} is not a known predicate with a number")
        return RulePredicate(field_name, str(test), arg)
    if (
        not isinstance(spec, str)
        or (field_name, spec) not in PREDICATES
        or (field_name, spec) in _TAKES_NUMBER
    ):
        known_tests = sorted(f"{f}: {t}" for f, t in PREDICATES)
        raise ValueError(
            f"{field_name}: {spec!r} is not a known predicate (known: {', '.join(known_tests)})"
        )
    return RulePredicate(field_name, spec)


def parse_predicates(field_name: str, spec: Any) -> tuple[RulePredicate, ...]:
    """One predicate on a field, or a list of them that must all hold
    (`birth_date: [{years_apart_at_least: 15}, not_keying_error]`); every problem at once."""
    if not isinstance(spec, list):
        return (parse_predicate(field_name, spec),)
    if not spec:
        raise ValueError(f"{field_name}: an empty list of predicates")
    problems: list[str] = []
    parsed: list[RulePredicate] = []
    for item in spec:
        try:
            parsed.append(parse_predicate(field_name, item))
        except ValueError as exc:
            problems.append(str(exc))
    if len(set(parsed)) != len(parsed):
        problems.append(f"{field_name}: a predicate is listed twice")
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(parsed)


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule compiled under its policy's predicate settings."""

    name: str
    kind: str  # "positive" | "negative"
    predicates: tuple[RulePredicate, ...]
    settings: PredicateSettings = DEFAULT_SETTINGS
    _tests: tuple[Pair, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tests = tuple(p.compile(self.settings) for p in self.predicates)
        object.__setattr__(self, "_tests", tests)

    def fires(self, a: StandardRecord, b: StandardRecord) -> bool:
        # A plain loop: `all()` over a generator costs twice as much, for every rule and pair.
        for test in self._tests:  # noqa: SIM110
            if not test(a, b):
                return False
        return True


@dataclass(frozen=True, slots=True)
class RuleResult:
    name: str
    kind: str
    fired: bool

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.name, "kind": self.kind, "fired": self.fired}


def evaluate_rules(
    rules: tuple[Rule, ...], query: StandardRecord, candidate: StandardRecord
) -> list[RuleResult]:
    """Every rule's verdict on the pair, in policy order (negative rules first)."""
    return [RuleResult(r.name, r.kind, r.fires(query, candidate)) for r in rules]


class RuleSet:
    """A policy's rules compiled together, for all of a request's candidates at once.

    Rules repeat predicates (`ssn: not_shared` in four of the default policy's, `birth_date:
    exact` in five), so each distinct predicate is one test, run at most once per candidate
    whatever the number of rules that say it. A rule's first predicate is tested down the
    whole candidate set in one go (`COLUMNS` has the common ones as one comparison per
    candidate); the rest only for the candidates still in the running, as `Rule.fires` stops at
    the first predicate that does not hold. Predicates are pure, so the answers are the ones
    `Rule.fires` gives (a test holds them equal on the synthetic benchmark).
    """

    __slots__ = ("_columns", "_plans", "_tests", "labels", "negative", "positive", "rules")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self.labels = tuple((r.name, r.kind) for r in self.rules)
        index: dict[tuple[RulePredicate, PredicateSettings], int] = {}
        tests: list[Pair] = []
        columns: list[Column] = []
        plans: list[tuple[int, ...]] = []
        for rule in self.rules:
            plan = []
            for predicate, test in zip(rule.predicates, rule._tests, strict=True):
                key = (predicate, rule.settings)
                if key not in index:
                    index[key] = len(tests)
                    tests.append(test)
                    columns.append(predicate.column(rule.settings, test))
                plan.append(index[key])
            plans.append(tuple(plan))
        self._tests = tuple(tests)
        self._columns = tuple(columns)
        self._plans = tuple(plans)
        self.negative = tuple(i for i, r in enumerate(self.rules) if r.kind == "negative")
        self.positive = tuple(i for i, r in enumerate(self.rules) if r.kind == "positive")

    def fired(
        self, query: StandardRecord, candidates: Sequence[StandardRecord]
    ) -> list[tuple[bool, ...]]:
        """Per candidate, whether each rule fires on (query, candidate), in policy order."""
        n, tests, columns = len(candidates), self._tests, self._columns
        if not n:
            return []
        full: list[list[bool] | None] = [None] * len(tests)
        known: list[list[bool | None] | None] = [None] * len(tests)
        rows = [[False] * len(self._plans) for _ in range(n)]
        for r, plan in enumerate(self._plans):
            if not plan:  # nothing to check: holds (as `all()` of nothing)
                for row in rows:
                    row[r] = True
                continue
            first = plan[0]
            column = full[first]
            if column is None:
                column = full[first] = columns[first](query, candidates)
            for i in compress(range(n), column):
                holds = True
                for k in plan[1:]:
                    found = full[k]
                    value: bool | None
                    if found is not None:
                        value = found[i]
                    else:
                        partial = known[k]
                        if partial is None:
                            partial = known[k] = [None] * n
                        value = partial[i]
                        if value is None:
                            value = partial[i] = tests[k](query, candidates[i])
                    if not value:
                        holds = False
                        break
                rows[i][r] = holds
        return [tuple(row) for row in rows]

    def results(self, fired: Sequence[bool]) -> tuple[RuleResult, ...]:
        """One candidate's row of `fired` as the RuleResults evidence and reports read."""
        return tuple(RuleResult(r.name, r.kind, f) for r, f in zip(self.rules, fired, strict=True))
