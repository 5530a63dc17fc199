"""The member master as a stream: households, with ~1% of people enrolled a second time.

`World` holds everything derived from the seed (the generator, Faker, places, names, ids).
`iter_master` yields each household (its members in master order) and, some households later,
the duplicate enrolments of ~1% of people: a second member id, the data copied exactly or with a
small variation (nickname, typo, no SSN, a new address, a new subscriber id). It stops after
exactly `members` rows; memory stays bounded (only pending duplicates are kept).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

from faker import Faker

from identity.synthetic.ids import DUPLICATE_OFFSET, IdAllocator
from identity.synthetic.model import AS_OF, SyntheticMember
from identity.synthetic.names import NameBook, name_book
from identity.synthetic.people import Household, HouseholdGenerator, PersonFactory
from identity.synthetic.perturb import with_nickname, with_typo
from identity.synthetic.places import Places, phone

DUPLICATE_RATE = 0.01
_DUPLICATE_DELAY = 60  # at most this many households between an enrolment and its duplicate


def seeded_faker(seed: int) -> Faker:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


class World:
    """Everything the master is made of, for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.fake = seeded_faker(seed)
        self.names: NameBook = name_book()
        self.places = Places(self.fake)
        self.ids = IdAllocator(seed)
        self.people = PersonFactory(self.rng, self.names, self.places, self.ids)
        self.households = HouseholdGenerator(self.rng, self.people)
        # Duplicates draw from their own generator and id range, so the households are the same
        # whatever the number of members (a smaller master is a prefix of a larger one).
        self.dup_rng = random.Random(f"identity-synthetic-duplicates:{seed}")
        self.dup_ids = IdAllocator(seed, start=DUPLICATE_OFFSET)


def _duplicate(world: World, original: SyntheticMember) -> SyntheticMember:
    rng, person, coverage = world.dup_rng, original.person, original.coverage
    u = rng.random()
    if u < 0.45:
        pass  # an exact copy
    elif u < 0.60:
        start = coverage.start + timedelta(days=rng.randint(30, 2000))
        coverage = replace(
            coverage, subscriber_id=world.dup_ids.subscriber_id(), start=min(start, AS_OF)
        )
    elif u < 0.70:
        person = with_nickname(person, rng) or person
    elif u < 0.85:
        person = with_typo(person, rng, "given" if rng.random() < 0.5 else "family") or person
    elif u < 0.93:
        person = replace(person, ssn=None)
    else:  # moved within the town (its streets are known already: no new Faker draws)
        city = world.places.city_of(person.address)
        if city is not None:
            address = world.places.address(rng, city=city)
            person = replace(person, address=address, phone=phone(rng, address.state))
    return SyntheticMember(
        member_id=world.dup_ids.member_id(),
        person=person,
        coverage=coverage,
        household_id=original.household_id,
        duplicate_of=original.member_id,
    )


def iter_master(
    members: int, seed: int, world: World | None = None
) -> Iterator[Household | SyntheticMember]:
    """Households (members possibly cut short at the very end) and, interleaved, duplicates."""
    if members < 0:
        raise ValueError("members must not be negative")
    world = world or World(seed)
    dup_rng = world.dup_rng
    pending: list[tuple[int, int, SyntheticMember]] = []
    emitted = 0
    sequence = 0
    next_household = 0
    while emitted < members:
        if pending and pending[0][0] <= next_household:
            _, _, original = heapq.heappop(pending)
            yield _duplicate(world, original)
            emitted += 1
            continue
        household = world.households.next()
        next_household = household.id + 1
        room = members - emitted
        if len(household.members) > room:
            household.members = household.members[:room]
        for member in household.members:
            if dup_rng.random() < DUPLICATE_RATE:
                due = household.id + 1 + int(dup_rng.random() * _DUPLICATE_DELAY)
                heapq.heappush(pending, (due, sequence, member))
                sequence += 1
        emitted += len(household.members)
        yield household


def iter_members(members: int, seed: int) -> Iterator[SyntheticMember]:
    """The member master, row by row, exactly `members` rows (duplicate enrolments included)."""
    for item in iter_master(members, seed):
        if isinstance(item, Household):
            yield from item.members
        else:
            yield item
