"""The retention purge: remove the demographics a decision was asked with once the retention
period has passed, leaving what was decided and why.

Purged per tenant, in batches that each commit on their own (a big table is never locked for
long; an interrupted run resumes where it stopped when run again):
- each decision older than the cutoff, unless its review item is still open or claimed (a steward
  needs the evidence): its evidence loses the query, the candidates' records and the compared
  values (`redact.redact_evidence`), its fingerprint is emptied, `purged_at` is set;
- the free-text note of its review item, if any;
- the tenant's idempotency records past their 24-hour expiry (sealed answers: tokens and, from
  before answers were cut to the minimum, demographics) and `$member-match` guard attempts older
  than the guard's window (hashes of names and birth dates), which are otherwise forgotten only
  when the same client calls again;
- rows kept for nothing once older than the cutoff (`repository.OLD_ROWS`): finished webhook
  deliveries, workbench sessions last seen before it, sign-in links expired before it;
- the member change log (`member_change`, migration 0023) but for each tenant's newest rows: as
  many as a member store reads to catch up (`store_repository.log_rows_read` of
  `IDENTITY_MEMBER_STORE_MAX_CHANGES`); a store further behind is rebuilt anyway, so pruning
  costs no running store a rebuild, and one that would need a pruned row notices and rebuilds.
Ids, outcome, reason, policy version, probabilities, rule names and the audit trail stay. Each
tenant that had anything purged gets one `retention.purge` audit event with the counts. A second
run finds nothing due and writes nothing; a dry run only counts.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import tenant_transaction, transaction
from identity.matching.evidence_render import render_evidence
from identity.member import store_repository as change_log
from identity.retention import repository
from identity.retention.redact import redact_evidence


@dataclass(frozen=True, slots=True)
class Batch:
    decisions: int
    review_notes: int
    last: repository.Position | None


@dataclass(frozen=True, slots=True)
class TenantPurge:
    tenant: str
    decisions: int  # purged (or, in a dry run, due)
    review_notes: int
    idempotency_records: int
    guard_attempts: int
    kept_for_review: int  # past the cutoff, kept while their review is open
    old_rows: tuple[tuple[str, int], ...] = ()  # (table's name, rows) of `repository.OLD_ROWS`
    member_changes: int = 0  # member change log rows pruned (or due)

    @property
    def changed(self) -> int:
        counted = self.decisions + self.review_notes + self.idempotency_records
        old = sum(n for _, n in self.old_rows) + self.member_changes
        return counted + self.guard_attempts + old


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    tenants: tuple[TenantPurge, ...]


def cutoff_for(now: datetime, older_than_days: int) -> datetime:
    return now - timedelta(days=older_than_days)


def purge_batch(
    session: Session,
    tenant: str,
    cutoff: datetime,
    *,
    after: repository.Position | None,
    limit: int,
    dry_run: bool,
    now: datetime,
) -> Batch:
    """One batch of the tenant's due decisions, in the caller's transaction (never commits)."""
    due = repository.due_decisions(
        session, tenant, cutoff, after=after, limit=limit, with_evidence=not dry_run
    )
    if not due:
        return Batch(0, 0, None)
    ids = [d.id for d in due]
    if dry_run:
        notes = repository.count_review_notes(session, tenant, ids)
    else:
        # The rendered document is redacted and stored full: a purged decision shows what it did.
        redacted = [(d.id, redact_evidence(render_evidence(d.evidence or {}))) for d in due]
        repository.redact_decisions(session, redacted, now)
        notes = repository.clear_review_notes(session, tenant, ids)
    last = due[-1]
    return Batch(len(due), notes, repository.Position(last.created_at, last.id))


@dataclass(frozen=True, slots=True)
class _Run:
    """One purge run's parameters, shared by every tenant it visits."""

    cutoff: datetime
    attempts_before: datetime
    batch_size: int
    dry_run: bool
    now: datetime
    run_id: str  # ties the run's audit events together across tenants
    keep_changes: int  # each tenant's newest member change log rows kept


def purge(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    tenant: str | None = None,
    older_than_days: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Purge every tenant due (or `tenant` alone) of what is older than `older_than_days`
    (default: `IDENTITY_RETENTION_DAYS`); each batch is its own transaction."""
    now = now or datetime.now(UTC)
    run = _Run(
        cutoff=cutoff_for(now, older_than_days or settings.retention_days),
        attempts_before=now - timedelta(seconds=settings.member_match_window_s),
        batch_size=settings.retention_batch_size,
        dry_run=dry_run,
        now=now,
        run_id=str(uuid.uuid4()),
        keep_changes=change_log.log_rows_read(settings.member_store_max_changes),
    )
    if tenant is None:
        with transaction(sessions) as session:
            due = repository.tenants_due(session, run.cutoff, now, run.attempts_before)
            logging = change_log.tenants_logging_more_than(session.connection(), run.keep_changes)
        tenants = sorted({*due, *logging})
    else:
        tenants = [tenant]
    return PurgeReport(run.cutoff, dry_run, tuple(_purge_tenant(sessions, t, run) for t in tenants))


def _purge_tenant(sessions: sessionmaker[Session], tenant: str, run: _Run) -> TenantPurge:
    cutoff, batch_size, dry_run, now = run.cutoff, run.batch_size, run.dry_run, run.now
    decisions = notes = records = attempts = changes = 0
    old: list[tuple[str, int]] = []
    with _unit(sessions, tenant) as session:
        kept = repository.count_kept_for_review(session, tenant, cutoff)
    outcome = "error"
    try:
        position: repository.Position | None = None
        while True:
            with _unit(sessions, tenant) as session:
                batch = purge_batch(
                    session,
                    tenant,
                    cutoff,
                    after=position,
                    limit=batch_size,
                    dry_run=dry_run,
                    now=now,
                )
            decisions, notes = decisions + batch.decisions, notes + batch.review_notes
            if batch.last is None:
                break
            position = batch.last
        records = _forget_idempotency_records(sessions, tenant, run)
        attempts = _forget(sessions, tenant, run, repository.GUARD_ATTEMPTS, run.attempts_before)
        for table in repository.OLD_ROWS:
            old.append((table.name, _forget(sessions, tenant, run, table, cutoff)))
        changes = prune_member_changes(
            sessions,
            tenant,
            keep=run.keep_changes,
            batch_size=CHANGE_ROWS_PER_BATCH,
            dry_run=dry_run,
        )
        outcome = "success"
    finally:
        # What was committed is recorded even when a later batch failed.
        result = TenantPurge(tenant, decisions, notes, records, attempts, kept, tuple(old), changes)
        if not dry_run and result.changed:
            with _unit(sessions, tenant) as session:
                _audit(session, result, cutoff, outcome, run.run_id)
    return result


def _forget_idempotency_records(sessions: sessionmaker[Session], tenant: str, run: _Run) -> int:
    forgotten = 0
    after: tuple[str, str] | None = None
    while True:
        with _unit(sessions, tenant) as session:
            keys = repository.expired_idempotency_keys(
                session, tenant, run.now, after=after, limit=run.batch_size
            )
            if not run.dry_run:
                repository.delete_idempotency_records(session, tenant, run.now, keys)
        if not keys:
            return forgotten
        forgotten += len(keys)
        after = keys[-1]


def _forget(
    sessions: sessionmaker[Session],
    tenant: str,
    run: _Run,
    table: repository.Forgettable,
    before: datetime,
) -> int:
    """Delete (or, in a dry run, count) the tenant's rows of `table` due before `before`, a
    batch per transaction."""
    forgotten, after = 0, None
    while True:
        with _unit(sessions, tenant) as session:
            keys = repository.due_keys(
                session, table, tenant, before, after=after, limit=run.batch_size
            )
            if not run.dry_run:
                repository.delete_keys(session, table, tenant, before, keys)
        if not keys:
            return forgotten
        forgotten, after = forgotten + len(keys), keys[-1]


# Member change log rows deleted per transaction: three small columns a row, so a batch holds
# SQLite's write lock for milliseconds.
CHANGE_ROWS_PER_BATCH = 5_000


def prune_member_changes(
    sessions: sessionmaker[Session], tenant: str, *, keep: int, batch_size: int, dry_run: bool
) -> int:
    """Delete (or, in a dry run, count) the tenant's member change log rows but its `keep`
    newest, oldest first, a batch per transaction. The cutoff is read once: rows logged
    meanwhile are newer and stay."""
    with _unit(sessions, tenant) as session:
        cutoff = change_log.prune_cutoff(session.connection(), tenant, keep)
        if not cutoff:
            return 0
        if dry_run:
            return change_log.prunable(session.connection(), tenant, cutoff)
    pruned = 0
    while True:
        with _unit(sessions, tenant) as session:
            n = change_log.prune_batch(session.connection(), tenant, cutoff, batch_size)
        pruned += n
        if n < batch_size:
            return pruned


def _audit(
    session: Session, result: TenantPurge, cutoff: datetime, outcome: str, run_id: str
) -> None:
    """Counts and the cutoff only: which decisions were purged is on the rows themselves."""
    audit.record(
        session,
        Actor(tenant=result.tenant, client_id=None, request_id=run_id),
        action="retention.purge",
        outcome=outcome,
        object_type="retention",
        object_ids=[
            f"cutoff:{cutoff.isoformat(timespec='seconds')}",
            f"decisions:{result.decisions}",
            f"review-notes:{result.review_notes}",
            f"idempotency-records:{result.idempotency_records}",
            f"guard-attempts:{result.guard_attempts}",
            *(f"{name}:{n}" for name, n in result.old_rows),
            f"member-changes:{result.member_changes}",
            f"kept-for-review:{result.kept_for_review}",
        ],
    )


def _unit(sessions: sessionmaker[Session], tenant: str) -> AbstractContextManager[Session]:
    """A transaction acting for one tenant (PostgreSQL row-level security admits its rows)."""
    return tenant_transaction(sessions, tenant)
