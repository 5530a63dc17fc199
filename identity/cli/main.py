"""The `identity` command. Each command builds its own settings and engine, and owns its
transaction."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from identity.cli.audit import audit_app
from identity.cli.auth import auth_app, clients_app
from identity.cli.common import fail as _fail
from identity.cli.common import open_sessions as _sessions
from identity.cli.dedupe import dedupe
from identity.cli.demo import demo
from identity.cli.evaluate import evaluate
from identity.cli.gate import gate, gate_jwks
from identity.cli.members import erase
from identity.cli.openapi import openapi
from identity.cli.policy_diff import policy_diff
from identity.cli.purge import purge
from identity.cli.shadow import activate_checked, shadow
from identity.cli.stewards import stewards_app
from identity.cli.synth import synth
from identity.cli.train import train
from identity.cli.webhooks import webhooks_app
from identity.config import load_settings
from identity.db import (
    current_revision,
    head_revision,
    make_engine,
    transaction,
    upgrade,
)
from identity.errors import IdentityError
from identity.matching.policy import PolicyError, find_policy, load_policy_file, policy_files
from identity.member.service import LoadMode
from identity.policy import repository as policy_repository
from identity.policy import service as policy_service

app = typer.Typer(
    help="Member identity resolution for US health payers.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
members_app = typer.Typer(help="The member master.", no_args_is_help=True)
policy_app = typer.Typer(help="Matching policies in matching_rules/.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(members_app, name="members")
members_app.command("erase")(erase)
app.add_typer(policy_app, name="policy")
policy_app.command("diff")(policy_diff)
app.add_typer(clients_app, name="clients")
app.add_typer(auth_app, name="auth")
app.add_typer(audit_app, name="audit")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(stewards_app, name="stewards")
app.command()(dedupe)
app.command()(demo)
app.command()(evaluate)
app.command()(synth)
app.command()(train)
app.command()(gate)
app.command("gate-jwks")(gate_jwks)
app.command()(openapi)
app.command()(purge)
app.command()(shadow)

TenantOption = Annotated[str | None, typer.Option("--tenant", help="Tenant (payer) id.")]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP service (refuses to start on an unknown schema)."""
    import uvicorn

    from identity.logging_setup import uvicorn_log_config

    settings = load_settings()
    _sessions(settings)  # fail fast, with the message, before uvicorn starts
    uvicorn.run(
        "identity.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # our middleware logs requests as JSON, without query strings
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(),  # tracebacks logged as their exception's type only
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = load_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"schema at {current_revision(make_engine(settings))}")


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the service connects as.")],
) -> None:
    """PostgreSQL: give the service's role exactly its privileges (run as the tables' owner)."""
    from identity.db_roles import grant_app_role

    try:
        grant_app_role(make_engine(load_settings()), role)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"{role}: privileges granted; row-level security applies to it")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this code expects."""
    engine = make_engine(load_settings())
    typer.echo(f"database: {current_revision(engine) or '(empty)'}  code: {head_revision()}")


@members_app.command("load")
def members_load(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    tenant: TenantOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    mode: Annotated[
        LoadMode,
        typer.Option(help="delta: adds, changes, leavers; snapshot: also ends members absent."),
    ] = LoadMode.DELTA,
    as_of: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="The files' date (default today)."),
    ] = None,
) -> None:
    """Load FHIR NDJSON (Patient + Coverage) or CSV files; all or nothing."""
    from tqdm import tqdm

    from identity.member.service import load_members, workers_for

    settings = load_settings()
    tenant = tenant or settings.default_tenant
    factory = _sessions(settings)
    total = sum(f.stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc="members") as bar:
        session = factory()
        try:
            report = load_members(
                session,
                tenant,
                files,
                on_bytes=bar.update,
                mode=mode,
                as_of=as_of.date() if as_of else None,
                workers=workers_for(files, settings.load_workers),
            )
            if report.ok:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()
    for name, line, message in report.errors:
        typer.secho(f"{name}:{line}: {message}", fg="red", err=True)
    if not report.ok:
        raise _fail(f"{report.error_count} bad line(s); nothing was loaded")
    c = report.counts
    typer.echo(
        f"tenant {tenant}: read {report.read}, inserted {c.inserted}, updated {c.updated}, "
        f"unchanged {c.unchanged}, left {report.inactive}, terminated {report.terminated}"
    )


@policy_app.command("list")
def policy_list(tenant: TenantOption = None) -> None:
    """Policy files, their versions, and which is active for the tenant."""
    settings = load_settings()
    tenant = tenant or settings.default_tenant
    with transaction(_sessions(settings)) as session:
        active = policy_service.active_policy_version(session, tenant)
    for path in policy_files(settings.rules_dir):
        try:
            version = load_policy_file(path).version
        except PolicyError as exc:
            typer.echo(f"  {path.name:32} INVALID ({len(exc.problems)} problem(s))")
            continue
        mark = "*" if version == active else " "
        typer.echo(f"{mark} {path.name:32} {version}")
    typer.echo(f"active for {tenant}: {active or '(none)'}")


@policy_app.command("show")
def policy_show(
    ref: Annotated[str, typer.Argument(help="File name, label or version.")],
) -> None:
    """Print a policy's version and text (from the database if it was ever activated)."""
    settings = load_settings()
    with transaction(_sessions(settings)) as session:
        stored = policy_repository.get_version(session, ref)
        if stored is not None:
            typer.echo(f"# version {stored.version} (stored)\n{stored.source_text}")
            return
    try:
        policy = find_policy(settings.rules_dir, ref)
    except PolicyError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"# version {policy.version}\n{policy.source_text}")


@policy_app.command("activate")
def policy_activate(
    ref: Annotated[str, typer.Argument(help="File name, label or version in matching_rules/.")],
    tenant: TenantOption = None,
    accept_risk: Annotated[
        str | None,
        typer.Option(help="Activate although precision on the labels drops; why (audited)."),
    ] = None,
    requests: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Labelled requests (NDJSON), with --truth.")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Who they are (CSV), with --requests.")
    ] = None,
) -> None:
    """Validate a policy file and make it the tenant's active policy (another policy than the
    active one: after its shadow run and its precision on the stewards' labels)."""
    settings = load_settings()
    tenant = tenant or settings.default_tenant
    try:
        policy = find_policy(settings.rules_dir, ref)
    except PolicyError as exc:
        for problem in exc.problems:
            typer.secho(f"{exc.source}: {problem}", fg="red", err=True)
        raise _fail("policy not activated") from exc
    try:
        if (requests is None) != (truth is None):
            raise _fail("--requests and --truth go together", 2)
        labelled = (requests, truth) if requests is not None and truth is not None else None
        changed = activate_checked(settings, tenant, policy, accept_risk, labelled)
    except IdentityError as exc:
        raise _fail(exc.detail) from exc
    state = "activated" if changed else "already active"
    typer.echo(f"{policy.version} {state} for {tenant}")


@app.command()
def replay(
    match_id: Annotated[str, typer.Argument(help="A stored decision's match id.")],
    policy: Annotated[
        str, typer.Option("--policy", help="Policy version (stored) to replay under.")
    ],
    tenant: TenantOption = None,
) -> None:
    """Re-decide a stored decision under another policy version and print both outcomes."""
    from identity.resolution.replay import replay as replay_decision

    settings = load_settings()
    tenant = tenant or settings.default_tenant
    try:
        with transaction(_sessions(settings)) as session:
            result = replay_decision(session, tenant, match_id, policy)
    except IdentityError as exc:
        raise _fail(exc.detail) from exc
    d = result.replayed.decision
    member = result.replayed.member
    typer.echo(f"match {result.match_id}")
    typer.echo(
        f"  recorded  {result.recorded_version:28} {result.recorded_outcome:9} "
        f"{result.recorded_reason:24} {result.recorded_member_id or '-'}"
    )
    typer.echo(
        f"  replayed  {result.replay_version:28} {d.outcome.value:9} {d.reason.value:24} "
        f"{member.member_id if member else '-'}"
    )
    for v in result.replayed.verdicts:
        p = "-" if v.probability is None else f"{v.probability:.6f}"
        typer.echo(f"    candidate {v.candidate.member_id:16} {v.status.value:9} p={p}")
