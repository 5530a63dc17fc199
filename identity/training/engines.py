"""Where splink runs: DuckDB on this host (the default) or Spark, for masters one host cannot hold.

The comparisons are written once, in DuckDB's SQL (`identity.matching.comparisons`, parity-tested
against the service). Spark gets the same conditions with DuckDB's function names swapped for
Spark's; sqlglot's own DuckDB to Spark translation is not used because it renders `list_has_any`
as an operator Spark lacks. Jaro-Winkler and Damerau-Levenshtein are rapidfuzz (the service's own
measures) in vectorised UDFs: the Scala similarity jar splink ships scores Jaro-Winkler
differently (ASHLEY / SHERYL: >= 0.8 in DuckDB and rapidfuzz, below in the jar), which would put
pairs in other levels than the service does. Every swapped condition is checked on Spark against
the service's Python, level by level (tests/training/test_spark_engine.py).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from splink import DuckDBAPI
from splink.internals.database_api import DatabaseAPISubClass

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")

# DuckDB function -> Spark function of the same meaning on our columns (lists never hold NULL:
# `frame_row` drops empty items). The two `identity_` functions are registered by `spark_session`.
_SPARK_FUNCTIONS = {
    "list_has_any": "arrays_overlap",
    "list_contains": "array_contains",
    "len": "size",
    "jaro_winkler_similarity": "identity_jaro_winkler",
    "damerau_levenshtein": "identity_damerau_levenshtein",
    "levenshtein": "levenshtein",
}
_FUNCTION_CALL = re.compile(r"\b([a-z_]+)\(")
# Spark functions our conditions may call as they are, with the same meaning as in DuckDB.
_SAME_IN_SPARK = frozenset({"nullif", "coalesce", "substr", "length", "right", "abs"})


def spark_condition(sql: str) -> str:
    """A comparison level's DuckDB condition in Spark SQL; refuses a function it does not know,
    so a new level kind cannot reach Spark with a meaning nobody checked."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _SPARK_FUNCTIONS:
            return f"{_SPARK_FUNCTIONS[name]}("
        if name in _SAME_IN_SPARK:
            return match.group(0)
        raise ValueError(f"no Spark rendering for the SQL function {name}()")

    return _FUNCTION_CALL.sub(swap, sql)


@dataclass(frozen=True, slots=True)
class SplinkEngine:
    """The backend splink trains on. `spark_master` is any Spark master URL (`local[2]`,
    `spark://host:7077`, `yarn`); `checkpoint_dir` must be storage every executor reaches
    (HDFS, S3) on a cluster; by default a temporary folder, which suits `local[...]` only."""

    name: EngineName = "duckdb"
    spark_master: str = "local[2]"
    driver_memory: str = "2g"
    checkpoint_dir: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}: one of {', '.join(ENGINES)}")

    @contextmanager
    def api(self) -> Iterator[DatabaseAPISubClass]:
        """A fresh splink database API on this engine, for one training run."""
        if self.name == "duckdb":
            yield DuckDBAPI()
            return
        spark = spark_session(self)
        with tempfile.TemporaryDirectory(prefix="identity-spark-") as scratch:
            try:
                yield _spark_api(spark, self.checkpoint_dir or scratch)
            finally:
                _drop_temporary_views(spark)

    @property
    def u_chunks(self) -> int:
        """Pieces splink counts u in: DuckDB 10 (splink's default, bounding its memory); Spark
        one, since each piece is a Spark job with a fixed cost and Spark spills by itself."""
        return 10 if self.name == "duckdb" else 1

    def condition(self, sql: str) -> str:
        """A level's condition in this engine's SQL."""
        return sql if self.name == "duckdb" else spark_condition(sql)

    def table(self, frame: pd.DataFrame) -> Any:
        """A frame as this engine registers it: Spark takes Arrow (splink's pandas cleaning
        chokes on Arrow list columns), DuckDB the frame itself."""
        if self.name == "duckdb":
            return frame
        return pa.Table.from_pandas(frame, preserve_index=False)


DUCKDB = SplinkEngine()


def spark_session(engine: SplinkEngine) -> Any:
    """The process's SparkSession for the engine's master, with our two similarity UDFs."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(engine.spark_master)
        .appName("identity-train")
        .config("spark.driver.memory", engine.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # the command reports its own steps
        # size(NULL) is NULL, as DuckDB's len(NULL), not the legacy -1.
        .config("spark.sql.legacy.sizeOfNull", "false")
    )
    if engine.spark_master.startswith("local"):
        # 200 shuffle partitions (the default) cost more than the work on one host; the UDFs'
        # Python workers run this interpreter (a cluster sets its own PYSPARK_PYTHON).
        builder = builder.config("spark.sql.shuffle.partitions", "8")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    # Spark warns at every empty parquet read splink does; errors still show.
    spark.sparkContext.setLogLevel("ERROR")
    _register_similarities(spark)
    return spark


def _register_similarities(spark: Any) -> None:
    """rapidfuzz's Jaro-Winkler and Damerau-Levenshtein as Spark SQL functions (Arrow batches,
    so a call costs a vectorised loop, not a Python call per pair). Executors need rapidfuzz,
    which the training image has: it is one of the service's own dependencies."""
    from pyspark.sql.pandas.functions import pandas_udf

    def pairwise(metric: str, method: str, spark_type: str, dtype: str) -> Any:
        """rapidfuzz's `metric.method` over two string columns, NULL where either side is.
        Named, not passed: rapidfuzz's compiled functions cannot be pickled to the executors."""

        @pandas_udf(spark_type)  # type: ignore[call-overload, untyped-decorator]
        def udf(left: pd.Series, right: pd.Series) -> pd.Series:
            from rapidfuzz import distance

            measure = getattr(getattr(distance, metric), method)
            return pd.Series(
                [
                    None if a is None or b is None else measure(a, b)
                    for a, b in zip(left, right, strict=True)
                ],
                dtype=dtype,
            )

        return udf

    jaro_winkler = pairwise("JaroWinkler", "similarity", "double", "float64")
    damerau_levenshtein = pairwise("DamerauLevenshtein", "distance", "int", "Int32")
    spark.udf.register("identity_jaro_winkler", jaro_winkler)
    spark.udf.register("identity_damerau_levenshtein", damerau_levenshtein)


def _drop_temporary_views(spark: Any) -> None:
    """The session is the process's, so the views a run registered ("master", splink's
    intermediate tables) outlive it; the next run (a dedupe after a training, or a second
    dedupe) would find "master" taken. Each run starts from an empty catalogue instead."""
    for table in spark.catalog.listTables():
        if table.isTemporary:
            spark.catalog.dropTempView(table.name)


def _spark_api(spark: Any, checkpoint_dir: str) -> DatabaseAPISubClass:
    from splink.backends.spark import SparkAPI

    spark.sparkContext.setCheckpointDir(checkpoint_dir)
    return SparkAPI(  # type: ignore[no-untyped-call]
        spark_session=spark, break_lineage_method="parquet", register_udfs_automatically=False
    )
