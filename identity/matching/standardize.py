"""RawDemographics -> StandardRecord: the one place where source spellings become comparable.

Everything here is pure and total: any string input yields a value or None, never an exception,
because it runs on every member at load time and on every request. Name and address rules live in
`standardize_names` and `standardize_address`; their public helpers are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import phonenumbers

from identity.matching.record import RawAddress, RawDemographics, StandardRecord
from identity.matching.standardize_address import AddressParts, standardize_address
from identity.matching.standardize_names import (
    clean_name,
    nickname_canonicals,
    phonetic,
    standardize_names,
    to_ascii_upper,
)

__all__ = [
    "AddressParts",
    "clean_name",
    "nickname_canonicals",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
    "normalize_sex",
    "normalize_ssn",
    "parse_birth_date",
    "phonetic",
    "standardize",
    "standardize_address",
]

_MAX_PHONE_LEN = 64  # far above any formatted number; keeps phonenumbers off huge strings
_MAX_EMAIL_LEN = 254  # RFC 5321 path limit

_SSN = re.compile(r"([0-9]{3})[-. ]?([0-9]{2})[-. ]?([0-9]{4})")
# Numbers printed on sample cards and in advertising, used by many people who are not the owner.
_FAKE_SSNS = frozenset({"123456789", "078051120", "219099999"})

_IDENTIFIER_SEPARATORS = re.compile(r"[\s\-./\\]+")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EARLIEST_BIRTH = date(1900, 1, 1)

_SEX: dict[str, str] = {"male": "M", "m": "M", "female": "F", "f": "F", "other": "O"}

_NO_ADDRESS: AddressParts = (None, None, None, None, None)


def normalize_phone(s: str | None) -> str | None:
    """E.164 form (+16175550100) so every formatting of a number compares equal; invalid -> None."""
    if not s or len(s) > _MAX_PHONE_LEN:
        return None
    try:
        number = phonenumbers.parse(s, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_email(s: str | None) -> str | None:
    """Lower-case, stripped (the one non-upper field); anything not user@host.tld -> None."""
    if not s:
        return None
    text = s.strip().lower()
    text = text.removeprefix("mailto:")
    if not text.isascii() or len(text) > _MAX_EMAIL_LEN or text.count("@") != 1:
        return None
    if len(text.split()) != 1:  # inner whitespace
        return None
    local, domain = text.split("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(labels):
        return None
    return text


def normalize_ssn(s: str | None) -> str | None:
    """Nine digits, or None for numbers the SSA never issues or that are known to be shared."""
    if not s:
        return None
    match = _SSN.fullmatch(s.strip())
    if match is None:
        return None
    area, group, serial = match.groups()
    digits = area + group + serial
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    if len(set(digits)) == 1 or digits in _FAKE_SSNS:
        return None
    return digits


def normalize_identifier(s: str | None) -> str | None:
    """Member/subscriber id without case or separators, which cards and files print differently."""
    if not s:
        return None
    return _IDENTIFIER_SEPARATORS.sub("", to_ascii_upper(s)) or None


def parse_birth_date(s: str | None, today: date | None = None) -> date | None:
    """A full ISO date that could be a living member's birth date; partial or impossible -> None."""
    if not s:
        return None
    text = s.strip()
    if _ISO_DATE.fullmatch(text) is None:
        return None
    try:
        born = date.fromisoformat(text)
    except ValueError:
        return None
    if born < _EARLIEST_BIRTH or born > (today or date.today()):
        return None
    return born


def normalize_sex(gender: str | None) -> str | None:
    """FHIR administrative gender (or M/F) as M/F/O; unknown carries no evidence, so None."""
    if not gender:
        return None
    return _SEX.get(gender.strip().lower())


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """Non-empty values, first occurrence kept, input order kept."""
    return tuple(dict.fromkeys(v for v in values if v))


def _primary_address(addresses: tuple[RawAddress, ...]) -> RawAddress | None:
    """The home address, else the first: where the member is most likely to be found."""
    for address in addresses:
        if (address.use or "").strip().lower() == "home":
            return address
    return addresses[0] if addresses else None


def standardize(raw: RawDemographics, *, today: date | None = None) -> StandardRecord:
    """Clean, comparable demographics from what a source gave; never raises on string input."""
    names = standardize_names(raw.names)
    phones = _unique(normalize_phone(p) for p in raw.phones)
    emails = _unique(normalize_email(e) for e in raw.emails)
    address = _primary_address(raw.addresses)
    address_line, unit, city, state, zip5 = (
        standardize_address(address) if address is not None else _NO_ADDRESS
    )
    return StandardRecord(
        given=names.given,
        middle=names.middle,
        family=names.family,
        family_parts=names.family_parts,
        earlier_families=names.earlier_families,
        suffix=names.suffix,
        given_canonicals=nickname_canonicals(names.given),
        given_phonetic=phonetic(names.given),
        family_phonetic=phonetic(names.family),
        birth_date=parse_birth_date(raw.birth_date, today),
        sex=normalize_sex(raw.gender),
        phone=phones[0] if phones else None,
        phones=phones,
        email=emails[0] if emails else None,
        address_line=address_line,
        unit=unit,
        city=city,
        state=state,
        zip5=zip5,
        ssn=normalize_ssn(raw.ssn),
        member_id=normalize_identifier(raw.member_id),
        subscriber_ids=_unique(normalize_identifier(s) for s in raw.subscriber_ids),
    )
