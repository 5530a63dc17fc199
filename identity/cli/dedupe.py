"""`identity dedupe`: find probable duplicate enrolments in a tenant's member master (splink on
DuckDB or Spark) and offer each new cluster to stewards as a review item. Registered in
`identity.cli.main`; one transaction: every new item, or none."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from identity.cli.common import cli_actor, fail, open_sessions
from identity.cli.splink_engine import EngineName, SparkCheckpointDir, SparkMaster, chosen_engine
from identity.config import load_settings
from identity.db import tenant_transaction
from identity.matching.policy import Policy, PolicyError, find_policy
from identity.policy import repository as policy_repository
from identity.policy import service as policy_service


def _policy(session: Session, tenant: str, ref: str | None, rules_dir: Path) -> Policy:
    """The tenant's active policy, or REF: a stored version, else a file (stored on first use,
    as activation stores it, so the items name a version that can always be read back)."""
    if ref is None:
        active = policy_service.active_policy_version(session, tenant)
        if active is None:
            raise fail(f"tenant {tenant} has no active policy; pass --policy", 2)
        return policy_service.stored_policy(session, active)
    if policy_repository.get_version(session, ref) is not None:
        return policy_service.stored_policy(session, ref)
    try:
        policy = find_policy(rules_dir, ref)
    except PolicyError as exc:
        raise fail(str(exc), 2) from exc
    if policy_repository.get_version(session, policy.version) is None:
        if policy_repository.versions_with_label(session, policy.label):
            raise fail(f"label {policy.label} already names another stored version", 2)
        policy_repository.add_version(session, policy)
    return policy


def dedupe(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (payer) id.")] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Policy (version, label or file); default: the active one."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Match probability a pair must reach (default: the policy's review probability).",
        ),
    ] = None,
    recall: Annotated[
        float,
        typer.Option(min=0.01, max=1.0, help="Share of duplicates SSN + birth date finds."),
    ] = 0.6,
    report: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Also write the report here (.json or .html)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report only; offer nothing to stewards.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    splink_engine: EngineName = "duckdb",
    spark_master: SparkMaster = "local[2]",
    spark_checkpoint_dir: SparkCheckpointDir = None,
) -> None:
    """Find probable duplicate enrolments (splink dedupe under the policy's model) and offer
    each new cluster to stewards as a `duplicate-enrolment` review item."""
    from tqdm import tqdm

    from identity.dedupe.report import html_report, json_report, text_report
    from identity.dedupe.service import DedupeOptions, Progress, count_members, find_duplicates

    engine = chosen_engine(splink_engine, spark_master, spark_checkpoint_dir)
    settings = load_settings()
    tenant = tenant or settings.default_tenant
    factory = open_sessions(settings)
    actor = cli_actor(tenant)
    with tenant_transaction(factory, tenant) as session:
        chosen = _policy(session, tenant, policy, settings.rules_dir)
        if chosen.document.model is None or not chosen.document.comparisons:
            raise fail(f"policy {chosen.label} has no model to score pairs with", 2)
        options = DedupeOptions(
            threshold=threshold
            if threshold is not None
            else chosen.document.decision.review_probability,
            recall=recall,
            write=not dry_run,
            engine=engine,
        )
        total = count_members(session, tenant)
        with tqdm(total=total, unit="member", disable=not progress, desc="dedupe") as bar:

            def pairs_total(total: int) -> None:
                bar.reset(total=total)
                bar.unit, bar.desc = "pair", "rules"

            hooks = Progress(
                members=bar.update,
                pairs_total=pairs_total,
                pairs=bar.update,
                step=bar.set_postfix_str,
            )
            try:
                run = find_duplicates(
                    session, actor, chosen, options, now=datetime.now(UTC), progress=hooks
                )
            except ValueError as exc:
                raise fail(str(exc), 2) from exc
    typer.echo(text_report(run), nl=False)
    if report is not None:
        if report.suffix.lower() == ".html":
            report.write_text(html_report(run), encoding="utf-8")
        else:
            report.write_bytes(json_report(run))
        typer.echo(f"report: {report}")
