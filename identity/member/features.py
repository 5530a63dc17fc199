"""A member's comparison features in one compact column: the standardised record matching
compares, as one JSON array beside the columns it is made from.

Candidate retrieval reads this one column with the blocking keys (one indexed read per request)
instead of twenty columns; decoding a short array costs a fraction of rebuilding a record from
a row. It is a function of the record alone (`repository.record_columns` writes it with the
columns), so nothing but a change of the record can make it stale. The layout is fixed and
versioned (the first element): `decode` answers None for a layout it does not know, and the
caller reads the columns instead of misreading. Pure: no database here.
"""

from __future__ import annotations

from datetime import date

import orjson

from identity.matching.record import StandardRecord

VERSION = 1


def encode(record: StandardRecord) -> str:
    """The column's value for a member's standardised record (its member id is the row's)."""
    birth = record.birth_date
    return orjson.dumps(
        [
            VERSION,
            record.given,
            record.middle,
            record.family,
            record.suffix,
            record.given_phonetic,
            record.family_phonetic,
            None if birth is None else birth.isoformat(),
            record.sex,
            record.phone,
            record.email,
            record.address_line,
            record.unit,
            record.city,
            record.state,
            record.zip5,
            record.ssn,
            list(record.family_parts),
            list(record.earlier_families),
            list(record.phones),
            list(record.subscriber_ids),
            sorted(record.given_canonicals),
        ]
    ).decode()


def decode(text: str, member_id: str) -> StandardRecord | None:
    """The record (its `member_id` the row's), or None for a layout this code does not know."""
    v = orjson.loads(text)
    if not v or v[0] != VERSION:
        return None
    birth = v[7]
    # Positional, in the dataclass's field order (a keyword call costs a third more here); the
    # round-trip test fails should that order change.
    return StandardRecord(
        v[1],  # given
        v[2],  # middle
        v[3],  # family
        tuple(v[17]),  # family_parts
        tuple(v[18]),  # earlier_families
        v[4],  # suffix
        frozenset(v[21]),  # given_canonicals
        v[5],  # given_phonetic
        v[6],  # family_phonetic
        None if birth is None else date.fromisoformat(birth),
        v[8],  # sex
        v[9],  # phone
        tuple(v[19]),  # phones
        v[10],  # email
        v[11],  # address_line
        v[12],  # unit
        v[13],  # city
        v[14],  # state
        v[15],  # zip5
        v[16],  # ssn
        member_id,
        tuple(v[20]),  # subscriber_ids
    )
