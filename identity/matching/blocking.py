"""Blocking keys: the indexed values under which a member can be found as a candidate.

Each key maps a standardised record to zero or more strings "<key>:<value>". The same function
serves the member index (at load time) and the query (at request time), so a pair is a candidate
exactly when the two records share one of the policy's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from identity.matching.record import StandardRecord
from identity.matching.standardize import phonetic

KeyFunction = Callable[[StandardRecord], Iterable[str]]


def _family_phonetics(r: StandardRecord) -> set[str]:
    """Phonetic codes of the family name, its compound parts and earlier family names."""
    names = {r.family, *r.family_parts, *r.earlier_families} - {None}
    return {code for name in names if (code := phonetic(name))}


def _given_phonetics(r: StandardRecord) -> set[str]:
    """Phonetic codes of the given name and of the names it is a nickname of (Bill -> William)."""
    names = {r.given, *r.given_canonicals} - {None}
    return {code for name in names if (code := phonetic(name))}


def _member_id(r: StandardRecord) -> Iterable[str]:
    return [r.member_id] if r.member_id else []


def _subscriber_id(r: StandardRecord) -> Iterable[str]:
    return r.subscriber_ids


def _ssn(r: StandardRecord) -> Iterable[str]:
    return [r.ssn] if r.ssn else []


def _dob_family_phonetic(r: StandardRecord) -> Iterable[str]:
    if r.birth_date is None:
        return []
    return [f"{r.birth_date.isoformat()}|{code}" for code in _family_phonetics(r)]


def _dob_given_phonetic(r: StandardRecord) -> Iterable[str]:
    if r.birth_date is None:
        return []
    return [f"{r.birth_date.isoformat()}|{code}" for code in _given_phonetics(r)]


def _zip_family_phonetic(r: StandardRecord) -> Iterable[str]:
    if r.zip5 is None:
        return []
    return [f"{r.zip5}|{code}" for code in _family_phonetics(r)]


def _name_phonetic(r: StandardRecord) -> Iterable[str]:
    """Given and family name sound-alike codes together: finds a person whose birth date and
    address are both wrong or missing (a rare name pair is a small block; a common one is
    dropped by the policy's max_block_size)."""
    given, family = r.given_phonetic, r.family_phonetic
    return [f"{given}|{family}"] if given and family else []


def _zip_given_phonetic(r: StandardRecord) -> Iterable[str]:
    """ZIP with the given name's sound: finds a married name change with a wrong birth date."""
    return [f"{r.zip5}|{r.given_phonetic}"] if r.zip5 and r.given_phonetic else []


def _dob_zip(r: StandardRecord) -> Iterable[str]:
    """Birth date with ZIP: finds a person whose names are both misspelled beyond sound-alike."""
    return [f"{r.birth_date.isoformat()}|{r.zip5}"] if r.birth_date and r.zip5 else []


def _dob_initials(r: StandardRecord) -> Iterable[str]:
    """Birth date with both initials (either order): typos rarely touch a first letter, and a
    swapped given/family name keeps the same pair."""
    if not (r.birth_date and r.given and r.family):
        return []
    pair = "".join(sorted((r.given[0], r.family[0])))
    return [f"{r.birth_date.isoformat()}|{pair}"]


def _phone(r: StandardRecord) -> Iterable[str]:
    return r.phones


def _email(r: StandardRecord) -> Iterable[str]:
    return [r.email] if r.email else []


# Bump when a key is added or changes meaning: members are re-indexed on their next load.
INDEX_VERSION = 2

BLOCKING_KEYS: dict[str, KeyFunction] = {
    "member_id": _member_id,
    "subscriber_id": _subscriber_id,
    "ssn": _ssn,
    "dob_family_phonetic": _dob_family_phonetic,
    "dob_given_phonetic": _dob_given_phonetic,
    "zip_family_phonetic": _zip_family_phonetic,
    "zip_given_phonetic": _zip_given_phonetic,
    "name_phonetic": _name_phonetic,
    "dob_zip": _dob_zip,
    "dob_initials": _dob_initials,
    "phone": _phone,
    "email": _email,
}


def blocking_keys(record: StandardRecord, key_names: Iterable[str]) -> list[str]:
    """Every "<key>:<value>" string of the record under the named keys, sorted and unique."""
    out: set[str] = set()
    for name in key_names:
        for value in BLOCKING_KEYS[name](record):
            out.add(f"{name}:{value}"[:200])
    return sorted(out)
