"""`identity dedupe --engine spark`: splink's Spark backend (local[2], Debian's Java) against
DuckDB on a small generated master with known duplicate enrolments.

Both engines run the one code path (`score_pairs` with the engine as a parameter) on the same
frame, blocking rules and model: the same pairs must come out, with the same probabilities and
the same prior re-estimated on the master, hence the same clusters. The Spark session is the
process's (`SparkSession.getOrCreate`), so it is started once for this module and the training
engine's test alike.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from identity.cli.main import app as cli
from identity.dedupe.clusters import Cluster, connected, keep_pairs
from identity.dedupe.pairs import Scored, score_pairs
from identity.matching.engine import Matcher
from identity.matching.policy import Policy, find_policy
from identity.matching.record import StandardRecord
from identity.matching.standardize import standardize
from identity.member.sources import SourceError, read_source
from identity.synthetic import write_dataset
from identity.training.engines import SplinkEngine
from identity.training.splink_model import splink_frame
from tests.conftest import RULES_DIR

TODAY = date(2026, 12, 7)
MEMBERS = 1500
SPARK = SplinkEngine("spark", spark_master="local[2]", driver_memory="1g")
# The same pairs under the same m/u: only the order floating-point sums are taken in differs.
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def master(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[tuple[str, StandardRecord]], Path]:
    out = tmp_path_factory.mktemp("spark-dedupe")
    dataset = write_dataset(out, members=MEMBERS, queries=10, seed=11, formats=("ndjson",))
    records = [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_source(dataset.members_ndjson)
        if not isinstance(item, SourceError)
    ]
    return records, dataset.duplicates_csv


def _clusters(
    policy: Policy, records: list[tuple[str, StandardRecord]], engine: SplinkEngine
) -> tuple[Scored, list[Cluster]]:
    threshold = policy.document.decision.review_probability
    scored = score_pairs(policy.document, records, threshold=threshold, recall=0.6, engine=engine)
    kept, _ = keep_pairs(Matcher(policy), scored.pairs, dict(records))
    return scored, connected(kept)


def test_spark_finds_the_clusters_duckdb_finds(
    master: tuple[list[tuple[str, StandardRecord]], Path],
) -> None:
    records, duplicates = master
    policy = find_policy(RULES_DIR, "default")
    duck, duck_clusters = _clusters(policy, records, SplinkEngine("duckdb"))
    spark, spark_clusters = _clusters(policy, records, SPARK)

    # The generator's duplicates are there to be found, and DuckDB finds some of them.
    with duplicates.open() as f:
        truth = {tuple(sorted((r["member_id_a"], r["member_id_b"]))) for r in csv.DictReader(f)}
    found = {(p.a, p.b) for c in duck_clusters for p in c.pairs}
    assert len(found & truth) >= 5

    assert duck.prior_estimated
    assert spark.prior_estimated
    assert spark.prior == pytest.approx(duck.prior, rel=TOLERANCE)
    assert spark.blocking_keys == duck.blocking_keys
    ours = {(p.a, p.b): p for p in duck.pairs}
    theirs = {(p.a, p.b): p for p in spark.pairs}
    assert set(theirs) == set(ours)
    for key, pair in ours.items():
        assert theirs[key].probability == pytest.approx(pair.probability, rel=TOLERANCE), key
        assert theirs[key].weight == pytest.approx(pair.weight, rel=TOLERANCE, abs=1e-12), key
    assert [c.members for c in spark_clusters] == [c.members for c in duck_clusters]
    # The Spark session is the process's, but no table of a run outlives it: the next run (a
    # dedupe after a training, or a second dedupe) registers its own "master" again.
    with SPARK.api() as api:
        api.register(SPARK.table(splink_frame(records[:2])), dataset_display_name="master")


def test_the_command_refuses_an_unknown_engine() -> None:
    """Refused before anything is read: no database is needed to say so."""
    result = CliRunner().invoke(cli, ["dedupe", "--engine", "sqlite"])
    assert result.exit_code == 2
    assert "--engine takes duckdb or spark, not 'sqlite'" in result.stderr
