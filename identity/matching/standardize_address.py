"""US postal addresses: USPS Publication 28 style street lines, units, city, state and ZIP.

The goal is convergence, not mail delivery: "123 North Main Street, Apt. 4B" and
"123 N MAIN ST #4B" must yield the same street line, so every street-type word and directional is
abbreviated wherever it appears, and the unit is split off into its own field.
"""

from __future__ import annotations

import re

from identity.matching.record import RawAddress
from identity.matching.standardize_names import to_ascii_upper

AddressParts = tuple[str | None, str | None, str | None, str | None, str | None]
"""(address_line, unit, city, state, zip5)"""

# USPS Publication 28, Appendix C1: street suffixes (common spellings -> standard abbreviation).
STREET_SUFFIXES: dict[str, str] = {
    "ALLEY": "ALY",
    "ANNEX": "ANX",
    "ARCADE": "ARC",
    "AVENUE": "AVE",
    "AV": "AVE",
    "AVEN": "AVE",
    "AVENU": "AVE",
    "AVN": "AVE",
    "BAYOU": "BYU",
    "BEACH": "BCH",
    "BEND": "BND",
    "BLUFF": "BLF",
    "BOULEVARD": "BLVD",
    "BOUL": "BLVD",
    "BOULV": "BLVD",
    "BRANCH": "BR",
    "BRIDGE": "BRG",
    "BROOK": "BRK",
    "BYPASS": "BYP",
    "CANYON": "CYN",
    "CAUSEWAY": "CSWY",
    "CENTER": "CTR",
    "CENTRE": "CTR",
    "CIRCLE": "CIR",
    "CIRC": "CIR",
    "CLIFF": "CLF",
    "COMMON": "CMN",
    "CORNER": "COR",
    "COURSE": "CRSE",
    "COURT": "CT",
    "CRT": "CT",
    "COVE": "CV",
    "CREEK": "CRK",
    "CRESCENT": "CRES",
    "CROSSING": "XING",
    "DRIVE": "DR",
    "DRV": "DR",
    "ESTATES": "ESTS",
    "EXPRESSWAY": "EXPY",
    "EXTENSION": "EXT",
    "FREEWAY": "FWY",
    "GARDENS": "GDNS",
    "GATEWAY": "GTWY",
    "GLEN": "GLN",
    "GREEN": "GRN",
    "GROVE": "GRV",
    "HARBOR": "HBR",
    "HEIGHTS": "HTS",
    "HIGHWAY": "HWY",
    "HWAY": "HWY",
    "HOLLOW": "HOLW",
    "ISLAND": "IS",
    "JUNCTION": "JCT",
    "KNOLL": "KNL",
    "LAKE": "LK",
    "LANDING": "LNDG",
    "LANE": "LN",
    "MANOR": "MNR",
    "MEADOWS": "MDWS",
    "MOUNT": "MT",
    "MOUNTAIN": "MTN",
    "ORCHARD": "ORCH",
    "PARKWAY": "PKWY",
    "PKY": "PKWY",
    "PLACE": "PL",
    "PLAZA": "PLZ",
    "POINT": "PT",
    "RIDGE": "RDG",
    "RIVER": "RIV",
    "ROAD": "RD",
    "ROUTE": "RTE",
    "SQUARE": "SQ",
    "STATION": "STA",
    "STREET": "ST",
    "STR": "ST",
    "STRT": "ST",
    "SUMMIT": "SMT",
    "TERRACE": "TER",
    "TERR": "TER",
    "TRACE": "TRCE",
    "TRAIL": "TRL",
    "TURNPIKE": "TPKE",
    "VALLEY": "VLY",
    "VIEW": "VW",
    "VILLAGE": "VLG",
    "VISTA": "VIS",
}
DIRECTIONALS: dict[str, str] = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
}
# Spelled-out ordinals, so "First Ave" and "1st Ave" agree.
ORDINALS: dict[str, str] = {
    "FIRST": "1ST",
    "SECOND": "2ND",
    "THIRD": "3RD",
    "FOURTH": "4TH",
    "FIFTH": "5TH",
    "SIXTH": "6TH",
    "SEVENTH": "7TH",
    "EIGHTH": "8TH",
    "NINTH": "9TH",
    "TENTH": "10TH",
}
_STREET_WORDS: dict[str, str] = {**STREET_SUFFIXES, **DIRECTIONALS, **ORDINALS, "SAINT": "ST"}

# Secondary unit designators (Publication 28, Appendix C2) -> standard form.
UNIT_DESIGNATORS: dict[str, str] = {
    "APT": "APT",
    "APARTMENT": "APT",
    "UNIT": "UNIT",
    "STE": "STE",
    "SUITE": "STE",
    "#": "#",
    "BLDG": "BLDG",
    "BUILDING": "BLDG",
    "FL": "FL",
    "FLOOR": "FL",
    "RM": "RM",
    "ROOM": "RM",
}

STATE_NAMES: dict[str, str] = {
    "ALABAMA": "AL",
    "ALASKA": "AK",
    "ARIZONA": "AZ",
    "ARKANSAS": "AR",
    "CALIFORNIA": "CA",
    "COLORADO": "CO",
    "CONNECTICUT": "CT",
    "DELAWARE": "DE",
    "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL",
    "GEORGIA": "GA",
    "HAWAII": "HI",
    "IDAHO": "ID",
    "ILLINOIS": "IL",
    "INDIANA": "IN",
    "IOWA": "IA",
    "KANSAS": "KS",
    "KENTUCKY": "KY",
    "LOUISIANA": "LA",
    "MAINE": "ME",
    "MARYLAND": "MD",
    "MASSACHUSETTS": "MA",
    "MICHIGAN": "MI",
    "MINNESOTA": "MN",
    "MISSISSIPPI": "MS",
    "MISSOURI": "MO",
    "MONTANA": "MT",
    "NEBRASKA": "NE",
    "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH",
    "NEW JERSEY": "NJ",
    "NEW MEXICO": "NM",
    "NEW YORK": "NY",
    "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND",
    "OHIO": "OH",
    "OKLAHOMA": "OK",
    "OREGON": "OR",
    "PENNSYLVANIA": "PA",
    "RHODE ISLAND": "RI",
    "SOUTH CAROLINA": "SC",
    "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN",
    "TEXAS": "TX",
    "UTAH": "UT",
    "VERMONT": "VT",
    "VIRGINIA": "VA",
    "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV",
    "WISCONSIN": "WI",
    "WYOMING": "WY",
    "AMERICAN SAMOA": "AS",
    "GUAM": "GU",
    "NORTHERN MARIANA ISLANDS": "MP",
    "PUERTO RICO": "PR",
    "US VIRGIN ISLANDS": "VI",
    "VIRGIN ISLANDS": "VI",
}
# The codes above plus the military "states" (Armed Forces Americas, Europe, Pacific).
STATE_CODES = frozenset(STATE_NAMES.values()) | {"AA", "AE", "AP"}

# City spellings: USPS prefers the long form of these leading words ("SAINT LOUIS").
_CITY_LEADING: dict[str, str] = {"ST": "SAINT", "STE": "SAINTE", "FT": "FORT", "MT": "MOUNT"}

_DROPPED = re.compile(r"['’`\".]+")  # removed without a trace: "O'Neil" -> ONEIL, "N.E." -> NE
_SEPARATORS = re.compile(r"[^A-Z0-9#/\- ]+")  # any other punctuation separates words
_PO_BOX = re.compile(r"\b(?:P ?O|POST OFFICE) ?BOX\b")
_ZIP = re.compile(r"([0-9]{5})(?:[- ]?[0-9]{4})?")


def _plain_words(s: str) -> str:
    """Upper ASCII with periods/apostrophes dropped and other punctuation turned into spaces."""
    text = _DROPPED.sub("", to_ascii_upper(s))
    return " ".join(_SEPARATORS.sub(" ", text).split())


def _tokens(line: str) -> list[str]:
    """The words of one address line; "#" is its own word so "#4B" and "# 4B" agree."""
    text = _PO_BOX.sub("PO BOX", _plain_words(line.replace("#", " # ")))
    return [t for t in (w.strip("-/") for w in text.split()) if t]


def _split_unit(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Separate "APT 4B"-style designator + value pairs from the street words."""
    street: list[str] = []
    unit: list[str] = []
    i = 0
    while i < len(tokens):
        designator = UNIT_DESIGNATORS.get(tokens[i])
        if designator is not None:
            j = i + 1
            if j < len(tokens) and tokens[j] == "#":  # "APT # 4B"
                j += 1
            if j < len(tokens):
                unit += [designator, tokens[j].replace("-", "")]
                i = j + 1
                continue
            if designator == "#":  # a dangling "#" means nothing
                break
        street.append(tokens[i])
        i += 1
    return street, unit


def _city(city: str | None) -> str | None:
    """City words in upper ASCII, with St/Ft/Mt spelled out as USPS does."""
    if not city:
        return None
    words = _plain_words(city).replace("-", " ").split()
    if not words:
        return None
    words[0] = _CITY_LEADING.get(words[0], words[0])
    return " ".join(words)


def _state(state: str | None) -> str | None:
    """Two-letter USPS code from a code or a full name; unknown -> None."""
    if not state:
        return None
    text = _plain_words(state)
    if text in STATE_CODES:
        return text
    return STATE_NAMES.get(text)


def _zip5(postal_code: str | None) -> str | None:
    """The five-digit ZIP of a ZIP or ZIP+4; anything else (foreign, truncated) -> None."""
    if not postal_code:
        return None
    match = _ZIP.fullmatch(postal_code.strip())
    if match is None or match.group(1) == "00000":
        return None
    return match.group(1)


def standardize_address(address: RawAddress) -> AddressParts:
    """(address_line, unit, city, state, zip5) in USPS style so two spellings compare equal."""
    street: list[str] = []
    unit: list[str] = []
    for line in address.lines:
        if not line:
            continue
        line_street, line_unit = _split_unit(_tokens(line))
        street += line_street
        unit += line_unit
    address_line = " ".join(_STREET_WORDS.get(w, w) for w in street) or None
    return (
        address_line,
        " ".join(unit) or None,
        _city(address.city),
        _state(address.state),
        _zip5(address.postal_code),
    )
