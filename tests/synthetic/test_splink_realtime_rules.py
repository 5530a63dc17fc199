"""splink_compare's SQL blocking rules for the birth-date keys give exactly the pairs our keys do,
so splink's real-time path is timed on the blocking the service uses."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from benchmarks.accuracy import _fresh_sqlite
from benchmarks.splink_compare import EXACT_KEY_RULES, SPLINK_KEY_RULES, load_master
from identity.db import make_engine, make_session_factory, transaction
from identity.matching.blocking import blocking_keys
from identity.member.service import load_members
from identity.synthetic import write_dataset
from identity.training.data import Keyed
from identity.training.splink_model import splink_frame


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> list[Keyed]:
    folder = tmp_path_factory.mktemp("realtime_rules")
    paths = write_dataset(folder, members=4000, queries=10, seed=11, formats=("ndjson",))
    settings = _fresh_sqlite(folder)
    with transaction(make_session_factory(make_engine(settings))) as session:
        assert load_members(session, "bench", [paths.members_ndjson]).ok
    return load_master(settings)


def _our_pairs(master: list[Keyed], key: str) -> set[tuple[str, str]]:
    blocks: dict[str, set[str]] = {}
    for member_id, record in master:
        for value in blocking_keys(record, (key,)):
            blocks.setdefault(value, set()).add(member_id)
    pairs: set[tuple[str, str]] = set()
    for ids in blocks.values():
        pairs.update(itertools.combinations(sorted(ids), 2))
    return pairs


@pytest.mark.parametrize("key", sorted(EXACT_KEY_RULES))
def test_sql_rule_finds_the_pairs_our_key_does(master: list[Keyed], key: str) -> None:
    con = duckdb.connect()
    con.register("frame", splink_frame(master))
    rule = SPLINK_KEY_RULES[key]
    found = con.execute(
        "select l.unique_id, r.unique_id from frame l join frame r "
        f"on l.unique_id < r.unique_id and {rule}"
    ).fetchall()
    ours = _our_pairs(master, key)
    assert ours, "the sample must share some key values for the comparison to mean anything"
    assert {(str(a), str(b)) for a, b in found} == ours
