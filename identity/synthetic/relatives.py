"""People who are *not* enrolled but look like someone who is: the hard negatives of the query set.

Each builder starts from an enrolled household (or member) and makes a new person from the
query side's `PersonFactory`: a twin of an enrolled child, a spouse or sibling never enrolled,
the Jr of an enrolled father (or his Sr), a namesake elsewhere. They are made after the master
is written, from the household's data, so they cannot be in it: every given name differs from
the household's, every SSN comes from the query side's own SSN range.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from identity.synthetic.diminutives import diminutives_of
from identity.synthetic.model import (
    AS_OF,
    CoverageInfo,
    Person,
    Relationship,
    Sex,
    SyntheticMember,
    age_on,
    years_after,
    years_before,
)
from identity.synthetic.names import fold_accents, formal_names_of, nicknames_of
from identity.synthetic.people import Household, PersonFactory, jr_birth_window
from identity.synthetic.places import phone

OLDEST_BIRTH = date(1925, 1, 1)
# Some sons are born on their father's birthday; over-represented here (about 1 in 365 in life) as
# the hardest Jr/Sr to tell from a mistyped birth year, which is often one digit away.
SAME_BIRTHDAY_RATE = 0.05

Relative = tuple[Person, CoverageInfo | None]


def _opposite(sex: Sex, factory: PersonFactory) -> Sex:
    if sex == "male":
        return "female"
    if sex == "female":
        return "male"
    return factory.sex()


def _card(
    factory: PersonFactory, household: Household, relationship: Relationship, rate: float = 0.6
) -> CoverageInfo | None:
    """The household's card (same subscriber id) if the person presents it."""
    if factory.rng.random() >= rate:
        return None
    return CoverageInfo(
        household.subscriber_id, relationship, household.start, None, household.payor
    )


def foreign_card(factory: PersonFactory, rate: float = 0.3) -> CoverageInfo | None:
    """Another payer's card, or none."""
    if factory.rng.random() >= rate:
        return None
    return CoverageInfo(factory.ids.subscriber_id(), "self", AS_OF, None, "Other Payer Health Plan")


def _children(household: Household) -> list[SyntheticMember]:
    return [m for m in household.members if m.coverage.relationship == "child"]


def has_children(household: Household) -> bool:
    return bool(_children(household))


def father_candidate(household: Household) -> SyntheticMember | None:
    """An enrolled adult man without a suffix: someone whose Jr or Sr could exist."""
    for m in household.members:
        p = m.person
        if (
            p.sex == "male"
            and p.suffix is None
            and m.coverage.relationship in ("self", "spouse")
            and age_on(p.birth_date) >= 18
        ):
            return m
    return None


def names_and_forms(household: Household) -> set[str]:
    """The household's given names and their direct nicknames and diminutives (upper case,
    unaccented): parents do not name one child Elizabeth and another Beth, nor Andrew and Drew.
    Names that merely share a nickname (Robert and William, both Bill) stay allowed."""
    names = household.given_names()
    forms = set(names)
    for name in names:
        forms |= {f.upper() for f in nicknames_of(name)}
        forms |= {f.upper() for f in diminutives_of(name)}
        forms |= {f.upper() for f in formal_names_of(name)}
    return forms


def twin(factory: PersonFactory, household: Household) -> Relative:
    rng = factory.rng
    children = _children(household)
    sibling = children[rng.randrange(len(children))].person
    sex = sibling.sex if rng.random() < 0.5 else factory.sex()
    given = factory.given(sex, household.hispanic, names_and_forms(household))
    person = Person(
        given=given,
        middle=factory.middle(sex, household.hispanic, given),
        family=sibling.family,
        suffix=None,
        birth_family=sibling.birth_family,
        previous_family=None,
        birth_date=sibling.birth_date,
        sex=sex,
        ssn=factory.ssn(),
        phone=sibling.phone,
        email=factory.email(given, sibling.family, sibling.birth_date),
        address=sibling.address,
    )
    return person, _card(factory, household, "child")


def household_relative(factory: PersonFactory, household: Household) -> Relative:
    """A spouse who was never enrolled, a brother or sister of the enrolled children, or (when
    neither fits) a brother or sister of the subscriber living with them."""
    rng = factory.rng
    sub = household.members[0].person
    sub_age = age_on(sub.birth_date)
    has_spouse = any(m.coverage.relationship == "spouse" for m in household.members)
    avoid = names_and_forms(household)
    child_window = (
        max(years_after(sub.birth_date, 18), years_before(AS_OF, 27) + timedelta(days=1)),
        min(years_after(sub.birth_date, 45), AS_OF),
    )
    can_spouse = not has_spouse and sub_age >= 19
    can_child = child_window[0] <= child_window[1]
    sex = factory.sex()
    relationship: Relationship
    if can_spouse and (not can_child or rng.random() < 0.5):
        relationship = "spouse"
        sex = _opposite(sub.sex, factory)
        born = factory.born_at_age(max(18, sub_age + round(rng.gauss(0, 4))))
        own = factory.family(household.hispanic, household.accents)
        family = sub.family if rng.random() < 0.75 else own
    elif can_child:
        relationship = "child"
        children = _children(household)
        family = own = children[0].person.family if children else sub.family
        taken = [m.person.birth_date for m in household.members]
        born = factory.born_between(*child_window)
        for _ in range(10):
            if all(abs((born - t).days) > 300 for t in taken):
                break
            born = factory.born_between(*child_window)
    else:
        relationship = "other"
        family = own = sub.birth_family
        born = factory.born_at_age(max(18, sub_age + rng.choice((-1, 1)) * rng.randint(1, 10)))
    given = factory.given(sex, household.hispanic, avoid)
    person = Person(
        given=given,
        middle=factory.middle(sex, household.hispanic, given),
        family=family,
        suffix=None,
        birth_family=own,
        previous_family=None,
        birth_date=born,
        sex=sex,
        ssn=factory.ssn(),
        phone=household.phone if rng.random() < 0.7 else phone(rng, household.address.state),
        email=factory.email(given, family, born),
        address=household.address,
    )
    return person, _card(factory, household, relationship)


def jr_or_sr(
    factory: PersonFactory, household: Household
) -> tuple[Person, CoverageInfo | None, str]:
    """The namesake son (Jr) of an enrolled man, or his namesake father (Sr); returns which."""
    rng = factory.rng
    member = father_candidate(household)
    if member is None:
        raise ValueError("the household has no man who could be a Jr's father or a Sr's son")
    man = member.person
    jr_window = jr_birth_window(man.birth_date)
    sr_window = (
        max(years_before(man.birth_date, 45), OLDEST_BIRTH),
        years_before(man.birth_date, 18),
    )
    can_jr, can_sr = jr_window[0] <= jr_window[1], sr_window[0] <= sr_window[1]
    make_jr = can_jr and (not can_sr or rng.random() < 0.5)
    window = jr_window if make_jr else sr_window
    born = factory.born_between(*window)
    if rng.random() < SAME_BIRTHDAY_RATE:
        born = same_birthday(man.birth_date, window, rng) or born
    if make_jr:
        u = rng.random()
        suffix = "Jr" if u < 0.7 else "II" if u < 0.8 else None
        at_home = rng.random() < (0.7 if age_on(born) <= 26 else 0.2)
        relationship: Relationship = "child"
    else:
        suffix = "Sr" if rng.random() < 0.6 else None
        at_home = rng.random() < 0.3
        relationship = "parent"
    if at_home:
        address, tel = household.address, household.phone
    else:
        address = factory.places.address(rng, state=household.address.state)
        tel = phone(rng, address.state)
    middle = (
        man.middle if rng.random() < 0.6 else factory.middle("male", household.hispanic, man.given)
    )
    person = Person(
        given=man.given,
        middle=middle,
        family=man.family,
        suffix=suffix,
        birth_family=man.birth_family,
        previous_family=None,
        birth_date=born,
        sex="male",
        ssn=factory.ssn(),
        phone=tel,
        email=factory.email(man.given, man.family, born),
        address=address,
    )
    return person, _card(factory, household, relationship), "jr" if make_jr else "sr"


def same_birthday(born: date, window: tuple[date, date], rng: random.Random) -> date | None:
    """The same month and day in a year of `window`; half the time a year one digit away from
    `born`'s (1952 and 1982), when the window has one."""
    years = []
    for year in range(window[0].year, window[1].year + 1):
        try:
            day = born.replace(year=year)
        except ValueError:  # 29 February
            continue
        if window[0] <= day <= window[1]:
            years.append(day)
    if not years:
        return None
    one_digit = [d for d in years if _digits_apart(d.year, born.year) == 1]
    pool = one_digit if one_digit and rng.random() < 0.5 else years
    return pool[rng.randrange(len(pool))]


def _digits_apart(a: int, b: int) -> int:
    return sum(x != y for x, y in zip(str(a), str(b), strict=True))


def namesake(factory: PersonFactory, member: SyntheticMember) -> Relative:
    """Same given and family name (often the same birth year), a different person elsewhere."""
    rng = factory.rng
    them = member.person
    born = them.birth_date
    for _ in range(10):
        if rng.random() < 0.6:
            born = factory.born_between(
                date(them.birth_date.year, 1, 1), date(them.birth_date.year, 12, 31)
            )
        else:
            born = years_after(them.birth_date, rng.choice((-1, 1)) * rng.randint(1, 12))
            born = factory.born_between(born, born + timedelta(days=200))
        if born != them.birth_date and born <= AS_OF:
            break
    if born == them.birth_date:
        born = them.birth_date - timedelta(days=1)
    state = them.address.state
    if rng.random() < 0.7:
        for _ in range(5):
            state = factory.places.state(rng)
            if state != them.address.state:
                break
    address = factory.places.address(rng, state=state)
    hispanic = any(ord(c) > 127 for c in them.family + them.given)
    person = Person(
        given=them.given,
        middle=factory.middle(them.sex, hispanic, them.given),
        family=them.family,
        suffix=None,
        birth_family=them.family,
        previous_family=None,
        birth_date=born,
        sex=them.sex,
        ssn=factory.ssn(),
        phone=phone(rng, address.state),
        email=factory.email(them.given, them.family, born),
        address=address,
    )
    return person, foreign_card(factory)


def is_common_name(factory: PersonFactory, member: SyntheticMember) -> bool:
    return fold_accents(member.person.family) in factory.names.common_families
