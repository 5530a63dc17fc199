"""`identity train --engine spark`: splink's Spark backend (local[2], Debian's Java) against DuckDB.

One Spark session serves the module (starting one costs tens of seconds). The master is small
(400 members): u is counted over every pair of members, not sampled (`max_pairs` above
n(n-1)/2, and no early stop once each level has 100 pairs: the engines chunk pairs by different
hashes), and EM runs on every blocked pair, so both engines see exactly the same pairs and
start EM from the same values; what may differ is only the order floating-point sums are taken in.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from identity.cli.train import train
from identity.matching.comparisons import comparison_vectors
from identity.matching.policy import find_policy
from identity.matching.record import StandardRecord
from identity.matching.standardize import standardize
from identity.member.sources import SourceError, read_source
from identity.resolution.service import parse_match_request
from identity.synthetic import write_dataset
from identity.training.data import Incoming
from identity.training.engines import SplinkEngine, spark_condition
from identity.training.estimates import Estimates
from identity.training.service import train_sides
from identity.training.splink_model import make_linker, splink_frame
from identity.training.train import TrainOptions
from tests.conftest import RULES_DIR, TENANT
from tests.matching.test_comparisons import TABLE, person
from tests.training.test_parity import _document_with_frequencies

TODAY = date(2026, 11, 22)
MEMBERS = 400
QUERIES = 250
SPARK = SplinkEngine("spark", spark_master="local[2]", driver_memory="1g")
# EM iterates the same arithmetic on the same pairs from the same start; only the summation
# order differs (Spark adds partial sums per partition), about 1e-16 relative per step. Over
# tens of iterations that stays far below 1e-9; a level put in another bucket for even one pair
# of 400 members moves an m or u by ~1e-3 or more, so 1e-9 separates the two cleanly.
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def spark_api():  # type: ignore[no-untyped-def]
    with SPARK.api() as api:
        yield api


def test_spark_conditions_put_every_edge_case_where_the_service_does(spark_api: object) -> None:
    """The comparisons' table of edge cases, every record against every other, on Spark: each
    pair lands in the level the service's own code puts it in, and every level is reached."""
    records: list[tuple[str, StandardRecord]] = []
    for i, (_, left, right, _) in enumerate(TABLE):
        records += [(f"{i}a", person(**left)), (f"{i}b", person(**right))]
    records += [(f"blank{i}", StandardRecord()) for i in range(2)]
    document = _document_with_frequencies(r for _, r in records)
    linker = make_linker(
        document,
        {"edge": splink_frame(records)},
        "dedupe_only",
        ["1 = 1"],
        db_api=spark_api,  # type: ignore[arg-type]
        engine=SPARK,
    )
    found = linker.inference.predict().as_pandas_dataframe()
    n = len(records)
    assert len(found) == n * (n - 1) // 2
    by_id = dict(records)
    specs = document.comparisons
    reached: set[tuple[str, int]] = set()
    for row in found.itertuples():
        ours = comparison_vectors(by_id[row.unique_id_l], [by_id[row.unique_id_r]], specs)[0]
        theirs = [int(getattr(row, f"gamma_{spec.name}")) for spec in specs]
        assert list(ours) == theirs, (row.unique_id_l, row.unique_id_r)
        reached.update((spec.name, g) for spec, g in zip(specs, theirs, strict=True))
    every = {(spec.name, g) for spec in specs for g in range(-1, len(spec.levels))}
    assert every - reached == set()


def test_a_function_without_a_checked_spark_rendering_is_refused() -> None:
    assert (
        spark_condition("list_has_any(phones_l, phones_r)") == "arrays_overlap(phones_l, phones_r)"
    )
    assert spark_condition("coalesce(len(phones_l), 0) = 0") == "coalesce(size(phones_l), 0) = 0"
    with pytest.raises(ValueError, match=r"no Spark rendering for the SQL function soundex\(\)"):
        spark_condition("soundex(family_l) = soundex(family_r)")


def _train(engine: SplinkEngine, tmp: Path) -> Estimates:
    dataset = write_dataset(tmp, members=MEMBERS, queries=QUERIES, seed=7, formats=("ndjson",))
    master = [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_source(dataset.members_ndjson)
        if not isinstance(item, SourceError)
    ]
    with dataset.queries_ndjson.open("rb") as fh:
        bodies = [orjson.loads(line)["request"] for line in fh]
    incoming = Incoming(
        "extract",
        [
            (f"q{i}", standardize(parse_match_request(b, TODAY), today=TODAY))
            for i, b in enumerate(bodies)
        ],
    )
    rules = tmp / "rules"
    rules.mkdir()
    shutil.copy(RULES_DIR / "default.yaml", rules / "default.yaml")
    every_pair = MEMBERS * MEMBERS  # above n(n-1)/2: nothing sampled, on either engine
    options = TrainOptions(
        max_pairs=every_pair, em_max_pairs=every_pair, u_min_count=None, engine=engine
    )
    run = train_sides(
        TENANT,
        find_policy(rules, "default"),
        incoming,
        iter(master),
        len(master),
        rules_dir=rules,
        options=options,
        label=f"trained-{engine.name}",
    )
    assert run.problems == []
    assert run.path is not None
    assert run.path.exists()
    return run.estimates


def test_spark_training_agrees_with_duckdb(
    spark_api: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    duck = _train(SplinkEngine("duckdb"), tmp_path_factory.mktemp("duckdb"))
    spark = _train(SPARK, tmp_path_factory.mktemp("spark"))

    assert spark.prior == pytest.approx(duck.prior, rel=TOLERANCE)
    assert [
        (r.blocking_rule, r.pairs, r.iterations, r.converged, r.error) for r in spark.em_runs
    ] == [(r.blocking_rule, r.pairs, r.iterations, r.converged, r.error) for r in duck.em_runs]
    assert [(lv.comparison, lv.level, lv.m_trained, lv.u_trained) for lv in spark.levels] == [
        (lv.comparison, lv.level, lv.m_trained, lv.u_trained) for lv in duck.levels
    ]
    # EM learned something: the comparison that matters most moved off the policy's hand-set m.
    assert sum(lv.m_trained for lv in duck.levels) > 10
    for s, d in zip(spark.levels, duck.levels, strict=True):
        assert s.u == pytest.approx(d.u, rel=TOLERANCE, abs=1e-15), (d.comparison, d.level)
        assert s.m == pytest.approx(d.m, rel=TOLERANCE, abs=1e-15), (d.comparison, d.level)


def test_cli_refuses_an_unknown_engine_and_labels_on_spark() -> None:
    """Refused before anything is read: no database or policy is needed to say so."""
    app = typer.Typer()
    app.command()(train)
    app.command("noop")(lambda: None)  # two commands, so `train` is invoked by name
    runner = CliRunner()
    unknown = runner.invoke(app, ["train", "--policy", "default", "--engine", "sqlite"])
    assert unknown.exit_code == 2
    assert "--engine takes duckdb or spark, not 'sqlite'" in unknown.stderr
    labels = runner.invoke(
        app, ["train", "--policy", "default", "--engine", "spark", "--labels", "reviewed"]
    )
    assert labels.exit_code == 2
    assert "--labels trains on DuckDB only" in labels.stderr
