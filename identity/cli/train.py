"""`identity train`: estimate a policy's model with splink and write it as a new policy version.

Registered in `identity.cli.main`. Reads the member master and the incoming records in one
read-only transaction, writes one new file into the rules folder, or nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from identity.cli.splink_engine import EngineName, SparkCheckpointDir, SparkMaster, chosen_engine
from identity.config import load_settings
from identity.db import SchemaMismatch, check_schema, make_engine, make_session_factory, transaction
from identity.matching.policy import PolicyError, find_policy


def _error(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)


def train(
    policy: Annotated[
        str, typer.Option("--policy", help="Policy to train: file name, label or version.")
    ],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (payer) id.")] = None,
    extract: Annotated[
        list[Path] | None,
        typer.Option(
            "--extract",
            exists=True,
            dir_okay=False,
            readable=True,
            help="A second extract of members (FHIR NDJSON or CSV) as the incoming side, "
            "instead of the tenant's stored match requests. Repeatable.",
        ),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(help="Label of the new policy (default: <label>-trained.<UTC stamp>)."),
    ] = None,
    charts: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Write splink's charts and the report to this HTML."),
    ] = None,
    max_pairs: Annotated[
        int,
        typer.Option(
            min=10_000,
            help="Member pairs sampled to estimate u; EM samples blocked pairs beyond half this.",
        ),
    ] = 10_000_000,
    labels: Annotated[
        str | None,
        typer.Option(
            help="`reviewed`: estimate m from the pairs stewards linked (settled review items, "
            "splink's label-based estimation) instead of EM; u sampled, the prior kept.",
        ),
    ] = None,
    recall: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=1.0,
            help="Share of true links the deterministic rules (member id; SSN + birth date) "
            "find, to scale the prior.",
        ),
    ] = 0.6,
    splink_engine: EngineName = "duckdb",
    spark_master: SparkMaster = "local[2]",
    spark_checkpoint_dir: SparkCheckpointDir = None,
) -> None:
    """Train POLICY's m/u, prior and term frequencies on the tenant's data (splink, offline).

    The incoming side (stored match requests, or --extract files) is linked to the member
    master; the result is checked and written as a NEW policy file in the rules folder, to
    activate with `identity policy activate`.
    """
    from identity.training.errors import TrainingRefused
    from identity.training.report import html_report, text_report
    from identity.training.service import train_policy
    from identity.training.train import TrainOptions

    splink = chosen_engine(splink_engine, spark_master, spark_checkpoint_dir)
    if labels is not None and splink_engine != "duckdb":
        _error("--labels trains on DuckDB only (stewards' pairs are few); drop --engine")
        raise typer.Exit(2)
    settings = load_settings()
    tenant = tenant or settings.default_tenant
    try:
        source = find_policy(settings.rules_dir, policy)
    except PolicyError as exc:
        for problem in exc.problems:
            typer.secho(f"{exc.source}: {problem}", fg="red", err=True)
        _error("nothing trained")
        raise typer.Exit(1) from exc
    engine = make_engine(settings)
    try:
        check_schema(engine)
    except SchemaMismatch as exc:
        _error(str(exc))
        raise typer.Exit(2) from exc
    options = TrainOptions(
        max_pairs=max_pairs,
        recall=recall,
        em_max_pairs=max(max_pairs // 2, 10_000),
        engine=splink,
    )
    if labels is not None and (labels != "reviewed" or extract):
        _error("--labels takes `reviewed` (stewards' settlements), and no --extract")
        raise typer.Exit(2)
    try:
        with transaction(make_session_factory(engine)) as session:
            if labels is not None:
                from identity.training.labels import train_on_labels

                run = train_on_labels(
                    session,
                    tenant,
                    source,
                    rules_dir=settings.rules_dir,
                    options=options,
                    label=label,
                    charts=charts is not None,
                    progress=lambda step: typer.echo(f"... {step}", err=True),
                )
            else:
                run = train_policy(
                    session,
                    tenant,
                    source,
                    rules_dir=settings.rules_dir,
                    extracts=extract or [],
                    options=options,
                    label=label,
                    charts=charts is not None,
                    progress=lambda step: typer.echo(f"... {step}", err=True),
                )
    except TrainingRefused as exc:
        _error(exc.detail)
        for reason in exc.reasons:
            typer.secho(f"  - {reason}", fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()

    if labels is not None:
        from identity.training.labels import labels_report

        typer.echo(labels_report(run), nl=False)
    else:
        typer.echo(text_report(run), nl=False)
    if charts is not None:
        charts.write_text(html_report(run), encoding="utf-8")
        typer.echo(f"charts: {charts}")
    if run.problems or run.written is None or run.path is None:
        for problem in run.problems:
            typer.secho(f"  - {problem}", fg="red", err=True)
        _error(f"{len(run.problems)} degeneracy check(s) failed; no policy was written")
        raise typer.Exit(1)
    typer.echo(f"wrote {run.path}")
    typer.echo(f"version {run.written.version}")
    typer.echo(f"next: identity policy activate --tenant {tenant} {run.path.name}")
