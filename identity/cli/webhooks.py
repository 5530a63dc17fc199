"""`identity webhooks …`: where a client hears that the review of its request settled.

An operator's command (the tables' owner), like `identity clients add`: a client cannot register
its own webhook through the API, so a stolen token cannot redirect the events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from identity.cli.common import fail, open_sessions
from identity.config import load_settings
from identity.db import transaction
from identity.errors import IdentityError
from identity.webhooks import service

webhooks_app = typer.Typer(help="Per-client webhooks for settled reviews.", no_args_is_help=True)

ClientOption = Annotated[str, typer.Option("--client", help="The client's id.")]


def _failed(exc: IdentityError) -> typer.Exit:
    for error in exc.errors:
        typer.secho(f"{error.pointer}: {error.detail}", fg="red", err=True)
    return fail(exc.detail)


@webhooks_app.command("set")
def webhooks_set(
    client: ClientOption,
    url: Annotated[
        str,
        typer.Option("--url", help="https URL (http only to a loopback address, for development)."),
    ],
) -> None:
    """Register or replace a client's webhook."""
    try:
        with transaction(open_sessions(load_settings())) as session:
            hook = service.set_webhook(session, client, url, now=datetime.now(UTC))
            tenant = hook.tenant_id
    except IdentityError as exc:
        raise _failed(exc) from exc
    typer.echo(f"webhook of {client} ({tenant}): {url}")


@webhooks_app.command("remove")
def webhooks_remove(client: ClientOption) -> None:
    """Stop sending to a client; its queued deliveries are given up."""
    try:
        with transaction(open_sessions(load_settings())) as session:
            service.remove_webhook(session, client)
    except IdentityError as exc:
        raise _failed(exc) from exc
    typer.echo(f"webhook of {client} removed")


@webhooks_app.command("list")
def webhooks_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
) -> None:
    """Every registered webhook: tenant, client id, URL."""
    with transaction(open_sessions(load_settings())) as session:
        for hook in service.list_webhooks(session, tenant):
            typer.echo(f"{hook.tenant_id}\t{hook.client_id}\t{hook.url}")
