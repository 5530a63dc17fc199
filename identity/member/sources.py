"""Reading a member master: FHIR R4 NDJSON (Patient + Coverage) and CSV, line by line.

Each reader yields `SourceRecord`s or `SourceError`s with the line number, streaming, so a file of a
million members never sits in memory. The NDJSON reader makes two passes: the first collects the
(small) Coverage facts by beneficiary, so a Coverage may stand before or after its Patient.

CSV columns (header required, any order, extra columns ignored; empty means missing):
  member_id (required), given, middle, family, suffix, previous_family, birth_date (YYYY-MM-DD),
  sex (male/female/other/unknown), ssn, phone, email, address_line1, address_line2, city, state,
  zip, subscriber_id, relationship, coverage_start, coverage_end, payor, active

Enrolment changes: `coverage_end` (CSV) or `Coverage.period.end` (FHIR) ends that coverage on the
date given; `active` false (CSV: false/no/0) or `Patient.active: false` (FHIR) means the member
left: their open coverage ends on the load's date (see identity/member/service.py).

A load reads in two steps so that an unchanged line costs no FHIR validation: `open_source` yields
`PendingPatient`s (the line's JSON and its coverage facts: enough for the content hash) that
`complete` turns into a `SourceRecord` (validated, demographics extracted), in this process or in a
worker's; `read_source` does both for callers that want records.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import orjson

from identity.fhir.demographics import parse_coverage, parse_patient, to_raw
from identity.matching.record import RawAddress, RawDemographics, RawName

CSV_COLUMNS = [
    "member_id",
    "given",
    "middle",
    "family",
    "suffix",
    "previous_family",
    "birth_date",
    "sex",
    "ssn",
    "phone",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zip",
    "subscriber_id",
    "relationship",
    "coverage_start",
    "coverage_end",
    "payor",
    "active",
]
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_TRUE = frozenset({"true", "t", "yes", "y", "1", ""})
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CoverageFacts:
    subscriber_id: str | None
    relationship: str | None
    period_start: date | None
    period_end: date | None
    payor: str | None


@dataclass(frozen=True, slots=True)
class SourceRecord:
    line: int
    member_id: str
    raw: RawDemographics
    document: dict[str, Any]  # what the source said, stored verbatim beside the standardised form
    coverages: tuple[CoverageFacts, ...] = field(default=())
    active: bool = True  # False: the source says the member left (their coverage ends)


@dataclass(frozen=True, slots=True)
class SourceError:
    line: int
    message: str  # never quotes the line's content: it is PHI


Item = SourceRecord | SourceError


def _iso_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _coverage_facts(cov: Any) -> CoverageFacts:
    rel = None
    if cov.relationship is not None and cov.relationship.coding:
        rel = cov.relationship.coding[0].code
    payor = None
    if cov.payor:
        payor = cov.payor[0].display or cov.payor[0].reference
    period = cov.period
    return CoverageFacts(
        subscriber_id=cov.subscriberId,
        relationship=rel,
        period_start=_iso_date(str(period.start)) if period and period.start else None,
        period_end=_iso_date(str(period.end)) if period and period.end else None,
        payor=payor,
    )


def _beneficiary_id(reference: str | None) -> str | None:
    """'Patient/123' or 'https://payer.example/fhir/Patient/123' -> '123'."""
    if not reference or "Patient/" not in reference:
        return None
    return reference.rsplit("Patient/", 1)[1].split("/", 1)[0] or None


def _json_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]
"""`map`, or a process pool's ordered `imap`: how chunks of lines are parsed."""

_CHUNK = 1_000  # lines per unit of work handed to a mapper


def _chunks(items: Iterable[_T], size: int = _CHUNK) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _coverage_line(item: tuple[int, bytes]) -> tuple[str, CoverageFacts] | SourceError | None:
    """One Coverage line: (beneficiary's Patient id, facts), an error, or None (not a Coverage:
    the second pass reports what it is)."""
    number, line = item
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None  # reported by the second pass
    if not isinstance(obj, dict) or obj.get("resourceType") != "Coverage":
        return None
    cov, problems = parse_coverage(obj, pointer="")
    if cov is None:
        return SourceError(number, f"invalid Coverage at {problems[0].pointer or '/'}")
    patient_id = _beneficiary_id(cov.beneficiary.reference if cov.beneficiary else None)
    if patient_id is None:
        return SourceError(number, "Coverage.beneficiary is not a Patient reference")
    return patient_id, _coverage_facts(cov)


def _coverage_chunk(
    chunk: list[tuple[int, bytes]],
) -> list[tuple[int, tuple[str, CoverageFacts] | SourceError]]:
    """The chunk's Coverage lines (line number first), valid or not; other lines left out."""
    found = ((number, _coverage_line((number, line))) for number, line in chunk)
    return [(number, result) for number, result in found if result is not None]


def _collect_coverages(
    path: Path, mapper: Mapper = map
) -> tuple[dict[str, list[CoverageFacts]], list[SourceError], bytearray]:
    """Coverage facts by beneficiary, the Coverage lines' errors, and which lines are Coverages
    (a byte per line number: the second pass skips them unparsed)."""
    coverages: dict[str, list[CoverageFacts]] = {}
    errors: list[SourceError] = []
    is_coverage = bytearray()
    lines = ((n, line) for n, line in _json_lines(path) if b'"Coverage"' in line)
    for results in mapper(_coverage_chunk, _chunks(lines)):
        for number, found in results:
            if number >= len(is_coverage):
                is_coverage.extend(bytes(number + 1 - len(is_coverage) + 4096))
            is_coverage[number] = 1
            if isinstance(found, SourceError):
                errors.append(found)
            else:
                coverages.setdefault(found[0], []).append(found[1])
    return coverages, errors, is_coverage


@dataclass(frozen=True, slots=True)
class PendingPatient:
    """A Patient line read but not validated yet: its JSON (what the content hash covers), the
    facts of its Coverage lines, and the raw line that `complete` validates."""

    line: int
    document: dict[str, Any]
    text: bytes
    coverages: tuple[CoverageFacts, ...]

    @property
    def active(self) -> bool:
        return self.document.get("active") is not False


def complete(line: int, text: bytes, coverages: tuple[CoverageFacts, ...]) -> Item:
    """Validate a Patient line and extract its demographics (the expensive step of a read)."""
    obj = orjson.loads(text)
    patient, problems = parse_patient(obj, pointer="")
    if patient is None:
        where = ", ".join(p.pointer or "/" for p in problems[:3])
        return SourceError(line, f"invalid Patient at {where}")
    raw = to_raw(patient)
    if raw.member_id is None:
        return SourceError(line, "Patient has no member id (an identifier of type MB)")
    subscriber_ids = tuple(f.subscriber_id for f in coverages if f.subscriber_id)
    raw = replace(raw, subscriber_ids=subscriber_ids or raw.subscriber_ids)
    active = obj.get("active") is not False
    return SourceRecord(line, raw.member_id or "", raw, obj, coverages, active)


Read = SourceRecord | PendingPatient | SourceError


def _ndjson_lines(
    path: Path,
    coverages: dict[str, list[CoverageFacts]],
    is_coverage: bytearray,
    on_bytes: Callable[[int], object] | None,
) -> Iterator[Read]:
    for number, line in _json_lines(path):
        if on_bytes:
            on_bytes(len(line))
        if number < len(is_coverage) and is_coverage[number]:
            continue  # read in the first pass
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield SourceError(number, "not valid JSON")
            continue
        kind = obj.get("resourceType") if isinstance(obj, dict) else None
        if kind == "Coverage":
            continue
        if kind != "Patient":
            yield SourceError(number, "expected a Patient or Coverage resource")
            continue
        resource_id = obj.get("id")
        facts = tuple(coverages.get(resource_id, ())) if isinstance(resource_id, str) else ()
        yield PendingPatient(number, obj, line, facts)


def open_ndjson(
    path: Path, on_bytes: Callable[[int], object] | None = None, mapper: Mapper = map
) -> Iterator[Read]:
    """Read the Coverage lines now (first pass, through `mapper`), then stream the Patients."""
    coverages, errors, is_coverage = _collect_coverages(path, mapper)
    return chain(errors, _ndjson_lines(path, coverages, is_coverage, on_bytes))


def read_ndjson(path: Path, on_bytes: Callable[[int], object] | None = None) -> Iterator[Item]:
    for item in open_ndjson(path, on_bytes):
        yield (
            complete(item.line, item.text, item.coverages)
            if isinstance(item, PendingPatient)
            else item
        )


def _csv_raw(row: dict[str, str]) -> RawDemographics:
    def get(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    given = tuple(p for p in (get("given"), get("middle")) if p)
    names = [
        RawName(
            given=given,
            family=get("family"),
            suffix=(s,) if (s := get("suffix")) else (),
            use="official",
        )
    ]
    if previous := get("previous_family"):
        names.append(RawName(given=given, family=previous, use="old"))
    lines = tuple(p for p in (get("address_line1"), get("address_line2")) if p)
    address = RawAddress(lines, get("city"), get("state"), get("zip"), use="home")
    return RawDemographics(
        names=tuple(names),
        birth_date=get("birth_date"),
        gender=get("sex"),
        phones=(p,) if (p := get("phone")) else (),
        emails=(e,) if (e := get("email")) else (),
        addresses=(address,) if (lines or address.postal_code or address.city) else (),
        ssn=get("ssn"),
        member_id=get("member_id"),
        subscriber_ids=(s,) if (s := get("subscriber_id")) else (),
    )


def read_csv(path: Path, on_bytes: Callable[[int], object] | None = None) -> Iterator[Item]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if "member_id" not in header:
            yield SourceError(1, "the header has no member_id column")
            return
        for row in reader:
            number = reader.line_num
            if on_bytes:
                on_bytes(sum(len(v or "") + 1 for v in row.values()))
            if None in row or any(v is None for v in row.values()):
                yield SourceError(number, "wrong number of columns")
                continue
            raw = _csv_raw(row)
            if raw.member_id is None:
                yield SourceError(number, "member_id is empty")
                continue
            if raw.birth_date and _iso_date(raw.birth_date) is None:
                yield SourceError(number, "birth_date is not a YYYY-MM-DD date")
                continue
            flag = (row.get("active") or "").strip().lower()
            if flag not in _TRUE and flag not in _FALSE:
                yield SourceError(number, "active is not true or false")
                continue
            facts = CoverageFacts(
                subscriber_id=row.get("subscriber_id") or None,
                relationship=row.get("relationship") or None,
                period_start=_iso_date(row.get("coverage_start")),
                period_end=_iso_date(row.get("coverage_end")),
                payor=row.get("payor") or None,
            )
            has_coverage = any(getattr(facts, f.name) for f in fields(facts))
            document = {k: v for k, v in row.items() if k in CSV_COLUMNS and v}
            coverages = (facts,) if has_coverage else ()
            yield SourceRecord(number, raw.member_id, raw, document, coverages, flag not in _FALSE)


def open_source(
    path: Path, on_bytes: Callable[[int], object] | None = None, mapper: Mapper = map
) -> Iterator[Read]:
    """Pick the reader by extension: .ndjson/.jsonl for FHIR, .csv for CSV. FHIR Patients come
    back pending (`complete` them); CSV rows are cheap to read and come back complete."""
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return open_ndjson(path, on_bytes, mapper)
    if suffix == ".csv":
        return read_csv(path, on_bytes)
    raise ValueError(f"{path.name}: unknown format (use .ndjson, .jsonl or .csv)")


def read_source(path: Path, on_bytes: Callable[[int], object] | None = None) -> Iterator[Item]:
    """Every line of a file as a `SourceRecord` or a `SourceError`, in order."""
    for item in open_source(path, on_bytes):
        yield (
            complete(item.line, item.text, item.coverages)
            if isinstance(item, PendingPatient)
            else item
        )
