"""People and households: who lives with whom, with which names, dates and contact details.

`PersonFactory` makes single people (names, birth dates, SSNs, e-mails) from one `random.Random`;
`HouseholdGenerator` turns it into an endless stream of households: a subscriber, often a spouse
(who usually takes the family name, sometimes keeps their own or hyphenates), children (~2% of
households with children have twins), Jr/Sr pairs (~1.5% of households; the Jr is a child at
home or, less often, heads the next household), and a few namesakes of earlier subscribers.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta

from identity.synthetic.ids import IdAllocator
from identity.synthetic.model import (
    AS_OF,
    Address,
    CoverageInfo,
    Person,
    Relationship,
    Sex,
    SyntheticMember,
    age_on,
    years_after,
    years_before,
)
from identity.synthetic.names import NameBook, fold_accents
from identity.synthetic.places import Places, phone

HISPANIC_SHARE = 0.16
SSN_RATE = 0.80
TWIN_RATE = 0.02  # of households with children
JR_SR_RATE = 0.015  # of households
NAMESAKE_RATE = 0.01  # households whose subscriber is a namesake of an earlier one

PAYOR_COMMERCIAL = ("Sample Payer PPO", "Sample Payer HMO")
PAYOR_MEDICAID = "Sample Payer Medicaid Managed Care"
PAYOR_MEDICARE = "Sample Payer Medicare Advantage"

EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")

_COVERAGE_EPOCH = date(2012, 1, 1)


def jr_birth_window(father_born: date) -> tuple[date, date]:
    """When a father's namesake son can be born: 18 to 45 years after him, not after AS_OF."""
    return years_after(father_born, 18), min(years_after(father_born, 45), AS_OF)


def _local_part(text: str) -> str:
    return "".join(c for c in fold_accents(text).lower() if c.isalnum())


class PersonFactory:
    """Single people, from the caller's generator (the master's or the query side's)."""

    def __init__(
        self,
        rng: random.Random,
        names: NameBook,
        places: Places,
        ids: IdAllocator,
        emails_taken: set[str] | None = None,
    ) -> None:
        self.rng = rng
        self.names = names
        self.places = places
        self.ids = ids
        # Every address handed out so far, master and query side alike (the query side passes the
        # master's set): a mailbox has one owner, so two people who are not one household never
        # share an address, however alike their names. A household shares one by copying it.
        self.emails_taken = set() if emails_taken is None else emails_taken

    def sex(self) -> Sex:
        u = self.rng.random()
        if u < 0.003:
            return "unknown"
        return "female" if u < 0.5015 else "male"

    def adult_age(self) -> int:
        """A subscriber's age: mostly working age, a Medicare tail."""
        return 18 + int(self.rng.betavariate(1.8, 2.6) * 72)

    def born_at_age(self, age: int) -> date:
        """A birth date of someone exactly `age` years old on AS_OF."""
        latest = years_before(AS_OF, age).toordinal()
        earliest = years_before(AS_OF, age + 1).toordinal() + 1
        return date.fromordinal(self.rng.randint(earliest, latest))

    def born_between(self, earliest: date, latest: date) -> date:
        """A day in [earliest, latest] (earliest itself if the span is empty)."""
        if latest <= earliest:
            return earliest
        return date.fromordinal(self.rng.randint(earliest.toordinal(), latest.toordinal()))

    def given(self, sex: Sex, hispanic: bool, avoid: set[str] | None = None) -> str:
        for _ in range(20):
            name = self.names.given(self.rng, sex, hispanic=hispanic)
            if not avoid or fold_accents(name).upper() not in avoid:
                return name
        return name

    def middle(self, sex: Sex, hispanic: bool, given: str) -> str | None:
        if self.rng.random() >= 0.62:
            return None
        avoid = {fold_accents(given).upper()}
        return self.given(sex, hispanic, avoid)

    def family(self, hispanic: bool, accents: bool) -> str:
        return self.names.family_name(self.rng, hispanic=hispanic, accents=accents)

    def ssn(self, rate: float = SSN_RATE) -> str | None:
        return self.ids.ssn() if self.rng.random() < rate else None

    def email(self, given: str, family: str, born: date) -> str | None:
        age = age_on(born)
        rate = 0.0 if age < 13 else 0.45 if age < 18 else 0.76
        if self.rng.random() >= rate:
            return None
        g, f = _local_part(given), _local_part(family)
        style = self.rng.randrange(5)
        if style == 0:
            local = f"{g}.{f}"
        elif style == 1:
            local = f"{g}{f}{self.rng.randint(1, 99)}"
        elif style == 2:
            local = f"{g[:1]}{f}"
        elif style == 3:
            local = f"{f}.{g}{born.year % 100:02d}"
        else:
            local = f"{g}_{f[:1]}{self.rng.randint(100, 9999)}"
        return self._unclaimed(local, EMAIL_DOMAINS[self.rng.randrange(len(EMAIL_DOMAINS))])

    def _unclaimed(self, local: str, domain: str) -> str:
        """The address, or the first `local2`, `local3`, ... not yet taken, as a mail provider
        would offer (a counter, not the generator: the rest of the data stays as it was)."""
        address, n = f"{local}@{domain}", 1
        while address in self.emails_taken:
            n += 1
            address = f"{local}{n}@{domain}"
        self.emails_taken.add(address)
        return address

    def stranger(self) -> Person:
        """Someone unrelated to anybody: own name, birth date, address."""
        rng = self.rng
        hispanic = rng.random() < HISPANIC_SHARE
        accents = hispanic and rng.random() < 0.35
        sex = self.sex()
        born = self.born_at_age(self.adult_age() if rng.random() < 0.8 else rng.randint(0, 17))
        given = self.given(sex, hispanic)
        family = self.family(hispanic, accents)
        address = self.places.address(rng)
        return Person(
            given=given,
            middle=self.middle(sex, hispanic, given),
            family=family,
            suffix=None,
            birth_family=family,
            previous_family=None,
            birth_date=born,
            sex=sex,
            ssn=self.ssn(),
            phone=phone(rng, address.state),
            email=self.email(given, family, born),
            address=address,
        )


@dataclass(slots=True)
class _Draft:
    """A person being put together (mutable until frozen into a Person)."""

    given: str
    middle: str | None
    family: str
    birth_family: str
    birth_date: date
    sex: Sex
    relationship: Relationship
    suffix: str | None = None
    previous_family: str | None = None
    ssn: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def age(self) -> int:
        return age_on(self.birth_date)


@dataclass(slots=True)
class Household:
    """One household as enrolled: its members in master order plus what they share."""

    id: int
    members: list[SyntheticMember]
    address: Address
    phone: str | None
    subscriber_id: str
    payor: str
    start: date
    hispanic: bool
    accents: bool
    tags: tuple[str, ...] = field(default=())  # "twins", "jr_sr", "namesake"

    def given_names(self) -> set[str]:
        return {fold_accents(m.person.given).upper() for m in self.members}


@dataclass(frozen=True, slots=True)
class _JrHint:
    """The next household is headed by this father's grown-up namesake son."""

    father: Person
    city_state: tuple[str, str]
    born: tuple[date, date]  # the son's birth-date window


class HouseholdGenerator:
    """An endless, deterministic stream of enrolled households for one seed."""

    def __init__(self, rng: random.Random, people: PersonFactory) -> None:
        self.rng = rng
        self.people = people
        self.ids = people.ids
        self._next_id = 0
        self._jr_hint: _JrHint | None = None
        self._recent_common: deque[tuple[str, str, Sex, int, str]] = deque(maxlen=500)

    # -- the household -------------------------------------------------------------------------

    def next(self) -> Household:
        rng, people = self.rng, self.people
        hid = self._next_id
        self._next_id += 1
        tags: list[str] = []
        hint, self._jr_hint = self._jr_hint, None

        hispanic = rng.random() < HISPANIC_SHARE
        accents = hispanic and rng.random() < 0.35
        if hint is not None:
            hispanic = any(ord(c) > 127 for c in hint.father.family) or hispanic
            state = hint.city_state[1] if rng.random() < 0.8 else people.places.state(rng)
        else:
            state = people.places.state(rng)
        city = people.places.city(rng, state)
        if hint is not None and state == hint.city_state[1]:
            for candidate in people.places.cities[state]:
                if candidate.name == hint.city_state[0] and rng.random() < 0.7:
                    city = candidate
        address = people.places.address(rng, city=city)
        home_phone = phone(rng, state) if rng.random() < 0.95 else None

        drafts = [self._subscriber(hispanic, accents, state, hint, tags)]
        sub = drafts[0]
        spouse = self._spouse(sub, hispanic, accents) if rng.random() < 0.55 else None
        kids_family = sub.family
        if spouse is not None:
            kids_family = self._marry(sub, spouse)
            drafts.append(spouse)
        youngest_parent = min(d.age for d in drafts)
        if 20 <= sub.age <= 64 and rng.random() < 0.5:
            n_kids = rng.choices((1, 2, 3, 4), (38, 38, 17, 7))[0]
            for _ in range(n_kids):
                child = self._child(youngest_parent, kids_family, hispanic, drafts)
                if child is not None:
                    drafts.append(child)
            children = [d for d in drafts if d.relationship == "child"]
            if children and rng.random() < TWIN_RATE:
                drafts.append(self._twin(children[rng.randrange(len(children))], hispanic, drafts))
                tags.append("twins")
        if (
            hint is None
            and rng.random() < JR_SR_RATE
            and self._jr_sr(drafts, hispanic, state, city.name)
        ):
            tags.append("jr_sr")

        for d in drafts:
            own_phone = 0.25 if d.relationship == "spouse" else 0.5 if d.age >= 18 else 0.0
            if d.relationship != "self" and rng.random() < own_phone:
                d.phone = phone(rng, state)  # their own mobile
            elif home_phone is not None and rng.random() < 0.97:
                d.phone = home_phone
            if d.ssn is None:
                d.ssn = people.ssn(0.65 if d.age < 1 else 0.81)
            if d.email is None:
                d.email = people.email(d.given, d.family, d.birth_date)

        subscriber_id = self.ids.subscriber_id()
        payor = self._payor(sub.age)
        earliest_start = max(_COVERAGE_EPOCH, years_after(sub.birth_date, 18))
        start = people.born_between(earliest_start, AS_OF).replace(day=1)
        end: date | None = None
        if rng.random() < 0.03:
            end = people.born_between(start, AS_OF)

        members: list[SyntheticMember] = []
        for d in drafts:
            person = Person(
                given=d.given,
                middle=d.middle,
                family=d.family,
                suffix=d.suffix,
                birth_family=d.birth_family,
                previous_family=d.previous_family,
                birth_date=d.birth_date,
                sex=d.sex,
                ssn=d.ssn,
                phone=d.phone,
                email=d.email,
                address=address,
            )
            d_start = max(start, d.birth_date)
            d_end = end
            if d.relationship == "child" and d.age >= 26:
                d_end = years_after(d.birth_date, 26)
            if d_end is not None and d_end < d_start:
                d_end = d_start
            coverage = CoverageInfo(subscriber_id, d.relationship, d_start, d_end, payor)
            members.append(SyntheticMember(self.ids.member_id(), person, coverage, hid))
        return Household(
            hid,
            members,
            address,
            home_phone,
            subscriber_id,
            payor,
            start,
            hispanic,
            accents,
            tuple(tags),
        )

    # -- the people in it ----------------------------------------------------------------------

    def _subscriber(
        self, hispanic: bool, accents: bool, state: str, hint: _JrHint | None, tags: list[str]
    ) -> _Draft:
        rng, people = self.rng, self.people
        if hint is not None:
            father = hint.father
            born = people.born_between(*hint.born)
            middle = (
                father.middle
                if rng.random() < 0.6
                else people.middle("male", hispanic, father.given)
            )
            tags.append("jr_sr")
            return _Draft(
                given=father.given,
                middle=middle,
                family=father.family,
                birth_family=father.family,
                birth_date=born,
                sex="male",
                relationship="self",
                suffix="Jr" if rng.random() < 0.8 else "II",
            )
        if self._recent_common and rng.random() < NAMESAKE_RATE:
            given, family, sex, year, their_state = self._recent_common[
                rng.randrange(len(self._recent_common))
            ]
            if their_state != state:
                if rng.random() < 0.5:
                    born = people.born_between(date(year, 1, 1), date(year, 12, 31))
                else:
                    born = people.born_at_age(people.adult_age())
                if age_on(born) >= 18:
                    tags.append("namesake")
                    return _Draft(
                        given,
                        people.middle(sex, hispanic, given),
                        family,
                        family,
                        born,
                        sex,
                        "self",
                    )
        sex = people.sex()
        born = people.born_at_age(people.adult_age())
        given = people.given(sex, hispanic)
        family = people.family(hispanic, accents)
        draft = _Draft(
            given, people.middle(sex, hispanic, given), family, family, born, sex, "self"
        )
        if (
            family in people.names.common_families
            or fold_accents(family) in people.names.common_families
        ):
            self._recent_common.append((given, family, sex, born.year, state))
        return draft

    def _spouse(self, sub: _Draft, hispanic: bool, accents: bool) -> _Draft | None:
        rng, people = self.rng, self.people
        if sub.age < 19:
            return None
        if sub.sex == "unknown" or rng.random() < 0.05:
            sex: Sex = sub.sex if sub.sex != "unknown" else people.sex()
        else:
            sex = "female" if sub.sex == "male" else "male"
        age = max(18, min(98, sub.age + round(rng.gauss(0, 4))))
        born = people.born_at_age(age)
        spouse_hispanic = hispanic if rng.random() < 0.85 else not hispanic
        given = people.given(sex, spouse_hispanic, {fold_accents(sub.given).upper()})
        family = people.family(spouse_hispanic, accents)
        return _Draft(
            given, people.middle(sex, spouse_hispanic, given), family, family, born, sex, "spouse"
        )

    def _marry(self, sub: _Draft, spouse: _Draft) -> str:
        """Settle both spouses' family names; return the one their children get."""
        rng = self.rng
        if {sub.sex, spouse.sex} == {"male", "female"}:
            husband, wife = (sub, spouse) if sub.sex == "male" else (spouse, sub)
            h, w = husband.birth_family, wife.birth_family
            if h == w:
                return h
            u = rng.random()
            if u < 0.78:
                wife.family = h
                wife.previous_family = w if rng.random() < 0.5 else None
                return h
            if u < 0.90:
                return h if rng.random() < 0.85 else f"{h}-{w}"
            wife.family = f"{w}-{h}"
            wife.previous_family = w if rng.random() < 0.5 else None
            return h
        if sub.birth_family != spouse.birth_family and rng.random() < 0.35:
            spouse.family = sub.family
            spouse.previous_family = spouse.birth_family if rng.random() < 0.5 else None
        return sub.family

    def _child(
        self, parent_age: int, family: str, hispanic: bool, drafts: list[_Draft]
    ) -> _Draft | None:
        rng, people = self.rng, self.people
        low, high = max(0, parent_age - 45), min(26, parent_age - 18)
        if low > high:
            return None
        taken = {d.birth_date for d in drafts}
        for _ in range(5):
            born = people.born_at_age(rng.randint(low, high))
            if all(abs((born - t).days) > 300 for t in taken):
                break
        else:
            return None
        sex = people.sex()
        avoid = {fold_accents(d.given).upper() for d in drafts}
        given = people.given(sex, hispanic, avoid)
        return _Draft(
            given, people.middle(sex, hispanic, given), family, family, born, sex, "child"
        )

    def _twin(self, sibling: _Draft, hispanic: bool, drafts: list[_Draft]) -> _Draft:
        people = self.people
        sex = sibling.sex if self.rng.random() < 0.5 else people.sex()
        avoid = {fold_accents(d.given).upper() for d in drafts}
        given = people.given(sex, hispanic, avoid)
        return _Draft(
            given,
            people.middle(sex, hispanic, given),
            sibling.family,
            sibling.birth_family,
            sibling.birth_date,
            sex,
            "child",
        )

    def _jr_sr(self, drafts: list[_Draft], hispanic: bool, state: str, city: str) -> bool:
        """Make a father in this household a Sr with a namesake Jr son born 18-45 years after
        him, at home (a child, at most 26) or heading the next household. False when nobody
        here can be one."""
        rng, people = self.rng, self.people
        fathers = [
            d for d in drafts if d.sex == "male" and d.relationship != "child" and d.suffix is None
        ]
        if not fathers:
            return False
        father = fathers[0]
        earliest, latest = jr_birth_window(father.birth_date)
        grown_up = years_before(AS_OF, 27)  # born on or before: too old for a parent's plan
        at_home = (max(earliest, grown_up + timedelta(days=1)), latest)
        away = (earliest, min(latest, grown_up))
        if at_home[0] <= at_home[1] and (away[0] > away[1] or rng.random() < 0.7):
            born = people.born_between(*at_home)
            middle = father.middle
            if rng.random() >= 0.6:
                middle = people.middle("male", hispanic, father.given)
            # a brother would not share the Jr's name
            drafts[:] = [
                d for d in drafts if not (d.relationship == "child" and d.given == father.given)
            ]
            suffix = "Jr" if rng.random() < 0.8 else "II"
            drafts.append(
                _Draft(father.given, middle, father.family, father.family, born, "male", "child")
            )
            drafts[-1].suffix = suffix
            father.suffix = "Sr"
            return True
        if away[0] <= away[1]:
            father.suffix = "Sr"
            self._jr_hint = _JrHint(self._frozen(father), (city, state), away)
            return True
        return False

    @staticmethod
    def _frozen(d: _Draft) -> Person:
        return Person(
            d.given,
            d.middle,
            d.family,
            d.suffix,
            d.birth_family,
            d.previous_family,
            d.birth_date,
            d.sex,
            d.ssn,
            d.phone,
            d.email,
            Address("", None, "", "", ""),
        )

    def _payor(self, age: int) -> str:
        if age >= 65:
            return PAYOR_MEDICARE
        if self.rng.random() < 0.12:
            return PAYOR_MEDICAID
        return PAYOR_COMMERCIAL[self.rng.randrange(2)]
