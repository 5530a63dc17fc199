"""`identity audit verify`: walk the audit chains and name the first bad event of each tenant.

Registered in `identity.cli.main`. Read-only; exit 0 when every chain is intact, 1 when one is
broken, 2 when the schema is not the one this code knows.
"""

from __future__ import annotations

from typing import Annotated

import typer

from identity.audit import service
from identity.cli.common import open_sessions
from identity.config import load_settings
from identity.db import transaction

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Check this tenant's chain only.")
    ] = None,
) -> None:
    """Check every event's hash and link, gapless seqs from 1, and each chain's head."""
    with transaction(open_sessions(load_settings())) as session:
        report = service.verify(session, tenant)
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
