"""`identity demo`: the README's first command — a working service on SQLite with sample members.

Idempotent: migrates, activates the default policy, generates and loads the synthetic sample
only when the tenant has no members yet, then serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from identity.config import load_settings
from identity.db import make_engine, make_session_factory, transaction, upgrade
from identity.matching.policy import find_policy
from identity.member.repository import count_members
from identity.member.service import load_members
from identity.policy import service as policy_service

SHOWCASE = Path(__file__).resolve().parent.parent / "sample" / "showcase.ndjson"

EXAMPLE = """\
Try a match (the sample's showcase member, found by her card and confirmed by birth date and name)
with a development access token (valid five minutes; mint another the same way):

  TOKEN=$(.venv/bin/identity auth dev-token --tenant {tenant} --client demo | tail -1)
  curl -s http://{host}:{port}/v1/match -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{{
    "patient": {{"resourceType": "Patient", "gender": "female", "birthDate": "1984-03-12",
                "name": [{{"family": "Garcia Lopez", "given": ["Maria"]}}]}},
    "coverage": {{"resourceType": "Coverage", "status": "active", "subscriberId": "S9000000001",
                 "beneficiary": {{"reference": "Patient/1"}}, "payor": [{{"display": "Any"}}]}}}}'
"""


def demo(
    members: Annotated[int, typer.Option(help="Synthetic members to load on first run.")] = 5000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 7,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve: Annotated[bool, typer.Option(help="Start the service when ready.")] = True,
) -> None:
    """Set up the embedded database with sample members and serve (first run takes a minute)."""
    from identity.synthetic import write_dataset

    settings = load_settings()
    tenant = settings.default_tenant
    upgrade(settings.database_url)
    factory = make_session_factory(make_engine(settings))
    with transaction(factory) as session:
        policy_service.activate(session, tenant, find_policy(settings.rules_dir, "default"))
        loaded = count_members(session, tenant)
    if loaded == 0:
        sample_dir = Path("var/sample")
        typer.echo(f"generating {members} synthetic members in {sample_dir}/ ...")
        paths = write_dataset(
            sample_dir, members=members, queries=200, seed=seed, formats=("ndjson",)
        )
        with transaction(factory) as session:
            report = load_members(session, tenant, [paths.members_ndjson, SHOWCASE])
            if not report.ok:
                raise typer.Exit(1)
        loaded = report.counts.inserted
        typer.echo(f"loaded {loaded} members for tenant {tenant}")
    else:
        typer.echo(f"tenant {tenant} already has {loaded} members")
    typer.echo(EXAMPLE.format(host=host, port=port, tenant=tenant))
    if not settings.dev_auth:
        typer.secho(
            "note: IDENTITY_DEV_AUTH is not true, so the service will refuse development tokens",
            fg="yellow",
            err=True,
        )
    if serve:
        from identity.cli.main import serve as serve_command

        serve_command(host=host, port=port, workers=1)
