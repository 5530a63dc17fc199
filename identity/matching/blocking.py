"""Blocking keys: the indexed values under which a member can be found as a candidate.

Each key maps a standardised record to zero or more strings "<key>:<value>". The same function
serves the member index (at load time) and the query (at request time), so a pair is a candidate
exactly when the two records share one of the policy's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

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


def _dob_given_initial(r: StandardRecord) -> Iterable[str]:
    """Birth date with the given name's first letter (and its canonical forms' first letters,
    Bill -> W): finds a new family name together with a typo'd given name, which leaves
    `dob_initials` and the sound-alike keys nothing in common (typos rarely touch a first
    letter; a married name changes the family initial)."""
    if r.birth_date is None:
        return []
    initials = {name[0] for name in (r.given, *r.given_canonicals) if name}
    return [f"{r.birth_date.isoformat()}|{initial}" for initial in sorted(initials)]


def partial_birth_dates(born: date) -> tuple[str, ...]:
    """The birth date with one part left out, so a date keyed with one error keeps one form:
    a day digit (year and month kept), a month digit (year and day kept), the year's last digit
    (its first three kept), another digit of the year, 1972 as 1992 (its last digit kept), the
    year's last two digits swapped, 1972 as 1927 (kept as an unordered pair). Month and day go
    in either order into the year forms, so day and month swapped keep those. Each form alone
    is far less selective than the date, so these keys are always paired with a name's sound;
    narrow forms (rather than, say, the century with month and day) keep the candidates a
    request finds few."""
    year = f"{born.year:04d}"
    month, day = f"{born.month:02d}", f"{born.day:02d}"
    either = "".join(sorted((month, day)))
    return (
        f"{year}-{month}-",
        f"{year}--{day}",
        f"{year[:3]}_|{either}",
        f"___{year[3]}|{either}",
        f"{year[:2]}{''.join(sorted(year[2:]))}~|{month}{day}",
    )


def _given_partial_dob(r: StandardRecord) -> Iterable[str]:
    """The given name's sound with each partial birth date: finds a new or mistyped family name
    together with a birth date keyed wrong (no full-date key and no family key is left)."""
    if r.birth_date is None or r.given_phonetic is None:
        return []
    return [f"{form}|{r.given_phonetic}" for form in partial_birth_dates(r.birth_date)]


def _family_partial_dob(r: StandardRecord) -> Iterable[str]:
    """The family name's sound and the given name's first letter with each partial birth date:
    finds a typo'd given name (or a diminutive the tables lack) together with a birth date keyed
    wrong. The initial survives both (people rarely mistype a first letter; Suzy, Barb and
    Maddie keep it, Bob's full name gives R) and keeps a common family name's block small:
    without it, SMITH with a birth year and month was a block of dozens, every one scored."""
    if r.birth_date is None or r.family_phonetic is None or not r.given:
        return []
    # The initials of the name and of the names it is a form of: Bob finds Robert.
    initials = sorted({name[0] for name in (r.given, *r.given_canonicals) if name})
    forms = partial_birth_dates(r.birth_date)
    return [f"{form}|{r.family_phonetic}|{i}" for form in forms for i in initials]


def _phone(r: StandardRecord) -> Iterable[str]:
    return r.phones


def _email(r: StandardRecord) -> Iterable[str]:
    return [r.email] if r.email else []


# Bump when a key is added or changes meaning: members are re-indexed on their next load.
# 3: partial birth dates with a name's sound, the birth date with the given initial; the
# given-name equivalences widened by diminutives change `dob_given_phonetic` values.
INDEX_VERSION = 4

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
    "dob_given_initial": _dob_given_initial,
    "given_partial_dob": _given_partial_dob,
    "family_partial_dob": _family_partial_dob,
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
