"""`identity openapi`: the API description, as published in the repository (openapi.json).

Production serves no API description (only development installs have /openapi.json and /docs), so
integrators read the file in the repository instead; tests/test_openapi_file.py keeps it equal to
what the app describes. Run this after changing a route.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from identity.config import Settings


def openapi_document() -> dict[str, Any]:
    """What the app describes, with default settings (no database is touched)."""
    from identity.app import create_app

    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


def render(document: dict[str, Any]) -> str:
    """The file's exact text: stable key order as FastAPI builds it, two-space indent."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def openapi(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write it here (default: standard output).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether --out is up to date (exit 1 if not).")
    ] = False,
) -> None:
    """Print or write the OpenAPI description (the repository keeps it in openapi.json)."""
    text = render(openapi_document())
    if out is None:
        typer.echo(text, nl=False)
        return
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            typer.secho(f"{out} is out of date: run identity openapi --out {out}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out} is up to date")
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
