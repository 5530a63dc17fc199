"""$bulk-member-match use cases at the HTTP edge: start a job, read its status and its outputs,
delete it. Each joins the caller's transaction, only flushes, and audits (ids only).

A job belongs to the client that started it: to anyone else (another client of the tenant, or
another tenant) it does not exist, and the answer is the same 404 as for an id never issued.
The matching itself happens in `runner`, on the worker thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.bulkmatch import repository
from identity.errors import NotFound
from identity.fhir.bulk_member_match import MemberResult
from identity.idempotency.sealing import Sealer, open_text
from identity.models import BulkMatchJob

OBJECT_TYPE = "bulk_match_job"


@dataclass(frozen=True, slots=True)
class OutputPage:
    job: BulkMatchJob
    members: list[MemberResult]


def job_path(job_id: str) -> str:
    return f"/fhir/bulk-member-match-jobs/{job_id}"


def output_path(job_id: str, page: int) -> str:
    return f"{job_path(job_id)}/output/{page}"


def output_pages(job: BulkMatchJob, page_size: int) -> int:
    return max(1, -(-job.total // page_size))


def start(
    session: Session,
    actor: Actor,
    caller: Principal,
    bundles: Sequence[list[Any]],
    *,
    now: datetime,
) -> BulkMatchJob:
    """Store a queued job with its members' input (for the worker), audited as started."""
    org = caller.organization
    job = BulkMatchJob(
        id=str(uuid.uuid4()),
        tenant_id=actor.tenant,
        client_id=actor.client_id or "",
        organization_system=org.system if org else None,
        organization_value=org.value if org else None,
        request_id=actor.request_id,
        status="queued",
        total=len(bundles),
        processed=0,
        matched=0,
        not_matched=0,
        consent_constrained=0,
        created_at=now,
    )
    repository.add_job(session, job, bundles)
    _audit(session, actor, "bulk-match.start", job.id)
    return job


def _own_job(
    session: Session, actor: Actor, job_id: str, now: datetime, *, lock: bool = False
) -> BulkMatchJob:
    job = repository.get_job(session, actor.tenant, job_id, lock=lock)
    if (
        job is None
        or job.client_id != actor.client_id
        or (job.expires_at is not None and aware(job.expires_at) <= now)
    ):
        raise NotFound("no bulk member match job with that id")
    return job


def status(session: Session, actor: Actor, job_id: str, *, now: datetime) -> BulkMatchJob:
    """The job, its completion manifest read audited. A poll of a job still queued or running
    discloses no member (only how many are done) and writes nothing: clients poll every few
    seconds, and on SQLite each poll's audit write would queue behind the worker's batch, which
    holds the one write lock (a poll answered 503 under load)."""
    job = _own_job(session, actor, job_id, now)
    if job.status not in repository.RUNNABLE:
        _audit(session, actor, "bulk-match.status", job.id)
    return job


def output(
    session: Session,
    actor: Actor,
    job_id: str,
    page: int,
    *,
    page_size: int,
    now: datetime,
    sealer: Sealer,
) -> OutputPage:
    """One output of a completed job: the results of members [(page-1)·size, page·size)."""
    job = _own_job(session, actor, job_id, now)
    if job.status != "completed" or not 1 <= page <= output_pages(job, page_size):
        raise NotFound("no such output")
    rows = repository.results_page(session, actor.tenant, job.id, (page - 1) * page_size, page_size)
    members = [
        MemberResult(
            r.seq,
            r.result or "nomatch",
            open_text(sealer, r.token, f"{job.id}:{r.seq}") if r.token else None,
            r.patient or {},
        )
        for r in rows
    ]
    _audit(session, actor, "bulk-match.result", job.id)
    return OutputPage(job, members)


def delete(session: Session, actor: Actor, job_id: str, *, now: datetime) -> None:
    """Cancel a job (its worker stops at its next batch) or delete a finished one's results.
    Tokens already issued stay valid until they expire, but nobody holds them: they were only
    ever in the results deleted here."""
    job = _own_job(session, actor, job_id, now, lock=True)
    repository.delete_job(session, actor.tenant, job.id)
    _audit(session, actor, "bulk-match.delete", job.id)


def _audit(session: Session, actor: Actor, action: str, job_id: str) -> None:
    audit.record(
        session,
        actor,
        action=action,
        outcome="success",
        object_type=OBJECT_TYPE,
        object_ids=[job_id],
    )


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored as UTC); comparisons and FHIR instants need
    the zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
