"""The options `identity train` and `identity dedupe` share: which engine splink runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from identity.cli.common import fail

if TYPE_CHECKING:
    from identity.training.engines import SplinkEngine

EngineName = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where splink runs: `duckdb` on this host, or `spark` for a master one host cannot "
        "hold (needs the `spark` extra and Java).",
    ),
]
SparkMaster = Annotated[
    str,
    typer.Option(help="Spark master URL for --engine spark (local[2], spark://host:7077)."),
]
SparkCheckpointDir = Annotated[
    str | None,
    typer.Option(
        help="Where Spark writes intermediate tables (default: a temporary folder); on a "
        "cluster, storage every executor reaches (hdfs://, s3a://).",
    ),
]


def chosen_engine(name: str, spark_master: str, checkpoint_dir: str | None) -> SplinkEngine:
    """The engine the options name, or exit 2 naming the engines there are. (Imported here: the
    training packages are the `train` extra's, not the service's.)"""
    from identity.training.engines import ENGINES, SplinkEngine

    if name not in ENGINES:
        raise fail(f"--engine takes {' or '.join(ENGINES)}, not {name!r}", 2)
    return SplinkEngine(name, spark_master=spark_master, checkpoint_dir=checkpoint_dir)
