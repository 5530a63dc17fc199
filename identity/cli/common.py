"""What every CLI command shares: opening sessions on a known schema, and failing with a message."""

from __future__ import annotations

import typer
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import SchemaMismatch, check_schema, make_engine, make_session_factory


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
