"""The two shapes a person's demographics take inside the matching core.

`RawDemographics` is what an adapter (FHIR Patient + Coverage, a CSV row) extracts, untouched.
`StandardRecord` is what `standardize.standardize()` makes of it: clean, comparable fields. Both are
frozen so that the pure core can pass them around and cache on them without defensive copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class RawName:
    """One FHIR HumanName as given: `use` is the FHIR code (official, usual, old, maiden, ...)."""

    given: tuple[str, ...] = ()
    family: str | None = None
    suffix: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    use: str | None = None


@dataclass(frozen=True, slots=True)
class RawAddress:
    lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    use: str | None = None


@dataclass(frozen=True, slots=True)
class RawDemographics:
    """Demographics exactly as a source gave them (strings, no cleaning)."""

    names: tuple[RawName, ...] = ()
    birth_date: str | None = None
    gender: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    addresses: tuple[RawAddress, ...] = ()
    ssn: str | None = None
    member_id: str | None = None
    subscriber_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StandardRecord:
    """Clean, comparable demographics. Every string is upper-case ASCII; missing is `None`/empty.

    `given`/`family` are the primary (official or first) name. `family_parts` splits compound and
    hyphenated family names ("GARCIA LOPEZ" -> ("GARCIA", "LOPEZ")). `earlier_families` holds
    family names from names with use old/maiden and from any other, non-primary name.
    `given_canonicals` is the set of canonical forms the given name is a nickname of, plus itself,
    so two given names are nickname-equivalent when these sets intersect.
    """

    given: str | None = None
    middle: str | None = None
    family: str | None = None
    family_parts: tuple[str, ...] = ()
    earlier_families: tuple[str, ...] = ()
    suffix: str | None = None
    given_canonicals: frozenset[str] = field(default_factory=frozenset)
    given_phonetic: str | None = None
    family_phonetic: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    phone: str | None = None
    phones: tuple[str, ...] = ()
    email: str | None = None
    address_line: str | None = None
    unit: str | None = None
    city: str | None = None
    state: str | None = None
    zip5: str | None = None
    ssn: str | None = None
    member_id: str | None = None
    subscriber_ids: tuple[str, ...] = ()


def record_as_dict(record: StandardRecord) -> dict[str, Any]:
    """JSON-ready form (dates as ISO strings, sets sorted) for evidence and storage.

    Spelled out field by field, in declaration order (the stored key order): it runs for the
    query and every candidate of every request, and walking `fields()` with type checks cost
    several times as much. tests/matching/test_record.py holds it equal to that walk."""
    r = record
    birth_date = r.birth_date
    return {
        "given": r.given,
        "middle": r.middle,
        "family": r.family,
        "family_parts": list(r.family_parts),
        "earlier_families": list(r.earlier_families),
        "suffix": r.suffix,
        "given_canonicals": sorted(r.given_canonicals),
        "given_phonetic": r.given_phonetic,
        "family_phonetic": r.family_phonetic,
        "birth_date": None if birth_date is None else birth_date.isoformat(),
        "sex": r.sex,
        "phone": r.phone,
        "phones": list(r.phones),
        "email": r.email,
        "address_line": r.address_line,
        "unit": r.unit,
        "city": r.city,
        "state": r.state,
        "zip5": r.zip5,
        "ssn": r.ssn,
        "member_id": r.member_id,
        "subscriber_ids": list(r.subscriber_ids),
    }


def with_given_canonicals(r: StandardRecord, given_canonicals: frozenset[str]) -> StandardRecord:
    """`replace(r, given_canonicals=...)` without its walk over the fields: a policy's given-name
    equivalences widen the query and most candidates of every request this way."""
    return StandardRecord(
        r.given,
        r.middle,
        r.family,
        r.family_parts,
        r.earlier_families,
        r.suffix,
        given_canonicals,
        r.given_phonetic,
        r.family_phonetic,
        r.birth_date,
        r.sex,
        r.phone,
        r.phones,
        r.email,
        r.address_line,
        r.unit,
        r.city,
        r.state,
        r.zip5,
        r.ssn,
        r.member_id,
        r.subscriber_ids,
    )


_TUPLE_FIELDS = frozenset({"family_parts", "earlier_families", "phones", "subscriber_ids"})


def record_from_dict(data: dict[str, Any]) -> StandardRecord:
    """Inverse of `record_as_dict`: rebuilds a stored record to replay a decision."""
    values: dict[str, Any] = {}
    for f in fields(StandardRecord):
        value = data.get(f.name)
        if f.name == "birth_date" and isinstance(value, str):
            value = date.fromisoformat(value)
        elif f.name == "given_canonicals":
            value = frozenset(value or ())
        elif f.name in _TUPLE_FIELDS:
            value = tuple(value or ())
        values[f.name] = value
    return StandardRecord(**values)
