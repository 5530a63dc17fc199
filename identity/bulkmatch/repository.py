"""All SQL for $bulk-member-match jobs and their members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, text, update
from sqlalchemy.orm import Session

from identity.models import BulkMatchJob, BulkMatchMember

RUNNABLE = ("queued", "running")
FINISHED = ("completed", "failed")


@dataclass(frozen=True, slots=True)
class DueJob:
    job_id: str
    tenant: str
    due: str  # run | expire


def add_job(session: Session, job: BulkMatchJob, inputs: Sequence[list[Any]]) -> None:
    session.add(job)
    session.flush()
    # Core executemany: one statement for all members, without an ORM object per row.
    session.execute(
        insert(BulkMatchMember),
        [
            {"job_id": job.id, "seq": seq, "tenant_id": job.tenant_id, "input": parts}
            for seq, parts in enumerate(inputs)
        ],
    )


def get_job(
    session: Session, tenant: str, job_id: str, *, lock: bool = False
) -> BulkMatchJob | None:
    """With `lock`, the job's row is locked until the transaction ends (PostgreSQL): whoever
    changes a job takes this lock first, the worker for each batch too, so a DELETE waits for
    the batch in hand instead of deadlocking with it over the members' rows."""
    query = select(BulkMatchJob).where(BulkMatchJob.tenant_id == tenant, BulkMatchJob.id == job_id)
    return session.scalar(query.with_for_update() if lock else query)


def due_jobs(session: Session, now: datetime) -> list[DueJob]:
    """Jobs that need a worker, oldest first, in every tenant: to run (queued, or running under
    a lapsed lease) or to delete (finished, retention over).

    On PostgreSQL through a SECURITY DEFINER function: the application role sees one tenant's
    rows at a time (row-level security), and this answer carries ids only."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text("SELECT * FROM identity_bulk_match_due(:at)"), {"at": now})
        return [DueJob(job_id, tenant, due) for job_id, tenant, due in rows]
    found = session.execute(
        select(BulkMatchJob.id, BulkMatchJob.tenant_id, BulkMatchJob.status)
        .where(
            or_(
                BulkMatchJob.status == "queued",
                (BulkMatchJob.status == "running")
                & (BulkMatchJob.lease_until.is_(None) | (BulkMatchJob.lease_until < now)),
                BulkMatchJob.status.in_(FINISHED) & (BulkMatchJob.expires_at < now),
            )
        )
        .order_by(BulkMatchJob.created_at)
        .limit(100)
    )
    return [
        DueJob(job_id, tenant, "expire" if status in FINISHED else "run")
        for job_id, tenant, status in found
    ]


def claim(
    session: Session, tenant: str, job_id: str, owner: str, now: datetime, until: datetime
) -> bool:
    """Take the job if it is still free (compare-and-set: of two workers, one wins)."""
    taken = session.execute(
        update(BulkMatchJob)
        .where(
            BulkMatchJob.tenant_id == tenant,
            BulkMatchJob.id == job_id,
            or_(
                BulkMatchJob.status == "queued",
                (BulkMatchJob.status == "running")
                & (BulkMatchJob.lease_until.is_(None) | (BulkMatchJob.lease_until < now)),
            ),
        )
        .values(status="running", lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(taken, "rowcount", 0) == 1)


def held_job(session: Session, tenant: str, job_id: str, owner: str) -> BulkMatchJob | None:
    """The job, if this worker still holds it; on PostgreSQL its row stays locked until the
    transaction ends, so a DELETE of the job waits for the batch instead of racing it."""
    return session.scalar(
        select(BulkMatchJob)
        .where(
            BulkMatchJob.tenant_id == tenant,
            BulkMatchJob.id == job_id,
            BulkMatchJob.status == "running",
            BulkMatchJob.lease_owner == owner,
        )
        .with_for_update()
    )


def pending_members(
    session: Session, tenant: str, job_id: str, from_seq: int, limit: int
) -> list[tuple[int, list[Any]]]:
    """The next members to match, in order: (seq, parts). Members are matched in seq order and
    `processed` advances with their results, so the next ones start at `processed`."""
    rows = session.execute(
        select(BulkMatchMember.seq, BulkMatchMember.input)
        .where(
            BulkMatchMember.tenant_id == tenant,
            BulkMatchMember.job_id == job_id,
            BulkMatchMember.seq >= from_seq,
        )
        .order_by(BulkMatchMember.seq)
        .limit(limit)
    )
    return [(seq, parts or []) for seq, parts in rows]


def store_results(session: Session, job_id: str, results: Sequence[dict[str, Any]]) -> None:
    """Each member's result with its input cleared, as one executemany by primary key.
    `results` rows: seq, result, outcome, match_id, token, patient."""
    if results:
        session.execute(
            update(BulkMatchMember), [{"job_id": job_id, "input": None, **r} for r in results]
        )


def clear_inputs(session: Session, tenant: str, job_id: str) -> None:
    """No member input outlives its job's run (a failed job's unmatched members included)."""
    session.execute(
        update(BulkMatchMember)
        .where(
            BulkMatchMember.tenant_id == tenant,
            BulkMatchMember.job_id == job_id,
            BulkMatchMember.input.is_not(None),
        )
        .values(input=None)
        .execution_options(synchronize_session=False)
    )


def results_page(
    session: Session, tenant: str, job_id: str, first_seq: int, limit: int
) -> list[BulkMatchMember]:
    return list(
        session.scalars(
            select(BulkMatchMember)
            .where(
                BulkMatchMember.tenant_id == tenant,
                BulkMatchMember.job_id == job_id,
                BulkMatchMember.seq >= first_seq,
                BulkMatchMember.result.is_not(None),
            )
            .order_by(BulkMatchMember.seq)
            .limit(limit)
        )
    )


def delete_job(session: Session, tenant: str, job_id: str) -> None:
    session.execute(
        delete(BulkMatchMember).where(
            BulkMatchMember.tenant_id == tenant, BulkMatchMember.job_id == job_id
        )
    )
    session.execute(
        delete(BulkMatchJob).where(BulkMatchJob.tenant_id == tenant, BulkMatchJob.id == job_id)
    )
