"""`identity purge`: remove the demographics of decisions past the retention period.

Registered in `identity.cli.main`. Run it as the tables' owner (as `identity db upgrade`), e.g.
nightly; every batch commits on its own, so it can be stopped and run again at any time.
"""

from __future__ import annotations

from typing import Annotated

import typer

from identity.cli.common import open_sessions
from identity.config import load_settings
from identity.retention import service


def purge(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Purge this tenant only (default: every one).")
    ] = None,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            metavar="DAYS",
            help="Purge decisions older than DAYS (default: IDENTITY_RETENTION_DAYS).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what is due; change nothing.")
    ] = False,
) -> None:
    """Purge stored demographics (queries, candidates' records, compared values) of old
    decisions; ids, outcomes, reasons, policy versions and the audit trail stay. Also prunes
    the member change log but each tenant's newest rows."""
    settings = load_settings()
    report = service.purge(
        open_sessions(settings),
        settings,
        tenant=tenant,
        older_than_days=older_than,
        dry_run=dry_run,
    )
    verb = "due" if dry_run else "purged"
    suffix = " (dry run: nothing changed)" if dry_run else ""
    typer.echo(f"cutoff {report.cutoff.isoformat(timespec='seconds')}{suffix}")
    for t in report.tenants:
        typer.echo(
            f"tenant {t.tenant}: {t.decisions} decision(s) {verb}, {t.review_notes} review "
            f"note(s), {t.idempotency_records} expired idempotency record(s), "
            f"{t.guard_attempts} stale guard attempt(s)"
            + "".join(f", {n} {' '.join(name.rsplit('-', 1))}" for name, n in t.old_rows)
            + f"; {t.kept_for_review} decision(s) kept while their review is open; "
            f"{t.member_changes} member change log row(s) {'due' if dry_run else 'pruned'}"
        )
    if not report.tenants:
        typer.echo("nothing is due")
