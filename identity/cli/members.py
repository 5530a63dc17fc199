"""`identity members erase`: delete members' demographics on request (ids and audit kept).

Registered in `identity.cli.main` under `members`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from identity.cli.common import cli_actor, open_sessions
from identity.config import load_settings
from identity.db import transaction
from identity.member.erase import erase_members


def erase(
    member_ids: Annotated[list[str], typer.Argument(metavar="MEMBER_ID...", help="Member ids.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (payer) id.")] = None,
) -> None:
    """Erase members' demographics (names, birth date, address, phone, e-mail, SSN, blocking
    keys, the demographics in decisions that listed them, the given names stewards' links to them
    taught); ids, decisions and audit stay."""
    settings = load_settings()
    tenant = tenant or settings.default_tenant
    actor = cli_actor(tenant)
    with transaction(open_sessions(settings)) as session:
        report = erase_members(session, actor, member_ids, datetime.now(UTC))
    if report.unknown:
        typer.secho(f"{len(report.unknown)} unknown member id(s): nothing to erase", err=True)
    typer.echo(
        f"tenant {tenant}: erased {len(report.erased)} member(s); "
        f"{report.decisions_redacted} decision(s) redacted; "
        f"{report.learned_names_erased} learned name pair(s) erased"
    )
