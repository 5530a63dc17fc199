"""Deterministic rules: conjunctions of field predicates that settle a pair outright.

A positive rule ("certain match") fires when every predicate holds; a negative rule ("certainly
not") removes the candidate. Predicates are a small fixed vocabulary, so a policy file can only say
things this module knows how to check, and a steward can read a rule as a sentence.

"differ" is deliberately stronger than "not agree": a typo in a given name is neither agreement nor
a difference, so a negative rule that keeps twins apart never throws away a real match with a typo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import OSA, JaroWinkler

from identity.matching.record import StandardRecord

# Jaro-Winkler similarity at or above which two names agree despite a typo...
NAME_AGREE_JW = 0.92
# ...and below which two names are clearly different people's names.
NAME_DIFFER_JW = 0.80

Test = Callable[[StandardRecord, StandardRecord, int | None], bool]


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


def given_agree(a: StandardRecord, b: StandardRecord) -> bool:
    """Same given name, a nickname of it (Bill/William), split by a stray space, or a near
    spelling that keeps the first letter (see `given_differ`)."""
    if a.given is None or b.given is None:
        return False
    if a.given == b.given or (a.given_canonicals & b.given_canonicals) or _split_given(a, b):
        return True
    return a.given[0] == b.given[0] and _jw(a.given, b.given) >= NAME_AGREE_JW


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


def given_differ(a: StandardRecord, b: StandardRecord) -> bool:
    """Names of two different people: not equivalent, and not one keystroke apart.

    A typo is one edit (an insertion, deletion, substitution or transposition) that keeps the
    first letter: people rarely mistype a name's first letter (Winkler's prefix observation).
    So Jordan/Jordon is a typo, but Ryan/Bryan and Casey/Chase are twins' names.
    """
    if a.given is None or b.given is None or given_equivalent(a, b) or _split_given(a, b):
        return False
    if len(a.given) == 1 or len(b.given) == 1:
        return a.given[0] != b.given[0]
    if a.given[0] != b.given[0]:
        return True
    return int(OSA.distance(a.given, b.given)) >= 2 and _jw(a.given, b.given) < NAME_AGREE_JW


def _family_names(r: StandardRecord) -> set[str]:
    return {n for n in (r.family, *r.family_parts, *r.earlier_families) if n}


def family_agree(a: StandardRecord, b: StandardRecord) -> bool:
    """Same family name, an earlier (maiden) one, a compound part, or a near spelling."""
    if a.family is None or b.family is None:
        return False
    if _family_names(a) & _family_names(b):
        return True
    return _jw(a.family, b.family) >= NAME_AGREE_JW


def family_similar(a: StandardRecord, b: StandardRecord) -> bool:
    """Agree, or spelled closely enough (JW >= 0.80) that one may be a typo of the other."""
    if a.family is None or b.family is None:
        return False
    return family_agree(a, b) or _jw(a.family, b.family) >= NAME_DIFFER_JW


def family_differ(a: StandardRecord, b: StandardRecord) -> bool:
    if a.family is None or b.family is None or family_agree(a, b):
        return False
    return _jw(a.family, b.family) < NAME_DIFFER_JW


def _years_apart(a: StandardRecord, b: StandardRecord) -> float | None:
    if a.birth_date is None or b.birth_date is None:
        return None
    return abs((a.birth_date - b.birth_date).days) / 365.25


def _address_exact(a: StandardRecord, b: StandardRecord) -> bool:
    return _both(a.address_line, b.address_line) and (a.address_line, a.zip5) == (
        b.address_line,
        b.zip5,
    )


def _household_shared(a: StandardRecord, b: StandardRecord, _: int | None) -> bool:
    """Any fact a household shares: home address, a phone, the card, an e-mail."""
    return (
        _address_exact(a, b)
        or bool(set(a.phones) & set(b.phones))
        or bool(set(a.subscriber_ids) & set(b.subscriber_ids))
        or (a.email is not None and a.email == b.email)
    )


def _eq(field: str) -> Test:
    def test(a: StandardRecord, b: StandardRecord, _: int | None) -> bool:
        x, y = getattr(a, field), getattr(b, field)
        return x is not None and x == y

    return test


def _neq(field: str) -> Test:
    def test(a: StandardRecord, b: StandardRecord, _: int | None) -> bool:
        x, y = getattr(a, field), getattr(b, field)
        return _both(x, y) and x != y

    return test


def _shared(field: str) -> Test:
    def test(a: StandardRecord, b: StandardRecord, _: int | None) -> bool:
        return bool(set(getattr(a, field)) & set(getattr(b, field)))

    return test


def _years_at_least(a: StandardRecord, b: StandardRecord, n: int | None) -> bool:
    years = _years_apart(a, b)
    return years is not None and n is not None and years >= n


def _ssn_differ(a: StandardRecord, b: StandardRecord, _: int | None) -> bool:
    """Different SSNs, beyond one keying error (a mistyped digit or two digits swapped)."""
    if a.ssn is None or b.ssn is None:
        return False
    return int(OSA.distance(a.ssn, b.ssn)) > 1


def _ssn_not_shared(a: StandardRecord, b: StandardRecord, _: int | None) -> bool:
    """Not the same SSN on both sides (one missing, or different). Relatives never share one, so
    a negative rule about relatives says this: the same SSN means the same person with another
    field mistyped, not a twin."""
    return not _eq("ssn")(a, b, None)


# (field, test) -> predicate. The keys are exactly what a policy's `when:` may say.
PREDICATES: dict[tuple[str, str], Test] = {
    ("given_name", "exact"): _eq("given"),
    ("given_name", "agree"): lambda a, b, _: given_agree(a, b),
    ("given_name", "equivalent"): lambda a, b, _: given_equivalent(a, b),
    ("given_name", "differ"): lambda a, b, _: given_differ(a, b),
    ("given_name", "not_equivalent"): lambda a, b, _: given_not_equivalent(a, b),
    ("family_name", "exact"): _eq("family"),
    ("family_name", "agree"): lambda a, b, _: family_agree(a, b),
    ("family_name", "similar"): lambda a, b, _: family_similar(a, b),
    ("family_name", "differ"): lambda a, b, _: family_differ(a, b),
    ("birth_date", "exact"): _eq("birth_date"),
    ("birth_date", "differ"): _neq("birth_date"),
    ("birth_date", "years_apart_at_least"): _years_at_least,
    ("sex", "exact"): _eq("sex"),
    ("sex", "differ"): lambda a, b, _: (
        a.sex in ("M", "F") and b.sex in ("M", "F") and a.sex != b.sex
    ),
    ("suffix", "exact"): _eq("suffix"),
    ("suffix", "differ"): _neq("suffix"),
    ("address", "exact"): lambda a, b, _: _address_exact(a, b),
    ("zip", "exact"): _eq("zip5"),
    ("household", "shared"): _household_shared,
    ("phone", "exact"): _shared("phones"),
    ("email", "exact"): _eq("email"),
    ("ssn", "exact"): _eq("ssn"),
    ("ssn", "differ"): _ssn_differ,
    ("ssn", "not_shared"): _ssn_not_shared,
    ("member_id", "exact"): _eq("member_id"),
    ("subscriber_id", "exact"): _shared("subscriber_ids"),
}

_TAKES_NUMBER = {("birth_date", "years_apart_at_least")}


@dataclass(frozen=True, slots=True)
class RulePredicate:
    field: str
    test: str
    arg: int | None = None

    def holds(self, a: StandardRecord, b: StandardRecord) -> bool:
        return PREDICATES[(self.field, self.test)](a, b, self.arg)

    def describe(self) -> str:
        return f"{self.field} {self.test}" + (f" {self.arg}" if self.arg is not None else "")


def parse_predicate(field: str, spec: Any) -> RulePredicate:
    """`given_name: agree` or `birth_date: {years_apart_at_least: 15}` -> a RulePredicate."""
    if isinstance(spec, dict) and len(spec) == 1:
        test, arg = next(iter(spec.items()))
        if (field, test) not in _TAKES_NUMBER or not isinstance(arg, int) or arg < 0:
            raise ValueError(f"{field}: {spec!r} is not a known predicate with a number")
        return RulePredicate(field, str(test), arg)
    if (
        not isinstance(spec, str)
        or (field, spec) not in PREDICATES
        or (field, spec) in _TAKES_NUMBER
    ):
        known = sorted(f"{f}: {t}" for f, t in PREDICATES)
        raise ValueError(f"{field}: {spec!r} is not a known predicate (known: {', '.join(known)})")
    return RulePredicate(field, spec)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: str  # "positive" | "negative"
    predicates: tuple[RulePredicate, ...]

    def fires(self, a: StandardRecord, b: StandardRecord) -> bool:
        return all(p.holds(a, b) for p in self.predicates)


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
