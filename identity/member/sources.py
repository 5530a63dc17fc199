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
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

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


def _collect_coverages(path: Path) -> tuple[dict[str, list[CoverageFacts]], list[SourceError]]:
    coverages: dict[str, list[CoverageFacts]] = {}
    errors: list[SourceError] = []
    for number, line in _json_lines(path):
        if b'"Coverage"' not in line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # reported by the second pass
        if obj.get("resourceType") != "Coverage":
            continue
        cov, problems = parse_coverage(obj, pointer="")
        if cov is None:
            errors.append(SourceError(number, f"invalid Coverage at {problems[0].pointer or '/'}"))
            continue
        patient_id = _beneficiary_id(cov.beneficiary.reference if cov.beneficiary else None)
        if patient_id is None:
            errors.append(SourceError(number, "Coverage.beneficiary is not a Patient reference"))
            continue
        coverages.setdefault(patient_id, []).append(_coverage_facts(cov))
    return coverages, errors


def read_ndjson(path: Path, on_bytes: Callable[[int], object] | None = None) -> Iterator[Item]:
    coverages, errors = _collect_coverages(path)
    yield from errors
    for number, line in _json_lines(path):
        if on_bytes:
            on_bytes(len(line))
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
        patient, problems = parse_patient(obj, pointer="")
        if patient is None:
            where = ", ".join(p.pointer or "/" for p in problems[:3])
            yield SourceError(number, f"invalid Patient at {where}")
            continue
        facts = tuple(coverages.get(patient.id or "", ()))
        raw = to_raw(patient)
        if raw.member_id is None:
            yield SourceError(number, "Patient has no member id (an identifier of type MB)")
            continue
        subscriber_ids = tuple(f.subscriber_id for f in facts if f.subscriber_id)
        raw = replace(raw, subscriber_ids=subscriber_ids or raw.subscriber_ids)
        active = obj.get("active") is not False
        yield SourceRecord(number, raw.member_id or "", raw, obj, facts, active)


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


def read_source(path: Path, on_bytes: Callable[[int], object] | None = None) -> Iterator[Item]:
    """Pick the reader by extension: .ndjson/.jsonl for FHIR, .csv for CSV."""
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return read_ndjson(path, on_bytes)
    if suffix == ".csv":
        return read_csv(path, on_bytes)
    raise ValueError(f"{path.name}: unknown format (use .ndjson, .jsonl or .csv)")
