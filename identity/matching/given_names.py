"""Given-name equivalence beyond the `nicknames` package, as a policy declares it (pure).

`StandardRecord.given_canonicals` is the given name plus the names it is a nickname of, from the
`nicknames` package (carltonnorthern/nicknames) alone: standardising never changes, so a query's
fingerprint, the member index and every stored policy stay as they were. A policy with a
`given_name_equivalences` section widens the canonicals of the query and of its candidates, in the
engine, before the rules, the comparison levels and the guards read them (and the service's
blocking keys, through `query_view`). Three more sources, each declared:

  listed   the public-domain English diminutives database of Daniel Trebbien
           (github.com/dtrebbien/diminutives.db, commit caae757f, 2010-12-21; built from
           Wiktionary's "English diminutives of male/female given names" and hand-edited), male
           and female lists kept apart: `data/diminutives_*.csv`
  derived  English hypocoristics (a clipped stem plus -ie/-y/-i/-ee/-ey: Madison -> Maddie,
           Barbara -> Barbie, Susan -> Suzy; see Lawson, "Hypocoristics", in the Oxford Handbook
           of Names, and the Wikipedia article "Hypocorism"), derived only from real US given
           names of the same sex in the 1990 US Census first-name lists (public domain; as
           shipped by the MIT-licensed PyPI package `names` 0.3.0: `data/census1990_*.txt`)
  learned  pairs data stewards linked (a request's given name to a member's), per tenant, as
           data the caller reads (`LearnedNames`); used only once `min_links` distinct members
           were linked with that pair, and never a near spelling (see `_near_spelling`)

Sexes stay apart: Dani is a diminutive of Daniel (male list) and of Danielle (female list), so a
record's diminutive is widened by the names of its own recorded sex only (both when the sex is
missing). Daniel and Danielle never become equivalent, and a sister presenting as Dani is still
"not equivalent" to her twin brother Daniel, which `relative-of-the-other-sex` relies on.
Sources: data/SOURCES.md.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal

from rapidfuzz.distance import JaroWinkler

from identity.matching.record import StandardRecord, with_given_canonicals
from identity.matching.standardize_names import clean_name, nickname_canonicals

Source = Literal["listed", "derived"]
SEXES = ("M", "F")

# A derived form comes from a full name of at least this share of its sex in the 1990 census
# (percent; Madison, rare in 1990 and common since, has 0.003), and is dropped when it is itself
# a full name at least as common as COMMON_FULL_NAME (Mary is not a Martha, Audrey not an Audra:
# a real name of its own is a different person's name unless a curated list says otherwise).
MIN_SOURCE_SHARE = 0.002
COMMON_FULL_NAME = 0.005
CROSS_SEX_RATIO = 10
# The package's names are kept for a record of one sex when that sex is at least half as common
# among its bearers as the other (Francis: 0.16% of men, 0.039% of women in 1990: a man's name,
# so a woman's "Fran" is not her twin brother Francis's).
NICKNAME_SEX_RATIO = 2
# A listed diminutive this common (percent of its sex) is a name of its own unless it begins as
# the full name does (`_own_name`).
COMMON_OWN_NAME = 0.03
_VOWELS = frozenset("AEIOUY")
_HYPOCORISTIC_ENDINGS = ("IE", "Y", "I", "EE", "EY")
# Consonants English doubles after a short vowel before -ie/-y (Mad-die, Jen-ny, Bob-by).
_DOUBLING = frozenset("BDGLMNPRTZ")
# Two spellings this close are a typo or the other sex's form of one name (Daniel/Danielle,
# Eric/Erica, Francis/Frances), never a diminutive: the rules already accept a typo wherever a
# typo is safe, and `not_equivalent` must keep telling a brother's name from his sister's.
_NEAR_SPELLING_JW = 0.92
_MAX_CACHED = 200_000


@functools.cache
def _data(name: str) -> str:
    return resources.files("identity.matching").joinpath("data", name).read_text("utf-8")


@functools.cache
def _listed() -> dict[str, dict[str, frozenset[str]]]:
    """diminutive -> sex -> the full names it is listed under (diminutives.db)."""
    found: dict[str, dict[str, set[str]]] = {}
    for sex, file in (("M", "diminutives_male.csv"), ("F", "diminutives_female.csv")):
        for line in _data(file).splitlines():
            names = [n for n in (clean_name(p) for p in line.split(",")) if n]
            if len(names) < 2:
                continue
            formal, diminutives = names[0], names[1:]
            for diminutive in diminutives:
                if diminutive != formal and not _own_name(diminutive, formal, sex):
                    found.setdefault(diminutive, {}).setdefault(sex, set()).add(formal)
    return {d: {s: frozenset(f) for s, f in by_sex.items()} for d, by_sex in found.items()}


def _own_name(diminutive: str, formal: str, sex: str) -> bool:
    """A listed diminutive that is a common name in its own right and does not begin with the
    full name's first three letters (Mae for Margaret, Daisy for Margaret, Ann for Joanna, Jay
    for James): people so named are rarely the full name's bearer, and sisters Mae and Rita must
    not share one name. A clipped diminutive keeps the full name's onset (Jerry/Jeremy,
    Katie/Katherine) and stays."""
    share = census_shares().get(diminutive, {}).get(sex, 0.0)
    return share >= COMMON_OWN_NAME and not formal.startswith(diminutive[:3])


@functools.cache
def census_shares() -> dict[str, dict[str, float]]:
    """name -> sex -> percent of people of that sex with it (1990 US Census first names)."""
    shares: dict[str, dict[str, float]] = {}
    for sex, file in (("M", "census1990_male_first.txt"), ("F", "census1990_female_first.txt")):
        for line in _data(file).splitlines():
            parts = line.split()
            if len(parts) >= 2:
                shares.setdefault(parts[0], {})[sex] = float(parts[1])
    return shares


def hypocoristics(formal: str) -> frozenset[str]:
    """Clipped-stem diminutives of a full name: its first three or four letters (at least two
    letters dropped, the stem closed by a consonant), the consonant doubled after a vowel, S
    spelled Z too, plus -ie/-y/-i/-ee/-ey. Madison -> Maddie, Maddy; Susan -> Susie, Suzy."""
    if len(formal) < 5 or not formal.isalpha():
        return frozenset()
    forms: set[str] = set()
    for n in (3, 4):
        stem = formal[:n]
        if len(formal) - n < 2 or stem[-1] in _VOWELS:
            continue
        stems = {stem}
        if stem[-2] in _VOWELS and stem[-1] in _DOUBLING:
            stems.add(stem + stem[-1])
        stems |= {s[:-1] + "Z" for s in stems if s.endswith("S")}
        forms |= {s + ending for s in stems for ending in _HYPOCORISTIC_ENDINGS}
    return frozenset(forms)


def _is_hypocoristic(name: str) -> bool:
    return name.endswith(_HYPOCORISTIC_ENDINGS)


@functools.cache
def _derived() -> dict[str, dict[str, frozenset[str]]]:
    """derived diminutive -> sex -> the census full names of that sex it is derived from."""
    shares = census_shares()
    common = {n for n, by_sex in shares.items() if max(by_sex.values()) >= COMMON_FULL_NAME}
    found: dict[str, dict[str, set[str]]] = {}
    for formal, by_sex in shares.items():
        if _is_hypocoristic(formal):  # Susie and Kathy are diminutives already
            continue
        for sex, share in by_sex.items():
            # The census lists carry a few people of the other sex (Jeremy among women): a name
            # is a source for a sex when it is common enough there, not a rare crossing.
            if share < MIN_SOURCE_SHARE or share * CROSS_SEX_RATIO < max(by_sex.values()):
                continue
            for form in hypocoristics(formal):
                if form not in common:
                    found.setdefault(form, {}).setdefault(sex, set()).add(formal)
    return {d: {s: frozenset(f) for s, f in by_sex.items()} for d, by_sex in found.items()}


def _of_sex(
    table: Mapping[str, Mapping[str, frozenset[str]]], name: str, sex: str | None
) -> set[str]:
    by_sex = table.get(name)
    if not by_sex:
        return set()
    if sex in SEXES:
        return set(by_sex.get(sex, ()))
    return {f for names in by_sex.values() for f in names}


@functools.lru_cache(maxsize=100_000)
def canonicals(given: str, sex: str | None, sources: tuple[Source, ...]) -> frozenset[str]:
    """The cleaned given name, the names it is a nickname of (`nicknames` package) and, per the
    sources, the full names of the record's sex it is a diminutive of."""
    nicknamed = nickname_canonicals(given)
    if sources and sex in SEXES:
        # The package does not say whose names they are: Fran is a nickname of Francis and of
        # Frances there. With diminutives declared, its names of the other sex only are dropped.
        nicknamed = frozenset(n for n in nicknamed if n == given or _of_sex_by_census(n, sex))
    if sources:
        nicknamed = nicknamed - _own_diminutives(given)
    forms = set(nicknamed)
    if "listed" in sources:
        forms |= _of_sex(_listed(), given, sex)
        if _is_hypocoristic(given):
            # A diminutive of a diminutive: Katie is a Katy in the package, Katy a Katherine
            # here. Only from a diminutive's shape: the package also lists Daniel under Danny.
            for name in nicknamed - {given}:
                if _is_hypocoristic(name):
                    forms |= _of_sex(_listed(), name, sex)
    if "derived" in sources:
        forms |= _of_sex(_derived(), given, sex)
    return frozenset(forms)


def _own_diminutives(given: str) -> frozenset[str]:
    """The names the package lists both ways with `given` and that are shorter: its own
    diminutives, not names it is a form of. The package's rows run both ways (Robert is filed
    under Bill as Bill is under Robert), so Robert's and William's canonicals would both hold
    BILL and twins named Robert and William would share a name. A full name keeps only the
    names it is truly a form of; its diminutives still reach it from their side (Bill -> Robert)."""
    listed_under = {clean_name(n) for n in _nicknamer_of(given.lower())}
    return frozenset(n for n in listed_under if n and len(n) < len(given))


def _of_sex_by_census(name: str, sex: str) -> bool:
    """Not mainly a name of the other sex, by the census (a name it lacks is kept)."""
    shares = census_shares().get(name)
    if not shares:
        return True
    other = "F" if sex == "M" else "M"
    return shares.get(sex, 0.0) * NICKNAME_SEX_RATIO >= shares.get(other, 0.0)


@functools.cache
def _reverse(table_name: str) -> dict[tuple[str, str], frozenset[str]]:
    """(full name, sex) -> its diminutives in the listed or derived table."""
    table = _listed() if table_name == "listed" else _derived()
    found: dict[tuple[str, str], set[str]] = {}
    for diminutive, by_sex in table.items():
        for sex, formals in by_sex.items():
            for formal in formals:
                found.setdefault((formal, sex), set()).add(diminutive)
    return {k: frozenset(v) for k, v in found.items()}


def diminutives_of(formal: str, sex: str | None, sources: tuple[Source, ...]) -> frozenset[str]:
    """The known diminutives of a full name (the package's nicknames, and per the sources the
    listed and derived ones of that sex): what coverage is measured by."""
    forms = {clean_name(n) for n in _nicknamer_of(formal.lower())} - {None, formal}
    sexes = (sex,) if sex in SEXES else SEXES
    for source in sources:
        for s in sexes:
            forms |= _reverse(source).get((formal, s), frozenset())
    return frozenset(f for f in forms if f)


def _nicknamer_of(name: str) -> set[str]:
    from identity.matching.standardize_names import _nicknamer

    return set(_nicknamer().nicknames_of(name))


def _near_spelling(a: str, b: str) -> bool:
    return a[0] == b[0] and float(JaroWinkler.similarity(a, b)) >= _NEAR_SPELLING_JW


@dataclass(frozen=True, slots=True)
class LearnedPair:
    """Two given names stewards linked (a request's and a member's), for members of one sex
    (None: recorded without one), with the distinct members and the links (resolution ids)."""

    names: tuple[str, str]
    sex: str | None
    member_ids: frozenset[str]
    resolution_ids: tuple[str, ...]


@dataclass(frozen=True)
class LearnedNames:
    """A tenant's active learned pairs that concern the queries at hand, read by the caller."""

    pairs: tuple[LearnedPair, ...] = ()
    _by_name: dict[str, list[LearnedPair]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for pair in self.pairs:
            for name in set(pair.names):
                self._by_name.setdefault(name, []).append(pair)

    def of(self, name: str | None) -> list[LearnedPair]:
        return self._by_name.get(name, []) if name else []

    def __bool__(self) -> bool:
        return bool(self.pairs)


NO_LEARNED = LearnedNames()


@dataclass(frozen=True, slots=True)
class Widened:
    """A query and its candidates' records with the policy's canonicals, and the learned links
    that made a candidate's given name equivalent (evidence: which resolutions were used)."""

    query: StandardRecord
    records: tuple[StandardRecord, ...]
    learned_used: tuple[dict[str, Any], ...] = ()


class GivenNames:
    """A policy's `given_name_equivalences`, ready to widen records; built once per policy.

    Without the section (`spec` None) nothing is widened: the policy decides as before."""

    def __init__(
        self,
        sources: Iterable[Source] = (),
        *,
        learn: bool = False,
        min_links: int = 1,
        active: bool = False,
    ) -> None:
        self.sources: tuple[Source, ...] = tuple(sorted(set(sources)))
        self.learn = learn
        self.min_links = min_links
        self.active = active
        # (given, sex) -> widened canonicals: every candidate of every request asks (the
        # module's lru_cache keys on the sources too, and costs more per look-up).
        self._widened: dict[tuple[str, str | None], frozenset[str]] = {}

    @classmethod
    def of(cls, spec: Any) -> GivenNames:
        """From a policy's `GivenNameEquivalencesSpec` (or None)."""
        if spec is None:
            return cls()
        return cls(
            spec.diminutives,
            learn=spec.learn_from_steward_links,
            min_links=spec.min_links,
            active=True,
        )

    def __bool__(self) -> bool:
        return self.active

    def record(self, r: StandardRecord) -> StandardRecord:
        """The record with the policy's static canonicals (no learned pairs)."""
        if not self.active or r.given is None:
            return r
        key = (r.given, r.sex)
        widened = self._widened.get(key)
        if widened is None:
            if len(self._widened) >= _MAX_CACHED:
                self._widened.clear()
            widened = self._widened[key] = canonicals(r.given, r.sex, self.sources)
        return r if widened == r.given_canonicals else with_given_canonicals(r, widened)

    def learned_pairs(self, r: StandardRecord, learned: LearnedNames) -> list[LearnedPair]:
        """The learned pairs the policy lets widen this record's given name: of its sex (or
        either, when it has none), linked for enough distinct members, not a near spelling."""
        if not (self.active and self.learn and learned and r.given):
            return []
        return [
            p
            for p in learned.of(r.given)
            if len(p.member_ids) >= self.min_links
            and (r.sex not in SEXES or p.sex in (r.sex, None))
            and not _near_spelling(*p.names)
        ]

    def query_view(
        self, query: StandardRecord, learned: LearnedNames = NO_LEARNED
    ) -> StandardRecord:
        """The query with the static canonicals and the learned names: what blocking reads."""
        widened = self.record(query)
        pairs = self.learned_pairs(query, learned)
        if not pairs:
            return widened
        extra = {n for p in pairs for n in p.names}
        return replace(widened, given_canonicals=widened.given_canonicals | extra)

    def widen(
        self,
        query: StandardRecord,
        records: Sequence[StandardRecord],
        member_ids: Sequence[str],
        learned: LearnedNames = NO_LEARNED,
    ) -> Widened:
        """Query and candidates as the rules and levels must see them under this policy."""
        if not self.active:
            return Widened(query, tuple(records))
        static = self.record(query)
        widened = self.query_view(query, learned)
        out = tuple(self.record(r) for r in records)
        used: list[dict[str, Any]] = []
        if widened is not static:
            pairs = self.learned_pairs(query, learned)
            for member_id, r in zip(member_ids, out, strict=True):
                if not static.given_canonicals.isdisjoint(r.given_canonicals):
                    continue  # equivalent without any learned pair
                if widened.given_canonicals.isdisjoint(r.given_canonicals):
                    continue
                links = sorted(
                    {
                        rid
                        for p in pairs
                        if not r.given_canonicals.isdisjoint(p.names)
                        for rid in p.resolution_ids
                    }
                )
                if links:
                    used.append({"member_id": member_id, "resolution_ids": links})
        return Widened(widened, out, tuple(used))


def learnable(request: StandardRecord, member: StandardRecord) -> bool:
    """Whether a steward's link teaches a new pair: both given names known, different, and not
    already equivalent under every static source (nicknames, listed, derived)."""
    if request.given is None or member.given is None or request.given == member.given:
        return False
    everything: tuple[Source, ...] = ("derived", "listed")
    mine = canonicals(request.given, request.sex, everything)
    theirs = canonicals(member.given, member.sex, everything)
    return mine.isdisjoint(theirs)


def ordered_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)
