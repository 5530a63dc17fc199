"""The splink half of dedupe: the master against itself (`dedupe_only`), scored with the policy's
own comparisons, m/u and term frequencies (`identity.training.splink_model`, as `identity train`
builds them), blocked on the policy's blocking keys that suit a batch pass.

The policy's prior answers "is this request that member?"; two members of one master are far less
likely to be one person, so the prior is estimated again on the master, as `identity train` does
it: from near-certain links (SSN with birth date), scaled by their assumed recall.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

import pandas as pd
import pyarrow as pa
from splink import block_on

from identity.matching.blocking import BLOCKING_KEYS
from identity.matching.policy import PolicyDocument
from identity.matching.record import StandardRecord
from identity.training.engines import DUCKDB, SplinkEngine
from identity.training.splink_model import make_linker, splink_frame
from identity.training.train import quiet_splink

# Blocking rules that find one person enrolled twice, each a conjunction of the policy's blocking
# keys (a rule is used when the policy lists all of its keys). Left out: the member id (a second
# enrolment has its own), the subscriber id (a whole family shares it, and a new enrolment often
# has a new one), and the wide partial-birth-date and initials keys (blocks of thousands at a
# million members, for variations the name-and-date keys already cover). The ZIP keys go only
# together: either alone pairs everyone of a common family (or given) name in a ZIP, which grows
# with the square of the master (at 100k members 129k and 73k pairs, about 2M and 7M at a
# million, for some 10k duplicates); together they still find a birth date keyed wrong under the
# same names and ZIP (1.8k pairs at 100k), and lost none of the synthetic duplicates.
DEDUPE_RULES: tuple[tuple[str, ...], ...] = (
    ("ssn",),
    ("dob_family_phonetic",),
    ("dob_given_phonetic",),
    ("zip_family_phonetic", "zip_given_phonetic"),
    ("dob_zip",),
    ("phone",),
    ("email",),
)
# Near-certain links between two members: the same SSN and birth date (a twin has her own SSN).
PRIOR_RULE = ("ssn", "birth_date")

_TEXT = pd.ArrowDtype(pa.string())
_CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class ScoredPair:
    a: str  # member ids, a < b
    b: str
    probability: float
    weight: float


@dataclass(frozen=True, slots=True)
class Scored:
    pairs: list[ScoredPair]
    blocking_keys: tuple[str, ...]  # the rules blocked on, keys joined by "+"
    prior: float
    prior_estimated: bool  # False: the policy's own prior was kept (no near-certain links)
    members: int = 0  # records in the master


def dedupe_rules(document: PolicyDocument) -> tuple[tuple[str, ...], ...]:
    """The rules dedupe blocks on: those whose keys the policy all lists."""
    listed = set(document.blocking.keys)
    return tuple(rule for rule in DEDUPE_RULES if set(rule) <= listed)


def rule_name(rule: Sequence[str]) -> str:
    return "+".join(rule)


def key_column(name: str) -> str:
    return f"bk_{name}"


def key_value(record: StandardRecord, name: str) -> str | None:
    """One value per record and key (the smallest: a compound family name's first code), so
    the key is an equi-join splink can block on."""
    return min(BLOCKING_KEYS[name](record), default=None)


def master_frame(
    records: Iterable[tuple[str, StandardRecord]], keys: Sequence[str]
) -> pd.DataFrame:
    """splink's frame of the master, with one column per blocking key, built in chunks as the
    records stream past: the records themselves are not kept (a million of them are gigabytes;
    the few in scored pairs are read again by id)."""
    parts = []
    stream = iter(records)
    while chunk := list(islice(stream, _CHUNK)):
        parts.append(_frame(chunk, keys))
    if not parts:
        return _frame([], keys)
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _frame(chunk: Sequence[tuple[str, StandardRecord]], keys: Sequence[str]) -> pd.DataFrame:
    frame = splink_frame(chunk)
    for name in keys:
        column = [key_value(record, name) for _, record in chunk]
        frame[key_column(name)] = pd.Series(column, dtype=_TEXT)
    return frame


def score_pairs(
    document: PolicyDocument,
    records: Iterable[tuple[str, StandardRecord]],
    *,
    threshold: float,
    recall: float,
    engine: SplinkEngine = DUCKDB,
    on_step: Callable[[str], None] = lambda _: None,
) -> Scored:
    """Every blocked pair of members at or above `threshold` match probability, on `engine`
    (DuckDB on this host, or Spark: the same linker, the engine a parameter)."""
    chosen = dedupe_rules(document)
    if not chosen:
        raise ValueError("the policy lists none of the blocking keys dedupe can use")
    keys = tuple(dict.fromkeys(k for rule in chosen for k in rule))
    with quiet_splink(), engine.api() as api:
        frame = master_frame(records, keys)
        members = len(frame)
        on_step("frame")
        rules = [block_on(*(key_column(k) for k in rule)) for rule in chosen]
        linker = make_linker(
            document, {"master": frame}, "dedupe_only", rules, db_api=api, engine=engine
        )
        del frame
        assert document.model is not None
        prior, estimated = document.model.prior, False
        try:
            linker.training.estimate_probability_two_random_records_match(
                [block_on(*PRIOR_RULE)], recall=recall
            )
            found = float(linker.misc.save_model_to_json()["probability_two_random_records_match"])
            if 0.0 < found < 1.0:
                prior, estimated = found, True
        except ValueError:  # more near-certain links than the recall allows
            pass
        if not estimated:
            # No near-certain link at all (splink then set the prior to 0, which no weight can
            # be computed from): score with the policy's prior. splink has no public setter.
            linker._settings_obj._probability_two_random_records_match = prior
        on_step("prior")
        predicted = linker.inference.predict(threshold_match_probability=threshold)
        table = predicted.as_pandas_dataframe()  # type: ignore[no-untyped-call]
        on_step("predict")
    names = tuple(rule_name(rule) for rule in chosen)
    return Scored(list(_pairs(table)), names, prior, estimated, members)


def _pairs(table: pd.DataFrame) -> Iterable[ScoredPair]:
    for a, b, p, w in zip(
        table["unique_id_l"],
        table["unique_id_r"],
        table["match_probability"],
        table["match_weight"],
        strict=True,
    ):
        left, right = (str(a), str(b)) if str(a) < str(b) else (str(b), str(a))
        weight = float(w) if not math.isnan(float(w)) else 0.0
        yield ScoredPair(left, right, float(p), weight)
