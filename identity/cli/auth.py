"""`identity clients …` registers the systems that may ask for tokens; `identity auth dev-token`
prints a development access token."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from identity.auth.dev import mint_dev_token
from identity.auth.scopes import ALL_SCOPES, SCOPE_MEANINGS
from identity.cli.common import fail, open_sessions
from identity.clients import repository as clients_repository
from identity.clients import service as clients_service
from identity.clients.organization import parse_org_identifier
from identity.config import load_settings
from identity.db import transaction
from identity.errors import IdentityError

clients_app = typer.Typer(help="Registered clients (payer systems, FHIR servers).")
auth_app = typer.Typer(help="Access tokens.")


@clients_app.command("add")
def clients_add(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant the client acts for.")],
    name: Annotated[str, typer.Option("--name", help="A human name for the client.")],
    jwks: Annotated[
        Path,
        typer.Option("--jwks", exists=True, dir_okay=False, help="The client's public JWKS."),
    ],
    scopes: Annotated[
        list[str], typer.Option("--scopes", help="Scopes it may ask for (repeat or quote).")
    ],
    organization: Annotated[
        str | None,
        typer.Option(
            "--organization",
            metavar="SYSTEM|VALUE",
            help="The organisation it speaks for, e.g. http://hl7.org/fhir/sid/us-npi|0123456789; "
            "a member's consent must name it as the recipient.",
        ),
    ] = None,
) -> None:
    """Register a client; prints its client_id (the `iss`/`sub` of its assertions)."""
    try:
        key_set = orjson.loads(jwks.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise fail(f"{jwks} is not JSON") from exc
    try:
        org = parse_org_identifier(organization) if organization is not None else None
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        with transaction(open_sessions(load_settings())) as session:
            client = clients_service.register(
                session,
                tenant=tenant,
                name=name,
                jwks=key_set,
                scopes=" ".join(scopes),
                organization=org,
            )
    except IdentityError as exc:
        for error in exc.errors:
            typer.secho(f"{error.pointer}: {error.detail}", fg="red", err=True)
        raise fail(exc.detail) from exc
    org_text = f", organisation {org}" if org else ""
    typer.echo(
        f"registered {client.name} for {client.tenant_id} with scopes: {client.scopes}{org_text}"
    )
    typer.echo(client.client_id)


@clients_app.command("list")
def clients_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
) -> None:
    """Registered clients with their tenant, scopes and state."""
    with transaction(open_sessions(load_settings())) as session:
        for c in clients_repository.list_for_tenant(session, tenant):
            state = "disabled" if c.disabled_at else "active"
            org = clients_service.organization_of(c)
            typer.echo(
                f"{c.client_id}  {c.tenant_id:20} {state:8} {c.name}  [{c.scopes}]"
                + (f"  {org}" if org else "")
            )


@clients_app.command("disable")
def clients_disable(client_id: Annotated[str, typer.Argument()]) -> None:
    """Stop a client from obtaining new tokens (tokens already issued expire within 5 minutes)."""
    try:
        with transaction(open_sessions(load_settings())) as session:
            clients_service.disable(session, client_id)
    except IdentityError as exc:
        raise fail(exc.detail) from exc
    typer.echo(f"{client_id} disabled")


@auth_app.command("scopes")
def auth_scopes() -> None:
    """The scopes and what each allows."""
    for scope, meaning in SCOPE_MEANINGS.items():
        typer.echo(f"{scope.value:18} {meaning}")


@auth_app.command("dev-token")
def auth_dev_token(
    tenant: Annotated[str, typer.Option("--tenant")],
    client: Annotated[str, typer.Option("--client", help="The client id to put in the token.")],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scopes (repeatable); default: all.")
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option("--organization", help="SYSTEM|VALUE the client speaks for (e.g. an NPI)."),
    ] = None,
) -> None:
    """Print an access token signed by the local development key (last line of output). The
    server trusts it only when IDENTITY_DEV_AUTH=true."""
    settings = load_settings()
    scopes = {s for part in scope or [] for s in part.split()} or None
    if scopes is not None and not scopes <= ALL_SCOPES:
        raise fail(f"unknown scope; choose from: {' '.join(sorted(ALL_SCOPES))}")
    try:
        org = parse_org_identifier(organization) if organization else None
    except ValueError as exc:
        raise fail(str(exc)) from exc
    token = mint_dev_token(
        settings, tenant=tenant, client_id=client, scopes=scopes, organization=org
    )
    typer.echo(token)
