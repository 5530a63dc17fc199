"""The query set: match requests with ground truth (`queries.ndjson`).

Each line is `{"query_id", "request": {"patient", "coverage"}, "truth": {"member_id",
"relationship", "perturbations"}}`. Kinds and shares: enrolled people presented exactly (20%)
or with 1-3 perturbations (40%), truth relationship "self"; people who are not enrolled (40%):
"twin", "household", "jr_sr", "namesake", "stranger" (8% each), truth member_id null.

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
from identity.synthetic.fhir_out import PHONE_STYLES, query_coverage, query_patient
from identity.synthetic.ids import QUERY_SIDE_OFFSET, IdAllocator
from identity.synthetic.master import World
from identity.synthetic.model import CoverageInfo, Person, SyntheticMember, age_on
from identity.synthetic.names import nicknames_of
from identity.synthetic.people import Household, PersonFactory
from identity.synthetic.perturb import day_month_swap, digit_off, with_nickname, with_typo, year_off
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
    "missing_ssn": 1.0,
    "missing_phone": 0.6,
    "missing_email": 0.6,
    "coverage_absent": 1.0,
}
_CONFLICTS: tuple[frozenset[str], ...] = (
    frozenset({"nickname", "typo_given"}),
    frozenset({"typo_family", "family_name_change"}),
    frozenset({"birth_date_day_month_swap", "birth_date_digit", "birth_year_off_by_one"}),
    frozenset({"moved", "missing_phone"}),
)

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
    return {
        "query_id": query_id,
        "request": {
            "patient": patient,
            "coverage": query_coverage(coverage, query_id) if coverage is not None else None,
        },
        "truth": {
            "member_id": member_id,
            "relationship": relationship,
            "perturbations": perturbations,
        },
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
    if name == "typo_given":
        return with_typo(person, rng, "given")
    if name == "typo_family":
        return with_typo(person, rng, "family")
    if name == "family_name_change":
        if person.birth_family != person.family:  # back to the maiden name
            return replace(person, family=person.birth_family)
        hispanic = any(ord(c) > 127 for c in person.family)
        new = factory.family(hispanic, hispanic)
        if new == person.family:
            return None
        return replace(person, family=f"{person.family}-{new}" if rng.random() < 0.25 else new)
    if name == "moved":
        state = person.address.state if rng.random() < 0.65 else factory.places.state(rng)
        address = factory.places.address(rng, state=state)
        return replace(person, address=address, phone=phone(rng, address.state))
    if name == "birth_date_day_month_swap":
        swapped = day_month_swap(person.birth_date)
        return replace(person, birth_date=swapped) if swapped else None
    if name == "birth_date_digit":
        moved = digit_off(person.birth_date, rng)
        return replace(person, birth_date=moved) if moved else None
    if name == "birth_year_off_by_one":
        return replace(person, birth_date=year_off(person.birth_date, rng))
    if name == "missing_ssn":
        return replace(person, ssn=None)
    if name == "missing_phone":
        return replace(person, phone=None)
    if name == "missing_email":
        return replace(person, email=None)
    if name == "coverage_absent":
        return person
    raise ValueError(name)


def _perturbed(factory: PersonFactory, query_id: str, item: object) -> Json:
    assert isinstance(item, SyntheticMember)
    rng = factory.rng
    want = rng.choices((1, 2, 3), (50, 35, 15))[0]
    person = item.person
    applied: list[str] = []
    candidates = [p for p in PERTURBATIONS if _applicable(person, p)]
    while len(applied) < want and candidates:
        name = rng.choices(candidates, [PERTURBATIONS[c] for c in candidates])[0]
        candidates.remove(name)
        changed = _apply(factory, person, name)
        if changed is None:
            continue
        person = changed
        applied.append(name)
        for group in _CONFLICTS:
            if name in group:
                candidates = [c for c in candidates if c not in group]
    coverage = None if "coverage_absent" in applied else item.coverage
    patient = _styled_patient(factory, person, query_id)
    return _query(query_id, patient, coverage, item.member_id, "self", applied)


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
