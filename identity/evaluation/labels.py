"""Labelled data for `identity evaluate`: the requests an analyst asks, and who each one is.

Two files:
  requests (NDJSON)  one `/v1/match` body a line, with the analyst's `id` for it beside
                     `patient` and `coverage`: `{"id": "q1", "patient": {...}, "coverage": {...}}`
  truth (CSV)        `request_id,member_ids[,tags]`: the member ids (space-separated) the person
                     is enrolled under: one, several (one person enrolled twice), or none (not
                     enrolled); tags (space-separated, e.g. `twin household`) group the false
                     matches in the report. A first row `request_id,...` is a header.

A request is parsed exactly as `/v1/match` parses it, so a body the service would refuse is a bad
line here. Every problem is reported at once, by file and line, without echoing a value (the
files hold demographics and member ids).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

from identity.errors import InvalidInput
from identity.matching.record import RawDemographics
from identity.matching.standardize import normalize_identifier
from identity.resolution.service import parse_match_request

# Problems listed before the rest are only counted: a wrong file has one on every line.
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """One request with its truth. `raw` is None for a request the service would refuse (the
    built-in data sets carry a few); `truth` is every member id the person is enrolled under."""

    request_id: str
    raw: RawDemographics | None
    truth: frozenset[str]
    tags: tuple[str, ...] = ()

    @property
    def enrolled(self) -> bool:
        return bool(self.truth)


class LabelError(ValueError):
    """Labelled files that cannot be used; `problems` lists every one found (file:line: what)."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_PROBLEMS])
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
        self.problems = shown
        super().__init__("; ".join(shown))


def read_requests(
    path: Path, today: date, problems: list[str]
) -> list[tuple[int, str, RawDemographics]]:
    """(line number, request id, demographics) of every request; problems appended."""
    requests: list[tuple[int, str, RawDemographics]] = []
    first_line: dict[str, int] = {}
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                body = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.append(f"{where}: not a JSON object")
                continue
            if not isinstance(body, dict):
                problems.append(f"{where}: not a JSON object")
                continue
            request_id = body.pop("id", None)
            if isinstance(request_id, int) and not isinstance(request_id, bool):
                request_id = str(request_id)
            if not isinstance(request_id, str) or not request_id.strip():
                problems.append(f"{where}: `id` (a string naming the request) is missing")
                continue
            if request_id in first_line:
                problems.append(
                    f"{where}: request id repeated (first on line {first_line[request_id]})"
                )
                continue
            first_line[request_id] = number
            try:
                raw = parse_match_request(body, today)
            except InvalidInput as exc:
                fields = ", ".join(f"{e.pointer or '/'} {e.detail}" for e in exc.errors)
                problems.append(f"{where}: not a valid /v1/match body ({fields})")
                continue
            requests.append((number, request_id, raw))
    return requests


Truth = dict[str, tuple[frozenset[str], tuple[str, ...]]]


def read_truth(path: Path, problems: list[str]) -> Truth:
    """request id -> (member ids, tags); problems appended."""
    truth: Truth = {}
    first_line: dict[str, int] = {}
    text = path.read_text(encoding="utf-8-sig")
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        where = f"{path.name}:{number}"
        if number == 1 and row[0].strip().lower() == "request_id":
            continue
        if len(row) < 2 or len(row) > 3:
            problems.append(f"{where}: expected request_id,member_ids[,tags] ({len(row)} columns)")
            continue
        request_id = row[0].strip()
        if not request_id:
            problems.append(f"{where}: the request id is empty")
            continue
        if request_id in first_line:
            problems.append(
                f"{where}: request id repeated (first on line {first_line[request_id]})"
            )
            continue
        first_line[request_id] = number
        # Stored member ids are normalised (no case, no separators): so are the truth's.
        members = frozenset(normalize_identifier(m) or m for m in row[1].split())
        tags = tuple(row[2].split()) if len(row) == 3 else ()
        truth[request_id] = (members, tags)
    return truth


def read_labelled(requests_path: Path, truth_path: Path, today: date) -> list[LabelledQuery]:
    """Both files, joined by request id; every request needs a truth row and every truth row a
    request. Raises LabelError with every problem of both files."""
    problems: list[str] = []
    requests = read_requests(requests_path, today, problems)
    truth = read_truth(truth_path, problems)
    seen = set()
    queries = []
    for number, request_id, raw in requests:
        seen.add(request_id)
        if request_id not in truth:
            problems.append(f"{requests_path.name}:{number}: no row in {truth_path.name}")
            continue
        members, tags = truth[request_id]
        queries.append(LabelledQuery(request_id, raw, members, tags))
    unmatched = [rid for rid in truth if rid not in seen]
    if unmatched and not problems:
        problems.append(
            f"{truth_path.name}: {len(unmatched)} row(s) name no request in {requests_path.name}"
        )
    if not requests and not problems:
        problems.append(f"{requests_path.name}: no requests")
    if problems:
        raise LabelError(problems)
    return queries


def tags_of(queries: Iterable[LabelledQuery]) -> list[str]:
    return sorted({t for q in queries for t in q.tags})
