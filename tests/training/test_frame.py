"""splink's input frame, built column by column, holds exactly `frame_row`'s values (the one
definition of what splink sees) with the Arrow types splink needs: on a synthetic master and on
the comparisons' edge cases (empty lists, repeated and empty items, blank records)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa

from identity.matching.comparison_columns import LIST_COLUMNS, TEXT_COLUMNS, frame_row
from identity.matching.record import StandardRecord
from identity.matching.standardize import standardize
from identity.member.sources import SourceError, read_source
from identity.synthetic import write_dataset
from identity.training.splink_model import splink_frame
from tests.matching.test_comparisons import TABLE, person

TODAY = date(2026, 12, 7)


def _records(tmp_path: Path) -> list[tuple[str, StandardRecord]]:
    dataset = write_dataset(tmp_path, members=300, queries=5, seed=3, formats=("ndjson",))
    records = [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_source(dataset.members_ndjson)
        if not isinstance(item, SourceError)
    ]
    for i, (_, left, right, _) in enumerate(TABLE):
        records += [(f"{i}a", person(**left)), (f"{i}b", person(**right))]
    records += [
        ("blank", StandardRecord()),
        ("empty-items", StandardRecord(phones=("", "6175550101", "6175550101"), given="")),
    ]
    return records


def test_the_frame_holds_frame_rows_values_and_types(tmp_path: Path) -> None:
    records = _records(tmp_path)
    frame = splink_frame(iter(records))  # training hands it a stream
    assert list(frame.columns) == ["unique_id", *TEXT_COLUMNS, *LIST_COLUMNS]
    for column in ("unique_id", *TEXT_COLUMNS):
        assert frame[column].dtype == pd.ArrowDtype(pa.string()), column
    for column in LIST_COLUMNS:
        assert frame[column].dtype == pd.ArrowDtype(pa.list_(pa.string())), column
    rows = pa.Table.from_pandas(frame, preserve_index=False).to_pylist()
    assert rows == [{"unique_id": rid, **frame_row(record)} for rid, record in records]
    # Some list column holds items, and the cleaned record lost its empty and repeated ones.
    assert any(row["given_canonicals"] for row in rows)
    assert rows[-1]["phones"] == ["6175550101"]
    assert rows[-1]["given"] is None


def test_an_empty_master_is_an_empty_frame_of_the_same_shape() -> None:
    frame = splink_frame([])
    assert len(frame) == 0
    assert list(frame.columns) == ["unique_id", *TEXT_COLUMNS, *LIST_COLUMNS]
    assert frame["phones"].dtype == pd.ArrowDtype(pa.list_(pa.string()))
