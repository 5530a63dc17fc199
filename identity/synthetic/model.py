"""The synthetic population's value types: a person, their address, their coverage, a member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Sex = Literal["male", "female", "unknown"]
Relationship = Literal["self", "spouse", "child", "parent", "other"]

# Everything is computed against this date, never today's: same seed, same bytes, any day.
AS_OF = date(2025, 7, 1)


def age_on(born: date, when: date = AS_OF) -> int:
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def years_before(when: date, years: int) -> date:
    """`when` moved back by whole years (29 February becomes 28 February)."""
    try:
        return when.replace(year=when.year - years)
    except ValueError:
        return when.replace(year=when.year - years, day=28)


def years_after(when: date, years: int) -> date:
    return years_before(when, -years)


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    line2: str | None
    city: str
    state: str
    zip: str


@dataclass(frozen=True, slots=True)
class Person:
    """Demographics of one human being, enrolled or not.

    `birth_family` is the family name the person was born with (ground truth); `previous_family`
    is what the payer has on record as an earlier (maiden) name, which is only sometimes known.
    """

    given: str
    middle: str | None
    family: str
    suffix: str | None
    birth_family: str
    previous_family: str | None
    birth_date: date
    sex: Sex
    ssn: str | None  # nine digits, no dashes
    phone: str | None  # E.164, +1NXXNXXXXXX
    email: str | None
    address: Address


@dataclass(frozen=True, slots=True)
class CoverageInfo:
    subscriber_id: str
    relationship: Relationship
    start: date
    end: date | None
    payor: str


@dataclass(frozen=True, slots=True)
class SyntheticMember:
    """One row of the member master: a person enrolled under a member id.

    `duplicate_of` names the member id this row is a second enrolment of (None for originals);
    `household_id` groups the rows generated as one household (duplicates keep their original's).
    """

    member_id: str
    person: Person
    coverage: CoverageInfo
    household_id: int
    duplicate_of: str | None = None
