"""A request's input fingerprint is computed once and reused for the same record: the reuse
must never hand one record's fingerprint to another, across calls or threads."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import orjson

from identity.matching.record import StandardRecord, record_as_dict
from identity.resolution.service import fingerprint


def _direct(record: StandardRecord) -> str:
    """The definition, computed afresh: sha256 of the record's sorted-key JSON."""
    return hashlib.sha256(
        orjson.dumps(record_as_dict(record), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _record(i: int) -> StandardRecord:
    return StandardRecord(
        given=f"GIVEN{i}",
        family="SYNTHETIC",
        birth_date=date(1980, 1, 1 + i % 28),
        given_canonicals=frozenset({f"GIVEN{i}", "ALIAS"}),
        phones=(f"555010{i % 10}",),
    )


def test_each_record_gets_its_own_fingerprint_when_calls_alternate() -> None:
    records = [_record(i) for i in range(6)]
    for _ in range(3):
        for record in records + records[::-1]:
            assert fingerprint(record) == _direct(record)
    assert len({fingerprint(r) for r in records}) == len(records)


def test_an_equal_record_built_anew_has_the_same_fingerprint() -> None:
    first = _record(3)
    assert fingerprint(first) == fingerprint(_record(3)) == _direct(first)
    assert fingerprint(first) != fingerprint(_record(4))


def test_threads_asking_at_once_each_get_their_records_fingerprint() -> None:
    records = [_record(i) for i in range(40)]
    expected = [_direct(r) for r in records]

    def ask(offset: int) -> list[bool]:
        out = []
        for n in range(2000):
            i = (offset + n) % len(records)
            out.append(fingerprint(records[i]) == expected[i])
            out.append(fingerprint(records[i]) == expected[i])  # the request's second ask
        return out

    with ThreadPoolExecutor(8) as pool:
        answers = [ok for chunk in pool.map(ask, range(8)) for ok in chunk]
    assert len(answers) == 8 * 4000
    assert all(answers)
