"""Write a synthetic dataset: the member master (NDJSON and/or CSV), duplicates, queries.

Files written into `out_dir`:
  members.ndjson   FHIR R4, one resource a line: each Patient followed by its Coverage
  members.csv      the same members, one row each (columns: see identity.synthetic.csv_out)
  duplicates.csv   member_id_a,member_id_b: the same person enrolled twice (a = the original)
  queries.ndjson   match requests with ground truth (see identity.synthetic.queries)

Same seed and arguments give byte-identical files. Everything streams: members are written as
they are generated, so memory does not grow with `members` (only with `queries`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson
from tqdm import tqdm

from identity.synthetic.csv_out import CSV_HEADER, csv_row
from identity.synthetic.fhir_out import member_coverage, member_patient
from identity.synthetic.master import World, iter_master
from identity.synthetic.master import iter_members as _iter_members
from identity.synthetic.model import SyntheticMember
from identity.synthetic.people import Household
from identity.synthetic.queries import QueryPlanner

FORMATS = ("ndjson", "csv")
DUPLICATES_HEADER = ("member_id_a", "member_id_b")


@dataclass(frozen=True)
class DatasetPaths:
    """Where the files are. A members file whose format was not asked for is not written."""

    members_ndjson: Path
    members_csv: Path
    queries_ndjson: Path
    duplicates_csv: Path


def iter_members(members: int, seed: int) -> Iterator[SyntheticMember]:
    """The member master row by row (exactly `members` rows, duplicate enrolments included),
    identical to what `write_dataset` writes for the same seed; streaming."""
    return _iter_members(members, seed)


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _formats(formats: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ValueError(f"formats must be some of {', '.join(FORMATS)}; got {list(formats)!r}")
    return chosen


def write_dataset(
    out_dir: Path,
    *,
    members: int,
    queries: int,
    seed: int = 7,
    formats: Iterable[str] = ("ndjson", "csv"),
    progress: bool = False,
) -> DatasetPaths:
    if members < 0 or queries < 0:
        raise ValueError("members and queries must not be negative")
    chosen = _formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = DatasetPaths(
        members_ndjson=out_dir / "members.ndjson",
        members_csv=out_dir / "members.csv",
        queries_ndjson=out_dir / "queries.ndjson",
        duplicates_csv=out_dir / "duplicates.csv",
    )
    world = World(seed)
    planner = QueryPlanner(queries, seed)
    written: list[Path] = []

    def open_binary(path: Path) -> IO[bytes]:
        written.append(path)
        return stack.enter_context(_tmp(path).open("wb", buffering=1 << 20))

    def open_text(path: Path) -> IO[str]:
        written.append(path)
        return stack.enter_context(_tmp(path).open("w", encoding="utf-8", newline=""))

    with ExitStack() as stack:
        ndjson = open_binary(paths.members_ndjson) if "ndjson" in chosen else None
        members_csv = None
        if "csv" in chosen:
            members_csv = csv.writer(open_text(paths.members_csv), lineterminator="\n")
            members_csv.writerow(CSV_HEADER)
        duplicates = csv.writer(open_text(paths.duplicates_csv), lineterminator="\n")
        duplicates.writerow(DUPLICATES_HEADER)
        bar = stack.enter_context(
            tqdm(total=members, unit=" members", disable=not progress, desc="members")
        )
        dumps = orjson.dumps
        for item in iter_master(members, seed, world):
            if isinstance(item, Household):
                planner.observe(item, world)
                rows = item.members
            else:
                duplicates.writerow((item.duplicate_of, item.member_id))
                rows = [item]
            for member in rows:
                if ndjson is not None:
                    ndjson.write(dumps(member_patient(member)) + b"\n")
                    ndjson.write(dumps(member_coverage(member)) + b"\n")
                if members_csv is not None:
                    members_csv.writerow(csv_row(member))
            bar.update(len(rows))
        bar.close()
        out = open_binary(paths.queries_ndjson)
        for query in tqdm(
            planner.build(world),
            total=queries,
            unit=" queries",
            disable=not progress,
            desc="queries",
        ):
            out.write(dumps(query) + b"\n")
    for path in written:
        os.replace(_tmp(path), path)
    return paths
