"""`identity audit verify`: walk the audit chains and name the first bad event of each tenant.

Registered in `identity.cli.main`. Read-only; exit 0 when every chain is intact, 1 when one is
broken, 2 when the schema is not the one this code knows.
"""

from __future__ import annotations

from typing import Annotated

import typer

from identity.audit import service
from identity.config import load_settings
from identity.db import SchemaMismatch, check_schema, make_engine, make_session_factory, transaction

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Check this tenant's chain only.")
    ] = None,
) -> None:
    """Check every event's hash and link, gapless seqs from 1, and each chain's head."""
    engine = make_engine(load_settings())
    try:
        check_schema(engine)
    except SchemaMismatch as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    try:
        with transaction(make_session_factory(engine)) as session:
            report = service.verify(session, tenant)
    finally:
        engine.dispose()
    if report.intact:
        typer.echo(f"audit chain intact: {report.events} events in {report.tenants} tenants")
        return
    for broken in report.breaks:
        event = "missing" if broken.event_id is None else f"id {broken.event_id}"
        typer.secho(
            f"error: tenant {broken.tenant}: first bad event is seq {broken.seq} ({event}): "
            f"{broken.reason}",
            fg="red",
            err=True,
        )
    typer.secho(
        f"audit chain broken in {len(report.breaks)} of {report.tenants} tenants",
        fg="red",
        err=True,
    )
    raise typer.Exit(1)
