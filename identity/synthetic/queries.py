"""The query set: match requests with ground truth (`queries.ndjson`).

Each line is `{"query_id", "request": {"patient", "coverage"}, "truth": {"member_id",
"relationship", "perturbations"}}`. Kinds and shares: enrolled people presented exactly (20%)
or with 1-3 perturbations (40%), truth relationship "self"; people who are not enrolled (40%):
"twin", "household", "jr_sr", "namesake", "stranger" (8% each), truth member_id null.

Perturbed queries model the ways real requests differ from the master: each draws 1-3 weighted
perturbations (`PERTURBATIONS`, at most one per field), or, one time in five, a compound change
(`COMPOUND_FIELDS`: two or three of given name, family name, birth date, address and phone changed
at once, often without the card or the SSN that would find the member anyway). Among them: birth
years keyed wrong, diminutives the `nicknames` package lacks, and a married name taken together
with a move (one life event). `truth.families` names the families of issue 12 a query belongs to
(see `identity.synthetic.families`).

`QueryPlanner.observe` sees every household as the master streams past and keeps reservoir
samples of the candidates for each kind (memory grows with the number of queries, not members);
`QueryPlanner.build` then makes the queries from its own random generator, so the master is the
same whether or not queries are made.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Generic, TypeVar

from identity.synthetic import relatives
from identity.synthetic.families import families_of
from identity.synthetic.fhir_out import PHONE_STYLES, query_coverage, query_patient
from identity.synthetic.ids import QUERY_SIDE_OFFSET, IdAllocator
from identity.synthetic.master import World
from identity.synthetic.model import CoverageInfo, Person, SyntheticMember, age_on
from identity.synthetic.names import nicknames_of
from identity.synthetic.people import Household, PersonFactory
from identity.synthetic.perturb import (
    day_month_swap,
    digit_off,
    diminutive,
    with_diminutive,
    with_nickname,
    with_typo,
    year_digit_off,
    year_digits_swapped,
    year_off,
)
from identity.synthetic.places import phone

SHARES: dict[str, float] = {
    "exact": 0.20,
    "perturbed": 0.40,
    "twin": 0.08,
    "household": 0.08,
    "jr_sr": 0.08,
    "namesake": 0.08,
    "stranger": 0.08,
}

# perturbation -> weight; at most one of each conflict group is applied
PERTURBATIONS: dict[str, float] = {
    "nickname": 1.0,
    "typo_given": 1.0,
    "typo_family": 1.0,
    "family_name_change": 0.7,
    "moved": 1.0,
    "birth_date_day_month_swap": 0.5,
    "birth_date_digit": 0.7,
    "birth_year_off_by_one": 0.7,
    "birth_year_digit": 0.6,
    "birth_year_swap": 0.3,
    "diminutive": 2.2,
    "married_name_moved": 1.5,
    "moved_kept_phone": 1.2,
    "new_phone": 0.4,
    "missing_ssn": 1.0,
    "missing_phone": 0.6,
    "missing_email": 0.6,
    "coverage_absent": 1.0,
}
GIVEN_CHANGES = ("nickname", "diminutive", "typo_given")
FAMILY_CHANGES = ("typo_family", "family_name_change")
BIRTH_DATE_CHANGES = (
    "birth_date_day_month_swap",
    "birth_date_digit",
    "birth_year_off_by_one",
    "birth_year_digit",
    "birth_year_swap",
)
_CONFLICTS: tuple[frozenset[str], ...] = (
    frozenset(GIVEN_CHANGES),
    frozenset({*FAMILY_CHANGES, "married_name_moved"}),
    frozenset(BIRTH_DATE_CHANGES),
    frozenset({"moved", "moved_kept_phone", "married_name_moved"}),
    frozenset({"moved", "new_phone", "missing_phone", "married_name_moved"}),
)

# Compound changes: how often each field differs between the master and a later request in payer
# data (people move far more often than they rename; a mistyped birth date is the rarest), and
# within a field, which change it is.
COMPOUND_SHARE = 0.2
COMPOUND_FIELDS: dict[str, float] = {
    "address": 0.30,
    "phone": 0.20,
    "given": 0.20,
    "family": 0.18,
    "birth_date": 0.12,
}
_FIELD_CHANGES: dict[str, dict[str, float]] = {
    "given": {"nickname": 0.35, "diminutive": 0.25, "typo_given": 0.40},
    "family": {"typo_family": 0.55, "family_name_change": 0.45},
    "birth_date": {
        "birth_date_digit": 0.25,
        "birth_year_digit": 0.25,
        "birth_year_off_by_one": 0.20,
        "birth_date_day_month_swap": 0.15,
        "birth_year_swap": 0.15,
    },
    "address": {"moved_kept_phone": 1.0},
    "phone": {"new_phone": 1.0},
}
# Of the people who go by a short form the nickname table lacks, how many use it.
DIMINUTIVE_SHARE = 0.5
# After a wedding and a move most people keep presenting the same card; some present none.
MARRIED_CARD_KEPT = 0.85

T = TypeVar("T")
Json = dict[str, Any]


def allocate(total: int, shares: dict[str, float] = SHARES) -> dict[str, int]:
    """Split `total` by `shares` (largest remainder; ties by the order of `shares`)."""
    raw = {k: total * s / sum(shares.values()) for k, s in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    by_remainder = sorted(shares, key=lambda k: -(raw[k] - counts[k]))
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


class Reservoir(Generic[T]):
    """A uniform sample of `size` items from a stream of unknown length (algorithm R)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.items: list[T] = []
        self.seen = 0
        self._rng = rng

    def offer(self, item: T) -> None:
        if self.size <= 0:
            return
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif self._rng.random() * self.seen < self.size:
            self.items[self._rng.randrange(self.size)] = item


class QueryPlanner:
    def __init__(self, queries: int, seed: int) -> None:
        if queries < 0:
            raise ValueError("queries must not be negative")
        self.seed = seed
        self.counts = allocate(queries)
        rng = random.Random(f"identity-synthetic-queries-select:{seed}")
        self._enrolled: Reservoir[SyntheticMember] = Reservoir(
            self.counts["exact"] + self.counts["perturbed"], rng
        )
        self._namesake: Reservoir[SyntheticMember] = Reservoir(self.counts["namesake"], rng)
        self._twin: Reservoir[Household] = Reservoir(self.counts["twin"], rng)
        self._household: Reservoir[Household] = Reservoir(self.counts["household"], rng)
        self._jr_sr: Reservoir[Household] = Reservoir(self.counts["jr_sr"], rng)

    def observe(self, household: Household, world: World) -> None:
        """See one household of the master (only its members that were written)."""
        if not household.members:
            return
        for m in household.members:
            self._enrolled.offer(m)
            if age_on(m.person.birth_date) >= 18 and relatives.is_common_name(world.people, m):
                self._namesake.offer(m)
        self._household.offer(household)
        if relatives.has_children(household):
            self._twin.offer(household)
        if relatives.father_candidate(household) is not None:
            self._jr_sr.offer(household)

    # -- building --------------------------------------------------------------------------------

    def build(self, world: World) -> Iterator[Json]:
        """The queries, in a shuffled order, numbered q000001, q000002, ..."""
        rng = random.Random(f"identity-synthetic-queries-build:{self.seed}")
        factory = PersonFactory(
            rng,
            world.names,
            world.places,
            IdAllocator(self.seed, start=QUERY_SIDE_OFFSET),
            emails_taken=world.people.emails_taken,
        )
        plan: list[tuple[str, object]] = []
        enrolled = list(self._enrolled.items)
        n_exact = self.counts["exact"]
        plan += [("exact", m) for m in _fill(enrolled[:n_exact], n_exact, enrolled, rng)]
        n_pert = self.counts["perturbed"]
        plan += [("perturbed", m) for m in _fill(enrolled[n_exact:], n_pert, enrolled, rng)]
        for kind, pool in (
            ("twin", self._twin.items),
            ("household", self._household.items),
            ("jr_sr", self._jr_sr.items),
            ("namesake", self._namesake.items),
        ):
            chosen = _fill(list(pool), self.counts[kind], list(pool), rng)
            plan += [(kind, item) for item in chosen]
            plan += [("stranger", None)] * (self.counts[kind] - len(chosen))
        plan += [("stranger", None)] * self.counts["stranger"]
        rng.shuffle(plan)
        for number, (kind, item) in enumerate(plan, start=1):
            yield _BUILDERS[kind](factory, f"q{number:06d}", item)


def _fill(chosen: list[T], want: int, pool: list[T], rng: random.Random) -> list[T]:
    """`chosen`, topped up to `want` by drawing again from `pool` (small masters)."""
    out = list(chosen[:want])
    while len(out) < want and pool:
        out.append(pool[rng.randrange(len(pool))])
    return out


def _query(
    query_id: str,
    patient: Json,
    coverage: CoverageInfo | None,
    member_id: str | None,
    relationship: str,
    perturbations: list[str],
) -> Json:
    truth: Json = {
        "member_id": member_id,
        "relationship": relationship,
        "perturbations": perturbations,
    }
    if perturbations:
        truth["families"] = list(families_of(perturbations))
    return {
        "query_id": query_id,
        "request": {
            "patient": patient,
            "coverage": query_coverage(coverage, query_id) if coverage is not None else None,
        },
        "truth": truth,
    }


def _styled_patient(factory: PersonFactory, person: Person, query_id: str) -> Json:
    """Not an exact copy: phone and SSN written the way people type them."""
    rng = factory.rng
    style = PHONE_STYLES[rng.randrange(len(PHONE_STYLES))]
    return query_patient(person, query_id, phone_style=style, ssn_dashes=rng.random() < 0.3)


def _exact(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, SyntheticMember)
    patient = query_patient(item.person, query_id)
    return _query(query_id, patient, item.coverage, item.member_id, "self", [])


def _applicable(person: Person, name: str) -> bool:
    if name == "nickname":
        return bool(nicknames_of(person.given))
    if name == "diminutive":
        return bool(diminutive(person.given))
    if name == "married_name_moved":
        return age_on(person.birth_date) >= 18 and person.sex != "male"
    if name == "new_phone":
        return person.phone is not None
    if name == "birth_date_day_month_swap":
        return day_month_swap(person.birth_date) is not None
    if name == "family_name_change":
        return person.birth_family != person.family or age_on(person.birth_date) >= 18
    if name == "missing_ssn":
        return person.ssn is not None
    if name == "missing_phone":
        return person.phone is not None
    if name == "missing_email":
        return person.email is not None
    return True


def _apply(factory: PersonFactory, person: Person, name: str) -> Person | None:
    rng = factory.rng
    if name == "nickname":
        return with_nickname(person, rng)
    if name == "diminutive":
        return with_diminutive(person, rng)
    if name == "typo_given":
        return with_typo(person, rng, "given")
    if name == "typo_family":
        return with_typo(person, rng, "family")
    if name == "family_name_change":
        if person.birth_family != person.family:  # back to the maiden name
            return replace(person, family=person.birth_family)
        return _married_name(factory, person)
    if name == "married_name_moved":
        married = _married_name(factory, person)
        return None if married is None else _moved(factory, married, new_phone=True)
    if name == "moved":
        return _moved(factory, person, new_phone=True)
    if name == "moved_kept_phone":  # a mobile number moves with its owner
        return _moved(factory, person, new_phone=False)
    if name == "new_phone":
        return replace(person, phone=phone(rng, person.address.state))
    if name == "birth_date_day_month_swap":
        swapped = day_month_swap(person.birth_date)
        return replace(person, birth_date=swapped) if swapped else None
    if name == "birth_date_digit":
        moved = digit_off(person.birth_date, rng)
        return replace(person, birth_date=moved) if moved else None
    if name == "birth_year_off_by_one":
        return replace(person, birth_date=year_off(person.birth_date, rng))
    if name == "birth_year_digit":
        keyed = year_digit_off(person.birth_date, rng)
        return replace(person, birth_date=keyed) if keyed else None
    if name == "birth_year_swap":
        keyed = year_digits_swapped(person.birth_date, rng)
        return replace(person, birth_date=keyed) if keyed else None
    if name == "missing_ssn":
        return replace(person, ssn=None)
    if name == "missing_phone":
        return replace(person, phone=None)
    if name == "missing_email":
        return replace(person, email=None)
    if name == "coverage_absent":
        return person
    raise ValueError(name)


def _married_name(factory: PersonFactory, person: Person) -> Person | None:
    """A new family name from a wedding: the spouse's, or (one time in four) hyphenated."""
    hispanic = any(ord(c) > 127 for c in person.family)
    new = factory.family(hispanic, hispanic)
    if new == person.family:
        return None
    hyphenated = factory.rng.random() < 0.25
    return replace(person, family=f"{person.family}-{new}" if hyphenated else new)


def _moved(factory: PersonFactory, person: Person, *, new_phone: bool) -> Person:
    """A new address, in the same state two times in three; a new landline-style phone or not."""
    rng = factory.rng
    state = person.address.state if rng.random() < 0.65 else factory.places.state(rng)
    address = factory.places.address(rng, state=state)
    tel = phone(rng, address.state) if new_phone else person.phone
    return replace(person, address=address, phone=tel)


def _perturbed(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, SyntheticMember)
    rng = factory.rng
    if rng.random() < COMPOUND_SHARE:
        person, applied = _compound(factory, item.person)
    else:
        person, applied = _independent(factory, item.person)
    coverage = None if "coverage_absent" in applied else item.coverage
    patient = _styled_patient(factory, person, query_id)
    return _query(query_id, patient, coverage, item.member_id, "self", applied)


def _independent(factory: PersonFactory, person: Person) -> tuple[Person, list[str]]:
    """1-3 perturbations drawn by weight, at most one per field."""
    rng = factory.rng
    want = rng.choices((1, 2, 3), (50, 35, 15))[0]
    applied: list[str] = []
    candidates = [p for p in PERTURBATIONS if _applicable(person, p)]
    while len(applied) < want and candidates:
        name = rng.choices(candidates, [PERTURBATIONS[c] for c in candidates])[0]
        candidates.remove(name)
        if name == "nickname" and "diminutive" in candidates and rng.random() < DIMINUTIVE_SHARE:
            name = "diminutive"  # the short form the nickname table lacks, as often as one it has
        changed = _apply(factory, person, name)
        if changed is None:
            continue
        person = changed
        applied.append(name)
        for group in _CONFLICTS:
            if name in group:
                candidates = [c for c in candidates if c not in group]
        if (
            name == "married_name_moved"
            and "coverage_absent" in candidates
            and rng.random() >= MARRIED_CARD_KEPT
        ):
            applied.append("coverage_absent")
            candidates.remove("coverage_absent")
    return person, applied


def _compound(factory: PersonFactory, person: Person) -> tuple[Person, list[str]]:
    """Two (three times in four) or three fields changed at once; address and phone together
    are one move. The card is left at home two times in five and the SSN omitted half the time,
    as requests without them are the ones where simultaneous changes lose the member."""
    rng = factory.rng
    want = 2 if rng.random() < 0.75 else 3
    fields = list(COMPOUND_FIELDS)
    chosen: list[str] = []
    while len(chosen) < want and fields:
        field = rng.choices(fields, [COMPOUND_FIELDS[f] for f in fields])[0]
        fields.remove(field)
        chosen.append(field)
    applied: list[str] = []
    for field in chosen:
        if field == "phone" and "address" in chosen:
            continue  # made with the address, as one move
        options = {
            name: weight
            for name, weight in _FIELD_CHANGES[field].items()
            if _applicable(person, name)
        }
        if field == "address" and "phone" in chosen:
            options = {"moved": 1.0}
        changed = None
        while options and changed is None:
            name = rng.choices(list(options), list(options.values()))[0]
            del options[name]
            changed = _apply(factory, person, name)
        if changed is not None:
            person = changed
            applied.append(name)
    if person.ssn is not None and rng.random() < 0.5:
        person = replace(person, ssn=None)
        applied.append("missing_ssn")
    if rng.random() < 0.4:
        applied.append("coverage_absent")
    return person, applied


def _twin(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, Household)
    person, card = relatives.twin(factory, item)
    return _query(query_id, _styled_patient(factory, person, query_id), card, None, "twin", [])


def _household(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, Household)
    person, card = relatives.household_relative(factory, item)
    patient = _styled_patient(factory, person, query_id)
    return _query(query_id, patient, card, None, "household", [])


def _jr_sr(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, Household)
    person, card, _ = relatives.jr_or_sr(factory, item)
    return _query(query_id, _styled_patient(factory, person, query_id), card, None, "jr_sr", [])


def _namesake(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, SyntheticMember)
    person, card = relatives.namesake(factory, item)
    patient = _styled_patient(factory, person, query_id)
    return _query(query_id, patient, card, None, "namesake", [])


def _stranger(factory: PersonFactory, query_id: str, item: object) -> Json:
    person = factory.stranger()
    card = relatives.foreign_card(factory)
    patient = _styled_patient(factory, person, query_id)
    return _query(query_id, patient, card, None, "stranger", [])


_BUILDERS: dict[str, Callable[[PersonFactory, str, object], Json]] = {
    "exact": _exact,
    "perturbed": _perturbed,
    "twin": _twin,
    "household": _household,
    "jr_sr": _jr_sr,
    "namesake": _namesake,
    "stranger": _stranger,
}
