"""The columns both renderings of a comparison read, and a candidate set batched by column.

`frame_row` is what splink sees (one row per record); `Batch` is what the service's vectorised
level tests see (the candidate set column by column). Both derive every value from the same
accessors, so the two renderings read the same values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from operator import attrgetter
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Hamming, JaroWinkler

from identity.matching.record import StandardRecord

# The columns -----------------------------------------------------------


@functools.lru_cache(maxsize=65_536)  # every birth date since 1900 fits; isoformat is slow-ish
def _iso(day: date) -> str:
    return day.isoformat()


def iso_birth_date(record: StandardRecord) -> str | None:
    return None if record.birth_date is None else _iso(record.birth_date)


TEXT_COLUMNS: dict[str, Callable[[StandardRecord], str | None]] = {
    "given": attrgetter("given"),
    "given_phonetic": attrgetter("given_phonetic"),
    "family": attrgetter("family"),
    "family_phonetic": attrgetter("family_phonetic"),
    "birth_date": iso_birth_date,
    "sex": attrgetter("sex"),
    "address_line": attrgetter("address_line"),
    "zip5": attrgetter("zip5"),
    "email": attrgetter("email"),
    "ssn": attrgetter("ssn"),
    "member_id": attrgetter("member_id"),
}
LIST_COLUMNS: dict[str, Callable[[StandardRecord], Collection[str]]] = {
    "given_canonicals": attrgetter("given_canonicals"),
    "family_parts": attrgetter("family_parts"),
    "earlier_families": attrgetter("earlier_families"),
    "phones": attrgetter("phones"),
    "subscriber_ids": attrgetter("subscriber_ids"),
}


def frame_row(record: StandardRecord) -> dict[str, str | list[str] | None]:
    """The record as splink sees it: text or None, lists of non-empty strings (sorted)."""
    row: dict[str, str | list[str] | None] = {
        name: get(record) or None for name, get in TEXT_COLUMNS.items()
    }
    for name, get_items in LIST_COLUMNS.items():
        row[name] = sorted({v for v in get_items(record) if v})
    return row


class Batch:
    """One query against its candidates; each column is pulled out once and shared by levels."""

    __slots__ = ("_measures", "_sets", "_texts", "candidates", "query", "size")

    def __init__(self, query: StandardRecord, candidates: Sequence[StandardRecord]) -> None:
        self.query = query
        self.candidates = candidates
        self.size = len(candidates)
        self._texts: dict[str, tuple[str | None, list[str | None]]] = {}
        self._sets: dict[str, tuple[frozenset[str], list[Collection[str]]]] = {}
        self._measures: dict[tuple[str, str], list[Any]] = {}

    def text(self, column: str) -> tuple[str | None, list[str | None]]:
        found = self._texts.get(column)
        if found is None:
            get = TEXT_COLUMNS[column]
            found = (get(self.query) or None, [get(c) or None for c in self.candidates])
            self._texts[column] = found
        return found

    def items(self, column: str) -> tuple[frozenset[str], list[Collection[str]]]:
        """The query's values as a set without empty strings, each candidate's as stored: the
        tests only ask whether the query's set meets them, where an empty string cannot."""
        found = self._sets.get(column)
        if found is None:
            get = LIST_COLUMNS[column]
            found = (_item_set(get(self.query)), list(map(get, self.candidates)))
            self._sets[column] = found
        return found

    def hamming(self, column: str) -> list[int]:
        """Positions where the query and each candidate differ (rapidfuzz pads the shorter, so
        only equal lengths mean a plain count), in one vectorised call."""
        return [int(v) for v in self._measure(column, "hamming", Hamming.distance, np.int32)]

    def jaro_winkler(self, column: str) -> list[float]:
        """Similarity of the query to every candidate, in one vectorised rapidfuzz call."""
        return self._measure(column, "jw", JaroWinkler.similarity, np.float64)

    def _measure(self, column: str, name: str, scorer: Any, dtype: Any) -> list[Any]:
        """The query against all candidates, cached per column; a missing query value gives
        zeros (the null level is decided before any level test)."""
        key = (name, column)
        found = self._measures.get(key)
        if found is None:
            q, cs = self.text(column)
            found = [0] * self.size if q is None else measure(scorer, dtype, q, cs)
            self._measures[key] = found
        return found


# rapidfuzz's `cdist` costs some 15 µs a call before it compares anything, and a pair about
# 0.6 µs: below this many candidates one call per pair is cheaper. Both run the same C++ scorer.
CDIST_FROM = 24


def measure(scorer: Any, dtype: Any, query: str, candidates: Sequence[str | None]) -> list[Any]:
    """`scorer(query, candidate)` for every candidate (a missing one as ""), one vectorised
    `cdist` for a large set."""
    texts = [c or "" for c in candidates]
    if len(texts) < CDIST_FROM:
        return [scorer(query, t) for t in texts]
    found: list[Any] = process.cdist([query], texts, scorer=scorer, dtype=dtype)[0].tolist()
    return found


def _item_set(values: Iterable[str]) -> frozenset[str]:
    items = frozenset(values)
    return items - {""} if "" in items else items
