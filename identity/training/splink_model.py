"""A policy as a splink model: settings, input frames and term-frequency tables.

Comparisons come from `identity.matching.comparisons` (the same definitions the service runs), m/u
and the prior from the policy's model, and term frequencies from the policy too: registering them
stops splink from computing its own from the input, so splink's predictions use exactly the
frequencies the service will use.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.blocking_rule_creator_utils import to_blocking_rule_creator
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.splink_dataframe import SplinkDataFrame

from identity.matching.comparison_columns import LIST_COLUMNS, TEXT_COLUMNS
from identity.matching.comparisons import splink_comparison, value_column
from identity.matching.policy import PolicyDocument
from identity.matching.record import StandardRecord
from identity.matching.scoring import checked_frequencies
from identity.training.engines import DUCKDB, SplinkEngine

LinkType = Literal["link_only", "dedupe_only", "link_and_dedupe"]
BlockingRule = BlockingRuleCreator | str | dict[str, Any]

# Explicit Arrow types: a column of empty lists (FEBRL has no phones) would otherwise reach
# DuckDB as NULL[], which list functions reject.
_TEXT = pd.ArrowDtype(pa.string())
_LIST = pd.ArrowDtype(pa.list_(pa.string()))
_FLOAT = pd.ArrowDtype(pa.float64())


def _model(document: PolicyDocument) -> Any:
    if document.model is None or not document.comparisons:
        raise ValueError(f"policy {document.label} has no comparisons and model to train")
    return document.model


def splink_comparisons(
    document: PolicyDocument, engine: SplinkEngine = DUCKDB
) -> list[dict[str, Any]]:
    """The policy's comparisons as splink dicts in the engine's SQL, with its m/u and tf minimum
    u filled in."""
    model = _model(document)
    out = []
    for spec in document.comparisons:
        comparison = splink_comparison(spec)
        params = model.parameters[spec.name]
        tf = model.term_frequencies.get(spec.name)
        for level in comparison["comparison_levels"]:
            if level["sql_condition"] != "ELSE":
                level["sql_condition"] = engine.condition(level["sql_condition"])
            if level.get("is_null_level"):
                continue
            p = params[level["label_for_charts"]]
            level["m_probability"] = p.m
            level["u_probability"] = p.u
            if "tf_adjustment_column" in level and tf is not None and tf.minimum_u:
                level["tf_minimum_u_value"] = tf.minimum_u
        out.append(comparison)
    return out


def splink_settings(
    document: PolicyDocument,
    link_type: LinkType = "dedupe_only",
    blocking_rules: Sequence[BlockingRule] = (),
    *,
    retain_intermediate_calculation_columns: bool = True,
    engine: SplinkEngine = DUCKDB,
) -> SettingsCreator:
    """splink settings for the policy's comparisons, parameters and prior."""
    model = _model(document)
    return SettingsCreator(
        link_type=link_type,
        comparisons=list(splink_comparisons(document, engine)),
        blocking_rules_to_generate_predictions=[
            to_blocking_rule_creator(r) for r in blocking_rules
        ],
        probability_two_random_records_match=model.prior,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=retain_intermediate_calculation_columns,
    )


def splink_frame(records: Iterable[tuple[str, StandardRecord]]) -> pd.DataFrame:
    """One row per record: `unique_id` and every column the comparison SQL reads, with
    `frame_row`'s values (tests/training/test_frame.py holds them equal), built column by
    column: a dict per row was most of the time of a million-member frame."""
    items = list(records)
    found = [record for _, record in items]
    columns: dict[str, pd.Series] = {
        "unique_id": pd.Series([record_id for record_id, _ in items], dtype=_TEXT)
    }
    for name, get in TEXT_COLUMNS.items():
        columns[name] = pd.Series([get(r) or None for r in found], dtype=_TEXT)
    for name, get_items in LIST_COLUMNS.items():
        columns[name] = pd.Series([_items(get_items(r)) for r in found], dtype=_LIST)
    return pd.DataFrame(columns)


def _items(values: Collection[str]) -> list[str]:
    """A list column's value as `frame_row` gives it: the non-empty items, once, sorted."""
    return sorted({v for v in values if v}) if values else []


def term_frequency_tables(
    linker: Linker,
    db_api: DatabaseAPISubClass,
    document: PolicyDocument,
    engine: SplinkEngine = DUCKDB,
) -> list[SplinkDataFrame]:
    """Register the policy's term frequencies as the linker's tf tables, one per tf comparison.

    A comparison with none listed gets an empty table: no value then has a frequency, so no pair
    is adjusted, as in the service (otherwise splink would count frequencies in its input).
    """
    model = _model(document)
    registered = []
    for spec in document.comparisons:
        column = value_column(spec.name)
        if not spec.term_frequency or column is None:
            continue
        tf = model.term_frequencies.get(spec.name)
        values = checked_frequencies(spec.name, tf) if tf is not None else {}
        table = pd.DataFrame(
            {
                column: pd.Series(list(values), dtype=_TEXT),
                f"tf_{column}": pd.Series(list(values.values()), dtype=_FLOAT),
            }
        )
        tf_frame = db_api.register(engine.table(table))
        registered.append(linker.table_management.register_term_frequency_lookup(tf_frame, column))
    return registered


def make_linker(
    document: PolicyDocument,
    frames: Mapping[str, pd.DataFrame],
    link_type: LinkType,
    blocking_rules: Sequence[BlockingRule],
    *,
    db_api: DatabaseAPISubClass | None = None,
    engine: SplinkEngine = DUCKDB,
) -> Linker:
    """A linker over named frames (one to dedupe, two or more to link), with the policy's
    settings and term frequencies registered; on DuckDB unless `db_api` is `engine`'s."""
    api = db_api or DuckDBAPI()
    inputs = [
        api.register(engine.table(frame), dataset_display_name=name)
        for name, frame in frames.items()
    ]
    settings = splink_settings(document, link_type, blocking_rules, engine=engine)
    linker = Linker(inputs[0] if len(inputs) == 1 else inputs, settings, log_level=None)
    term_frequency_tables(linker, api, document, engine)
    return linker


def relative_frequencies(records: Iterable[StandardRecord], comparison: str) -> dict[str, float]:
    """Each value's share of the non-missing values of the comparison's column (splink's own
    definition of a term frequency), for a policy's `model.term_frequencies`."""
    column = value_column(comparison)
    if column is None:
        raise ValueError(f"{comparison} has no single value to count")
    get = TEXT_COLUMNS[column]
    counts: dict[str, int] = {}
    for record in records:
        value = get(record)
        if value:
            counts[value] = counts.get(value, 0) + 1
    total = sum(counts.values())
    return {value: n / total for value, n in counts.items()}
