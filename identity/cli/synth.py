"""`identity synth`: write a seeded synthetic member master, its duplicates and a query set."""

from __future__ import annotations

from pathlib import Path

import typer


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


# Typer reads its options from the defaults, hence B008.
def synth(
    out: Path = typer.Option(  # noqa: B008
        ..., help="Directory for members.ndjson/.csv, duplicates.csv and queries.ndjson."
    ),
    members: int = typer.Option(
        5000, min=0, help="Rows in the member master, duplicates included."
    ),
    queries: int = typer.Option(1000, min=0, help="Match requests with ground truth."),
    seed: int = typer.Option(7, help="The same seed and options give byte-identical files."),
    formats: list[str] = typer.Option(  # noqa: B008
        ["ndjson", "csv"], "--format", help="Member master format(s): ndjson (FHIR R4), csv."
    ),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Generate synthetic payer members (households, twins, Jr/Sr, duplicates) and queries."""
    # Imported here: faker is a training extra, absent from the service image.
    from identity.synthetic import write_dataset

    try:
        paths = write_dataset(
            out, members=members, queries=queries, seed=seed, formats=formats, progress=progress
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    chosen = {f.strip().lower() for f in formats}
    if "ndjson" in chosen:
        typer.echo(f"{paths.members_ndjson}  {members} members (Patient + Coverage)")
    if "csv" in chosen:
        typer.echo(f"{paths.members_csv}  {members} members")
    typer.echo(f"{paths.duplicates_csv}  {_lines(paths.duplicates_csv) - 1} duplicate enrolments")
    typer.echo(f"{paths.queries_ndjson}  {queries} queries")
