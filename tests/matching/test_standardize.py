"""How raw demographics become comparable values. Each table reads: input -> what we store."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.standardize import (
    clean_name,
    nickname_canonicals,
    normalize_email,
    normalize_identifier,
    normalize_phone,
    normalize_sex,
    normalize_ssn,
    parse_birth_date,
    phonetic,
    standardize,
    standardize_address,
)

TODAY = date(2025, 6, 15)


def std(*names: RawName, **fields: Any) -> StandardRecord:
    """Standardise a record built from the given names and other RawDemographics fields."""
    raw = RawDemographics(names=names, **fields)
    return standardize(raw, today=TODAY)


# --------------------------------------------------------------------------------------------
# Cleaning a single name
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("José", "JOSE", id="accent folded"),
        pytest.param("Núñez", "NUNEZ", id="tilde folded"),
        pytest.param("Müller", "MULLER", id="umlaut folded"),
        pytest.param("Straße", "STRASSE", id="sharp s spelled out"),
        pytest.param("Søren", "SOREN", id="slashed o folded"),
        pytest.param("O'Brien", "OBRIEN", id="apostrophe removed"),
        pytest.param("St. John", "ST JOHN", id="period removed"),
        pytest.param("Smith-Jones", "SMITH-JONES", id="hyphen kept"),
        pytest.param("Smith - Jones", "SMITH-JONES", id="spaced hyphen closed up"),
        pytest.param("  mary   ann  ", "MARY ANN", id="whitespace collapsed"),
        pytest.param("Smith,Jr", "SMITH JR", id="comma separates words"),
        pytest.param("Anne\tMarie\n", "ANNE MARIE", id="tabs and newlines are spaces"),
        pytest.param("", None, id="empty is None"),
        pytest.param("   ", None, id="blank is None"),
        pytest.param("---", None, id="only hyphens is None"),
        pytest.param("😀", None, id="only emoji is None"),
        pytest.param("Ana😀", "ANA", id="emoji dropped"),
        pytest.param(None, None, id="None is None"),
    ],
)
def test_clean_name(raw: str | None, expected: str | None) -> None:
    assert clean_name(raw) == expected


# --------------------------------------------------------------------------------------------
# Given, middle, family, suffix of the primary name
# --------------------------------------------------------------------------------------------

NAME_CASES = [
    # (RawName, given, middle, family, family_parts, suffix)
    pytest.param(
        RawName(given=("José",), family="Núñez"), "JOSE", None, "NUNEZ", (), None, id="accents"
    ),
    pytest.param(
        RawName(given=("John", "Michael", "Paul"), family="Smith"),
        "JOHN",
        "MICHAEL PAUL",
        "SMITH",
        (),
        None,
        id="middle names joined",
    ),
    pytest.param(
        RawName(given=("Mary Ann",), family="Lee"),
        "MARY",
        "ANN",
        "LEE",
        (),
        None,
        id="two given words in one entry",
    ),
    pytest.param(
        RawName(given=("Anna",), family="Smith-Jones"),
        "ANNA",
        None,
        "SMITH JONES",
        ("SMITH", "JONES"),
        None,
        id="hyphenated family",
    ),
    pytest.param(
        RawName(given=("María",), family="García López"),
        "MARIA",
        None,
        "GARCIA LOPEZ",
        ("GARCIA", "LOPEZ"),
        None,
        id="compound Hispanic family",
    ),
    pytest.param(
        RawName(given=("Juan",), family="de la Cruz"),
        "JUAN",
        None,
        "DE LA CRUZ",
        ("CRUZ",),
        None,
        id="particles kept in family but not parts",
    ),
    pytest.param(
        RawName(given=("Ludwig",), family="van Beethoven"),
        "LUDWIG",
        None,
        "VAN BEETHOVEN",
        ("BEETHOVEN",),
        None,
        id="van particle",
    ),
    pytest.param(
        RawName(given=("Ann",), family="Smith J"),
        "ANN",
        None,
        "SMITH J",
        ("SMITH",),
        None,
        id="one-letter part is not a part",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith", suffix=("Jr.",)),
        "TOM",
        None,
        "SMITH",
        (),
        "JR",
        id="suffix from suffix list",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith Jr"),
        "TOM",
        None,
        "SMITH",
        (),
        "JR",
        id="suffix at end of family",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith, III"),
        "TOM",
        None,
        "SMITH",
        (),
        "III",
        id="III after comma in family",
    ),
    pytest.param(
        RawName(given=("Tom", "Sr"), family="Smith"),
        "TOM",
        None,
        "SMITH",
        (),
        "SR",
        id="suffix at end of given",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith", suffix=("Junior",)),
        "TOM",
        None,
        "SMITH",
        (),
        "JR",
        id="JUNIOR becomes JR",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith Senior"),
        "TOM",
        None,
        "SMITH",
        (),
        "SR",
        id="SENIOR becomes SR",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith", suffix=("2nd",)),
        "TOM",
        None,
        "SMITH",
        (),
        "II",
        id="2ND becomes II",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith 3rd"),
        "TOM",
        None,
        "SMITH",
        (),
        "III",
        id="3RD becomes III",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith IV"),
        "TOM",
        None,
        "SMITH",
        (),
        "IV",
        id="IV at end of family",
    ),
    pytest.param(
        RawName(given=("Tom",), family="Smith", suffix=("MD", "PhD")),
        "TOM",
        None,
        "SMITH",
        (),
        None,
        id="academic suffixes ignored",
    ),
    pytest.param(
        RawName(given=("John", "V"), family="Smith"),
        "JOHN",
        "V",
        "SMITH",
        (),
        None,
        id="trailing V on given is a middle initial",
    ),
    pytest.param(
        RawName(given=("Jr",), family="Jr"),
        "JR",
        None,
        "JR",
        (),
        None,
        id="suffix never takes the whole name",
    ),
    pytest.param(
        RawName(given=("Dr", "Jane"), family="Doe", prefix=("Dr.",)),
        "JANE",
        None,
        "DOE",
        (),
        None,
        id="title in given dropped",
    ),
    pytest.param(
        RawName(given=("Mrs. Jane",), family="Doe"),
        "JANE",
        None,
        "DOE",
        (),
        None,
        id="title inside given entry dropped",
    ),
    pytest.param(
        RawName(given=("Mr", "Ms", "Sam"), family="Doe"),
        "SAM",
        None,
        "DOE",
        (),
        None,
        id="several titles dropped",
    ),
    pytest.param(RawName(given=(), family="Doe"), None, None, "DOE", (), None, id="no given name"),
    pytest.param(
        RawName(given=("Cher",), family=None), "CHER", None, None, (), None, id="no family name"
    ),
]


@pytest.mark.parametrize(
    ("name", "given", "middle", "family", "family_parts", "suffix"), NAME_CASES
)
def test_name_parts(
    name: RawName,
    given: str | None,
    middle: str | None,
    family: str | None,
    family_parts: tuple[str, ...],
    suffix: str | None,
) -> None:
    r = std(name)
    assert (r.given, r.middle, r.family, r.family_parts, r.suffix) == (
        given,
        middle,
        family,
        family_parts,
        suffix,
    )


@pytest.mark.parametrize(
    ("names", "family"),
    [
        pytest.param(
            (RawName(family="Old", use="old"), RawName(family="Usual", use="usual")),
            "USUAL",
            id="usual beats old",
        ),
        pytest.param(
            (RawName(family="Usual", use="usual"), RawName(family="Official", use="official")),
            "OFFICIAL",
            id="official beats usual",
        ),
        pytest.param(
            (RawName(family="Maiden", use="maiden"), RawName(family="Nick", use="nickname")),
            "NICK",
            id="any current name beats maiden",
        ),
        pytest.param(
            (RawName(family="First"), RawName(family="Second")),
            "FIRST",
            id="no uses: the first",
        ),
        pytest.param(
            (RawName(family="Maiden", use="maiden"), RawName(family="Old", use="OLD")),
            "MAIDEN",
            id="only earlier names: the first",
        ),
        pytest.param((), None, id="no names at all"),
    ],
)
def test_primary_name_choice(names: tuple[RawName, ...], family: str | None) -> None:
    assert std(*names).family == family


@pytest.mark.parametrize(
    ("names", "earlier"),
    [
        pytest.param(
            (
                RawName(given=("Jane",), family="Smith", use="official"),
                RawName(given=("Jane",), family="Brown", use="maiden"),
            ),
            ("BROWN",),
            id="maiden name",
        ),
        pytest.param(
            (
                RawName(family="Smith", use="official"),
                RawName(family="Jones", use="nickname"),
                RawName(family="Brown", use="maiden"),
                RawName(family="Green", use="old"),
            ),
            ("BROWN", "GREEN", "JONES"),
            id="old and maiden first, then others",
        ),
        pytest.param(
            (
                RawName(family="Smith", use="official"),
                RawName(family="SMITH", use="usual"),
                RawName(family="Brown", use="old"),
                RawName(family="Brown", use="maiden"),
            ),
            ("BROWN",),
            id="same as current or repeated is left out",
        ),
        pytest.param(
            (RawName(family="Smith", use="official"), RawName(family="Brown-Lee Jr", use="old")),
            ("BROWN LEE",),
            id="earlier family cleaned like the current one",
        ),
        pytest.param((RawName(family="Smith"),), (), id="only one name"),
    ],
)
def test_earlier_families(names: tuple[RawName, ...], earlier: tuple[str, ...]) -> None:
    assert std(*names).earlier_families == earlier


# --------------------------------------------------------------------------------------------
# Nicknames and phonetics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Bill", "William", id="Bill~William"),
        pytest.param("Peggy", "Margaret", id="Peggy~Margaret"),
        pytest.param("Bob", "Robert", id="Bob~Robert"),
        pytest.param("bob", "BOBBY", id="case does not matter"),
        pytest.param("Liz", "Elizabeth", id="Liz~Elizabeth"),
    ],
)
def test_nicknames_share_a_canonical(a: str, b: str) -> None:
    assert nickname_canonicals(a) & nickname_canonicals(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Bill", "Margaret", id="Bill vs Margaret"),
        pytest.param("Peggy", "Robert", id="Peggy vs Robert"),
        pytest.param("Xyzzy", "John", id="unknown name vs John"),
    ],
)
def test_unrelated_names_share_no_canonical(a: str, b: str) -> None:
    assert not nickname_canonicals(a) & nickname_canonicals(b)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("Xyzzy", frozenset({"XYZZY"}), id="unknown name is its own canonical"),
        pytest.param("", frozenset(), id="empty has none"),
        pytest.param(None, frozenset(), id="None has none"),
    ],
)
def test_nickname_canonicals_edges(given: str | None, expected: frozenset[str]) -> None:
    assert nickname_canonicals(given) == expected


def test_nickname_canonicals_are_upper_and_include_the_name() -> None:
    forms = nickname_canonicals("Bill")
    assert "BILL" in forms
    assert "WILLIAM" in forms
    assert all(f == f.upper() for f in forms)


def test_record_carries_given_canonicals() -> None:
    r = std(RawName(given=("Peggy",), family="Lee"))
    assert "MARGARET" in r.given_canonicals
    assert "PEGGY" in r.given_canonicals
    assert std(RawName(family="Lee")).given_canonicals == frozenset()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Smith", "Smitt", id="Smith~Smitt"),
        pytest.param("Schmitt", "Smith", id="Schmitt~Smith"),
        pytest.param("Johnson", "Jonson", id="Johnson~Jonson"),
        pytest.param("Stephen", "Steven", id="Stephen~Steven"),
        pytest.param("Kathryn", "Cathryn", id="Kathryn~Cathryn"),
        pytest.param("MacDonald", "McDonald", id="MacDonald~McDonald"),
        pytest.param("Núñez", "Nunez", id="accents do not matter"),
        pytest.param("Smith-Jones", "Smith Jones", id="hyphen or space does not matter"),
        pytest.param("Van Dyke", "Vandyke", id="split or joined particle"),
    ],
)
def test_phonetic_equal(a: str, b: str) -> None:
    assert phonetic(a) is not None
    assert phonetic(a) == phonetic(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Smith", "Jones", id="Smith vs Jones"),
        pytest.param("Johnson", "Johnston", id="Johnson vs Johnston"),
    ],
)
def test_phonetic_different(a: str, b: str) -> None:
    assert phonetic(a) != phonetic(b)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Smith", "SNAT", id="NYSIIS code"),
        pytest.param("Williamsonson", "WALANSANSAN", id="not truncated to 6"),
        pytest.param("", None, id="empty"),
        pytest.param("-", None, id="only punctuation"),
        pytest.param("123", None, id="only digits"),
        pytest.param(None, None, id="None"),
    ],
)
def test_phonetic_values(raw: str | None, expected: str | None) -> None:
    assert phonetic(raw) == expected


def test_record_phonetics() -> None:
    r = std(RawName(given=("Stephen",), family="Smith-Jones"))
    assert r.given_phonetic == phonetic("Steven")
    assert r.family_phonetic == phonetic("SMITHJONES")


# --------------------------------------------------------------------------------------------
# Phones, e-mails
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("(617) 253-1000", "+16172531000", id="parentheses and dash"),
        pytest.param("617-253-1000", "+16172531000", id="dashes"),
        pytest.param("617.253.1000", "+16172531000", id="dots"),
        pytest.param("6172531000", "+16172531000", id="bare ten digits"),
        pytest.param("1 617 253 1000", "+16172531000", id="leading 1"),
        pytest.param("+1-617-253-1000", "+16172531000", id="already international"),
        pytest.param("tel:+1-617-253-1000", "+16172531000", id="tel URI"),
        pytest.param("617-253-1000 x123", "+16172531000", id="extension dropped"),
        pytest.param("+44 20 7946 0958", "+442079460958", id="valid foreign number kept"),
        pytest.param("(555) 123-4567", None, id="invalid area code 555"),
        pytest.param("253-1000", None, id="seven digits"),
        pytest.param("123", None, id="too short"),
        pytest.param("not a phone", None, id="words"),
        pytest.param("", None, id="empty"),
        pytest.param("6" * 5000, None, id="5000 digits"),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


def test_record_phones_deduplicated_in_order() -> None:
    r = std(phones=("bad", "(212) 555-0199", "617-253-1000", "212.555.0199"))
    assert r.phones == ("+12125550199", "+16172531000")
    assert r.phone == "+12125550199"


def test_record_without_valid_phone() -> None:
    r = std(phones=("bad", ""))
    assert (r.phone, r.phones) == (None, ())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Jane.Doe@Example.COM", "jane.doe@example.com", id="lower-cased"),
        pytest.param("  jane@example.org \n", "jane@example.org", id="stripped"),
        pytest.param("mailto:jane@example.org", "jane@example.org", id="mailto prefix"),
        pytest.param("jane.example.org", None, id="no at sign"),
        pytest.param("jane@@example.org", None, id="two at signs"),
        pytest.param("a@b@example.org", None, id="two at signs apart"),
        pytest.param("jane@localhost", None, id="no dot in domain"),
        pytest.param("jane@example.", None, id="empty last label"),
        pytest.param("@example.org", None, id="no local part"),
        pytest.param("ja ne@example.org", None, id="inner space"),
        pytest.param("josé@example.org", None, id="non-ASCII"),
        pytest.param("", None, id="empty"),
    ],
)
def test_normalize_email(raw: str, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_record_email_is_first_valid() -> None:
    r = std(emails=("nope", "B@Example.com", "c@example.com"))
    assert r.email == "b@example.com"


# --------------------------------------------------------------------------------------------
# SSN and plan identifiers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("123-45-6780", "123456780", id="with dashes"),
        pytest.param("123456780", "123456780", id="bare digits"),
        pytest.param("123 45 6780", "123456780", id="with spaces"),
        pytest.param(" 123-45-6780 ", "123456780", id="surrounding blanks"),
        pytest.param("000-12-3456", None, id="area 000"),
        pytest.param("666-12-3456", None, id="area 666"),
        pytest.param("900-12-3456", None, id="area 900"),
        pytest.param("999-12-3456", None, id="area 999"),
        pytest.param("123-00-4567", None, id="group 00"),
        pytest.param("123-45-0000", None, id="serial 0000"),
        pytest.param("111-11-1111", None, id="all ones"),
        pytest.param("555555555", None, id="all fives"),
        pytest.param("123-45-6789", None, id="123456789"),
        pytest.param("078-05-1120", None, id="Woolworth wallet card"),
        pytest.param("12345678", None, id="eight digits"),
        pytest.param("1234567801", None, id="ten digits"),
        pytest.param("***-**-6780", None, id="masked"),
        pytest.param("SSN 123-45-6780", None, id="text around"),
        pytest.param("", None, id="empty"),
    ],
)
def test_normalize_ssn(raw: str, expected: str | None) -> None:
    assert normalize_ssn(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("abc-123.456/7", "ABC1234567", id="separators removed, upper-cased"),
        pytest.param(" W 1234 5678 ", "W12345678", id="spaces removed"),
        pytest.param("00012", "00012", id="leading zeros kept"),
        pytest.param(" - . / ", None, id="only separators"),
        pytest.param("", None, id="empty"),
    ],
)
def test_normalize_identifier(raw: str, expected: str | None) -> None:
    assert normalize_identifier(raw) == expected


def test_record_identifiers() -> None:
    r = std(member_id="m-001", subscriber_ids=("s-1", "S1", "", "s 2"))
    assert r.member_id == "M001"
    assert r.subscriber_ids == ("S1", "S2")


# --------------------------------------------------------------------------------------------
# Birth date and sex
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1980-05-01", date(1980, 5, 1), id="full ISO date"),
        pytest.param(" 1980-05-01 ", date(1980, 5, 1), id="surrounding blanks"),
        pytest.param("1900-01-01", date(1900, 1, 1), id="earliest allowed"),
        pytest.param("2025-06-15", TODAY, id="born today"),
        pytest.param("2025-06-16", None, id="tomorrow"),
        pytest.param("2090-01-01", None, id="far future"),
        pytest.param("1899-12-31", None, id="before 1900"),
        pytest.param("1980-05", None, id="year and month only"),
        pytest.param("1980", None, id="year only"),
        pytest.param("1980-02-30", None, id="no such day"),
        pytest.param("05/01/1980", None, id="US format"),
        pytest.param("1980-05-01T00:00:00", None, id="date-time"),
        pytest.param("１９８０-05-01", None, id="full-width digits"),
        pytest.param("garbage", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="None"),
    ],
)
def test_parse_birth_date(raw: str | None, expected: date | None) -> None:
    assert parse_birth_date(raw, TODAY) == expected


def test_record_birth_date_uses_today() -> None:
    raw = RawDemographics(birth_date="2025-06-16")
    assert standardize(raw, today=date(2025, 6, 15)).birth_date is None
    assert standardize(raw, today=date(2025, 6, 16)).birth_date == date(2025, 6, 16)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("male", "M", id="male"),
        pytest.param("female", "F", id="female"),
        pytest.param("other", "O", id="other"),
        pytest.param("unknown", None, id="unknown"),
        pytest.param("Male", "M", id="capitalised"),
        pytest.param("m", "M", id="m"),
        pytest.param("F", "F", id="F"),
        pytest.param(" f ", "F", id="blank-padded"),
        pytest.param("x", None, id="unrecognised letter"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="None"),
    ],
)
def test_normalize_sex(raw: str | None, expected: str | None) -> None:
    assert normalize_sex(raw) == expected


# --------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------

ADDRESS_CASES = [
    # (RawAddress, (address_line, unit, city, state, zip5))
    pytest.param(
        RawAddress(("123 Main Street",), "Springfield", "IL", "62701"),
        ("123 MAIN ST", None, "SPRINGFIELD", "IL", "62701"),
        id="street",
    ),
    pytest.param(
        RawAddress(("45 Elm Avenue",)),
        ("45 ELM AVE", None, None, None, None),
        id="avenue",
    ),
    pytest.param(
        RawAddress(("9 Oak Boulevard",)), ("9 OAK BLVD", None, None, None, None), id="boulevard"
    ),
    pytest.param(
        RawAddress(("9 Lake Shore Drive",)),
        ("9 LK SHORE DR", None, None, None, None),
        id="drive (every street word abbreviated)",
    ),
    pytest.param(
        RawAddress(("12 Cherry Lane",)), ("12 CHERRY LN", None, None, None, None), id="lane"
    ),
    pytest.param(
        RawAddress(("7 Garden Court",)), ("7 GARDEN CT", None, None, None, None), id="court"
    ),
    pytest.param(
        RawAddress(("100 Ocean Parkway",)),
        ("100 OCEAN PKWY", None, None, None, None),
        id="parkway",
    ),
    pytest.param(
        RawAddress(("1 Hill Terrace",)), ("1 HILL TER", None, None, None, None), id="terrace"
    ),
    pytest.param(
        RawAddress(("5 Pine Circle",)), ("5 PINE CIR", None, None, None, None), id="circle"
    ),
    pytest.param(
        RawAddress(("1 Old Highway 9",)), ("1 OLD HWY 9", None, None, None, None), id="highway"
    ),
    pytest.param(RawAddress(("3 Long Trail",)), ("3 LONG TRL", None, None, None, None), id="trail"),
    pytest.param(
        RawAddress(("3 Town Square",)), ("3 TOWN SQ", None, None, None, None), id="square"
    ),
    pytest.param(RawAddress(("3 Abbey Road",)), ("3 ABBEY RD", None, None, None, None), id="road"),
    pytest.param(
        RawAddress(("123 North Main St.",)),
        ("123 N MAIN ST", None, None, None, None),
        id="pre-directional",
    ),
    pytest.param(
        RawAddress(("1600 Pennsylvania Avenue Northwest",)),
        ("1600 PENNSYLVANIA AVE NW", None, None, None, None),
        id="post-directional",
    ),
    pytest.param(
        RawAddress(("10 S.W. 8th Street",)),
        ("10 SW 8TH ST", None, None, None, None),
        id="dotted directional",
    ),
    pytest.param(
        RawAddress(("200 First Avenue",)),
        ("200 1ST AVE", None, None, None, None),
        id="spelled-out ordinal",
    ),
    pytest.param(
        RawAddress(("123 Main St Apt 4B",)),
        ("123 MAIN ST", "APT 4B", None, None, None),
        id="unit on line 1",
    ),
    pytest.param(
        RawAddress(("123 Main St, Apartment 4B",)),
        ("123 MAIN ST", "APT 4B", None, None, None),
        id="apartment spelled out",
    ),
    pytest.param(
        RawAddress(("123 Main St", "Apt. 4B")),
        ("123 MAIN ST", "APT 4B", None, None, None),
        id="unit on line 2",
    ),
    pytest.param(
        RawAddress(("123 Main St #4B",)),
        ("123 MAIN ST", "# 4B", None, None, None),
        id="hash unit",
    ),
    pytest.param(
        RawAddress(("123 Main St Apt #4B",)),
        ("123 MAIN ST", "APT 4B", None, None, None),
        id="apt and hash",
    ),
    pytest.param(
        RawAddress(("500 Market Street", "Suite 200")),
        ("500 MARKET ST", "STE 200", None, None, None),
        id="suite",
    ),
    pytest.param(
        RawAddress(("1 Plaza Way Bldg 5 Floor 3",)),
        ("1 PLZ WAY", "BLDG 5 FL 3", None, None, None),
        id="building and floor",
    ),
    pytest.param(
        RawAddress(("P.O. Box 123",)),
        ("PO BOX 123", None, None, None, None),
        id="PO box",
    ),
    pytest.param(
        RawAddress(city="Washington", state="District of Columbia"),
        (None, None, "WASHINGTON", "DC", None),
        id="full state name",
    ),
    pytest.param(
        RawAddress(state="new york"), (None, None, None, "NY", None), id="state name any case"
    ),
    pytest.param(RawAddress(state=" ca "), (None, None, None, "CA", None), id="state code"),
    pytest.param(RawAddress(state="Narnia"), (None, None, None, None, None), id="unknown state"),
    pytest.param(RawAddress(city="St. Louis"), (None, None, "SAINT LOUIS", None, None), id="St."),
    pytest.param(
        RawAddress(postal_code="62701-1234"), (None, None, None, None, "62701"), id="ZIP+4"
    ),
    pytest.param(
        RawAddress(postal_code="627011234"), (None, None, None, None, "62701"), id="ZIP+4 no dash"
    ),
    pytest.param(
        RawAddress(postal_code="02134"), (None, None, None, None, "02134"), id="leading zero kept"
    ),
    pytest.param(RawAddress(postal_code="2134"), (None, None, None, None, None), id="4-digit ZIP"),
    pytest.param(
        RawAddress(postal_code="K1A 0B6"), (None, None, None, None, None), id="Canadian postcode"
    ),
    pytest.param(RawAddress(), (None, None, None, None, None), id="empty address"),
]


@pytest.mark.parametrize(("address", "expected"), ADDRESS_CASES)
def test_standardize_address(address: RawAddress, expected: tuple[str | None, ...]) -> None:
    assert standardize_address(address) == expected


def test_two_spellings_of_one_address_agree() -> None:
    a = RawAddress(("123 North Main Street, Apt. 4B",), "Springfield", "Illinois", "62701-0001")
    b = RawAddress(("123 N MAIN ST", "APT 4B"), "SPRINGFIELD", "IL", "62701")
    assert standardize_address(a) == standardize_address(b)


def test_record_uses_home_address() -> None:
    r = std(
        addresses=(
            RawAddress(("1 Work Rd",), use="work"),
            RawAddress(("2 Home Ln",), "Austin", "Texas", "78701", use="home"),
        )
    )
    assert (r.address_line, r.city, r.state, r.zip5) == ("2 HOME LN", "AUSTIN", "TX", "78701")


def test_record_uses_first_address_without_home() -> None:
    r = std(addresses=(RawAddress(("1 Work Rd",), use="work"), RawAddress(("2 Other St",))))
    assert r.address_line == "1 WORK RD"


# --------------------------------------------------------------------------------------------
# Whole records and pathological input
# --------------------------------------------------------------------------------------------


def test_full_record() -> None:
    r = std(
        RawName(given=("José", "María"), family="Núñez-García", suffix=("Jr.",), use="official"),
        RawName(given=("José",), family="García", use="maiden"),
        birth_date="1980-05-01",
        gender="male",
        phones=("(617) 253-1000",),
        emails=("Jose@Example.com",),
        addresses=(RawAddress(("10 Elm Street", "Unit 3"), "Boston", "MA", "02115-1234"),),
        ssn="123-45-6780",
        member_id="abc-123",
        subscriber_ids=("abc-100",),
    )
    assert r == StandardRecord(
        given="JOSE",
        middle="MARIA",
        family="NUNEZ GARCIA",
        family_parts=("NUNEZ", "GARCIA"),
        earlier_families=("GARCIA",),
        suffix="JR",
        given_canonicals=nickname_canonicals("JOSE"),
        given_phonetic=phonetic("JOSE"),
        family_phonetic=phonetic("NUNEZGARCIA"),
        birth_date=date(1980, 5, 1),
        sex="M",
        phone="+16172531000",
        phones=("+16172531000",),
        email="jose@example.com",
        address_line="10 ELM ST",
        unit="UNIT 3",
        city="BOSTON",
        state="MA",
        zip5="02115",
        ssn="123456780",
        member_id="ABC123",
        subscriber_ids=("ABC100",),
    )


def test_empty_record_is_all_missing() -> None:
    assert standardize(RawDemographics(), today=TODAY) == StandardRecord()


def test_ten_kilobyte_name() -> None:
    r = std(RawName(given=("A" * 10_000,), family="B" * 10_000))
    assert r.given == "A" * 10_000
    assert r.family == "B" * 10_000
    assert r.given_canonicals == frozenset({"A" * 10_000})
    assert r.family_phonetic is not None


def test_five_hundred_given_names() -> None:
    r = std(RawName(given=tuple(f"Name{i}" for i in range(500)), family="Doe"))
    assert r.given == "NAME0"
    assert r.middle is not None
    assert len(r.middle.split()) == 499


def test_ten_kilobyte_address_and_fields() -> None:
    big = "x" * 10_000
    r = std(
        addresses=(RawAddress((big, big), big, big, big),),
        phones=(big,),
        emails=(big,),
        ssn=big,
        member_id=big,
        birth_date=big,
        gender=big,
    )
    assert r.address_line == " ".join([big.upper()] * 2)
    assert (r.city, r.state, r.zip5, r.phone, r.email, r.ssn, r.sex, r.birth_date) == (
        big.upper(),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )


WEIRD_STRINGS = ["", " ", "\t\n", "😀🎉", "\x00\x01", "Ω≈ç√", "-#-/.,", "٣٤٥", "ǅ", "ﬁ", "\u200b"]


@pytest.mark.parametrize("text", WEIRD_STRINGS, ids=lambda s: repr(s))
def test_weird_strings_everywhere(text: str) -> None:
    r = std(
        RawName(given=(text, text), family=text, suffix=(text,), prefix=(text,), use=text),
        birth_date=text,
        gender=text,
        phones=(text,),
        emails=(text,),
        addresses=(RawAddress((text, text), text, text, text, text),),
        ssn=text,
        member_id=text,
        subscriber_ids=(text,),
    )
    assert r.birth_date is None
    assert r.phone is None
    assert r.ssn is None


def _upper_ascii_fields(r: StandardRecord) -> list[str]:
    values = [
        r.given,
        r.middle,
        r.family,
        r.suffix,
        r.given_phonetic,
        r.family_phonetic,
        r.sex,
        r.phone,
        r.address_line,
        r.unit,
        r.city,
        r.state,
        r.zip5,
        r.ssn,
        r.member_id,
        *r.family_parts,
        *r.earlier_families,
        *r.given_canonicals,
        *r.phones,
        *r.subscriber_ids,
    ]
    return [v for v in values if v is not None]


def test_random_input_gives_upper_ascii_strings() -> None:
    rng = random.Random(20250615)
    alphabet = "aZ éñüß-'.,#/ 0123456789\t😀Ωﬁ"

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))

    for _ in range(300):
        r = std(
            RawName(given=(text(), text()), family=text(), suffix=(text(),), use=text()),
            RawName(given=(text(),), family=text(), use="maiden"),
            birth_date=text(),
            gender=text(),
            phones=(text(),),
            emails=(text(),),
            addresses=(RawAddress((text(), text()), text(), text(), text()),),
            ssn=text(),
            member_id=text(),
            subscriber_ids=(text(),),
        )
        for value in _upper_ascii_fields(r):
            assert value, "empty strings must be None"
            assert value.isascii()
            assert value == value.upper()
        if r.email is not None:
            assert r.email == r.email.lower()
