"""What every CLI command shares: opening sessions on a known schema, failing with a message,
and who the operator is for the audit trail."""

from __future__ import annotations

import getpass

import typer
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import (
    SchemaMismatch,
    check_schema,
    make_engine,
    make_session_factory,
    tenant_transaction,
)


def open_sessions(settings: Settings, *, require_schema: bool = True) -> sessionmaker[Session]:
    engine = make_engine(settings)
    if require_schema:
        try:
            check_schema(engine)
        except SchemaMismatch as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
    return make_session_factory(engine)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(code)


def operator() -> str:
    """Who ran the command, for the audit trail: the OS account."""
    try:
        return f"cli:{getpass.getuser()}"[:128]
    except (OSError, KeyError):
        return "cli"


def cli_actor(tenant: str) -> Actor:
    """The operator acting for a tenant from the command line."""
    return Actor(tenant=tenant, client_id=None, request_id=None, person=operator())


def audit_read(
    factory: sessionmaker[Session], tenant: str, *, action: str, read: str, policy_version: str
) -> None:
    """A command that read a tenant's records and wrote nothing: one audit event for the run (who,
    when, which kind of record, under which policy), naming no member, in its own transaction."""
    with tenant_transaction(factory, tenant) as session:
        audit.record(
            session,
            cli_actor(tenant),
            action=action,
            outcome="success",
            object_type=read,
            policy_version=policy_version,
        )
