"""The worker's side of a $bulk-member-match job: claim it, match its members a batch at a time,
finish it (or fail it, or hand it back), and delete it when its retention ends.

A batch's members go through `exchange.batch.member_match_batch`, the set-based form of the single
$member-match use case: consent, the brute-force guard, review, tokens and audit behave exactly as
for one request after another. A batch is one transaction: its members' decisions, tokens and
audit events, their results, their inputs cleared and the job's progress commit together, or none
of them does. That is what makes a job resumable: after a crash or a shutdown the next worker
starts at `processed`, and no member is matched twice or skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.bulkmatch import repository, service
from identity.clients.organization import OrgIdentifier
from identity.config import Settings
from identity.exchange import batch
from identity.exchange import service as exchange
from identity.exchange.outcomes import ConsentInvalid
from identity.fhir.bulk_member_match import (
    CONSENT,
    MATCH,
    NOMATCH,
    as_parameters,
    contained_id,
    patient_copy,
)
from identity.fhir.member_match import parse_member_match
from identity.idempotency.sealing import load_or_create_sealer, seal_text
from identity.models import BulkMatchJob
from identity.policy.cache import MatcherCache

# Members matched together (set-based reads, one executemany per table); a batch's transaction
# may stop between slices when it has run for `bulk_match_batch_s`.
SLICE = 250


class Progress(Enum):
    MORE = "more"  # a batch was matched; more remain
    DONE = "done"  # the job is complete
    LOST = "lost"  # the job is no longer ours (deleted, or another worker took it over)


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    result: str  # MATCH | NOMATCH | CONSENT
    outcome: str  # "matched" or the refusal's code
    match_id: str | None
    token: str | None


def claim(
    session: Session, tenant: str, job_id: str, owner: str, *, lease_s: int, now: datetime
) -> bool:
    return repository.claim(session, tenant, job_id, owner, now, now + timedelta(seconds=lease_s))


def match_members(
    session: Session,
    actor: Actor,
    caller: Principal,
    matchers: MatcherCache,
    inputs: Sequence[list[Any]],
    *,
    settings: Settings,
    today: date,
    now: datetime,
    helpers: Executor | None = None,
) -> list[MemberOutcome]:
    """MemberBundles as single $member-matches, answered together (`exchange.batch`): each
    member's answer, decision, token and audit event as if asked one after another. Matched →
    matched; a consent that cannot be honoured → consent-constrained; anything else (no match,
    several, pending review, a request lacking what a match needs, too many cards for these
    demographics) → not matched."""
    # Each member parsed once; the problems of one that cannot be matched are not kept.
    requests = [parse_member_match(as_parameters(parts), today)[0] for parts in inputs]
    answers = batch.member_match_batch(
        session,
        actor,
        caller,
        matchers,
        requests,
        settings=settings,
        today=today,
        now=now,
        helpers=helpers,
        helper_count=settings.bulk_match_helper_processes if helpers is not None else 0,
    )
    outcomes = []
    for answer in answers:
        if isinstance(answer, exchange.Matched):
            outcomes.append(MemberOutcome(MATCH, "matched", answer.match_id, answer.token))
            continue
        group = CONSENT if isinstance(answer.refusal, ConsentInvalid) else NOMATCH
        outcomes.append(MemberOutcome(group, answer.refusal.code, answer.match_id, None))
    return outcomes


def job_actor(job: BulkMatchJob) -> Actor:
    """Who the members' events are about: the requesting client, under the kick-off's request
    id, so the trail ties every member's match to the request that asked for it."""
    return Actor(tenant=job.tenant_id, client_id=job.client_id, request_id=job.request_id)


def job_caller(job: BulkMatchJob) -> Principal:
    """The requester as it was at kick-off; its organisation is what consents must name."""
    org = None
    if job.organization_system and job.organization_value:
        org = OrgIdentifier(job.organization_system, job.organization_value)
    return Principal(
        client_id=job.client_id,
        tenant=job.tenant_id,
        scopes=frozenset({Scope.MATCH.value}),
        token_id=f"bulk-match-job:{job.id}"[:64],
        issuer="identity:bulk-match-worker",
        organization=org,
    )


def run_batch(
    session: Session,
    tenant: str,
    job_id: str,
    owner: str,
    matchers: MatcherCache,
    *,
    settings: Settings,
    now: datetime | None = None,
    helpers: Executor | None = None,
) -> Progress:
    """Match the job's next batch of members and record the progress, in the session's
    transaction; completes the job when its last member is done. `helpers`: the worker's
    helper processes (`bulk_match_helper_processes`), if it has any."""
    now = now or datetime.now(UTC)
    job = repository.held_job(session, tenant, job_id, owner)
    if job is None:
        return Progress.LOST
    if job.started_at is None:
        job.started_at = now
    batch = repository.pending_members(
        session, tenant, job_id, job.processed, settings.bulk_match_batch_size
    )
    actor, caller, today = job_actor(job), job_caller(job), now.date()
    rows: list[dict[str, Any]] = []
    # The members' audit events are appended together at the end of the batch: one lock of the
    # tenant's chain head per batch rather than one per event, held for the append only.
    deadline = time.monotonic() + settings.bulk_match_batch_s
    sealer = load_or_create_sealer(settings.data_key_file)
    with audit.deferred(session):
        for first in range(0, len(batch), SLICE):
            if rows and time.monotonic() > deadline:
                break  # the rest of the batch goes in the next transaction
            members = batch[first : first + SLICE]
            done = match_members(
                session,
                actor,
                caller,
                matchers,
                [parts for _, parts in members],
                settings=settings,
                today=today,
                now=now,
                helpers=helpers,
            )
            for (seq, parts), outcome in zip(members, done, strict=True):
                rows.append(
                    {
                        "seq": seq,
                        "result": outcome.result,
                        "outcome": outcome.outcome,
                        "match_id": outcome.match_id,
                        # Sealed: a token the requester has yet to collect is never in clear.
                        "token": seal_text(sealer, outcome.token, f"{job_id}:{seq}")
                        if outcome.token
                        else None,
                        "patient": patient_copy(parts, contained_id(seq)),
                    }
                )
    repository.store_results(session, job_id, rows)
    job.processed += len(rows)
    job.matched += sum(r["result"] == MATCH for r in rows)
    job.not_matched += sum(r["result"] == NOMATCH for r in rows)
    job.consent_constrained += sum(r["result"] == CONSENT for r in rows)
    job.lease_until = now + timedelta(seconds=settings.bulk_match_lease_s)
    if rows and job.processed < job.total:
        return Progress.MORE
    _finish(session, job, "completed", None, settings=settings, now=now)
    return Progress.DONE


def release(session: Session, tenant: str, job_id: str, owner: str) -> None:
    """Hand an unfinished job back (the worker is stopping): queued again, resumed at once by
    the next worker to look, here or in another process."""
    job = repository.held_job(session, tenant, job_id, owner)
    if job is not None:
        job.status, job.lease_owner, job.lease_until = "queued", None, None


def fail(
    session: Session,
    tenant: str,
    job_id: str,
    owner: str,
    error: str,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """Give up on a job (an error that is not a member's): its members matched so far keep
    their results, the rest are dropped with every input."""
    job = repository.held_job(session, tenant, job_id, owner)
    if job is not None:
        _finish(session, job, "failed", error, settings=settings, now=now or datetime.now(UTC))


def _finish(
    session: Session,
    job: BulkMatchJob,
    status: str,
    error: str | None,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    job.status, job.error = status, error[:48] if error else None
    job.finished_at = now
    job.expires_at = now + timedelta(seconds=settings.bulk_match_retention_s)
    job.lease_owner, job.lease_until = None, None
    repository.clear_inputs(session, job.tenant_id, job.id)
    audit.record(
        session,
        job_actor(job),
        action="bulk-match.complete" if status == "completed" else "bulk-match.fail",
        outcome="success" if status == "completed" else "error",
        object_type=service.OBJECT_TYPE,
        object_ids=[job.id],
    )


def expire(session: Session, tenant: str, job_id: str, *, now: datetime | None = None) -> None:
    """Delete a finished job whose retention is over, with its results (tokens, Patients)."""
    now = now or datetime.now(UTC)
    job = repository.get_job(session, tenant, job_id, lock=True)
    if job is None or job.status not in repository.FINISHED or job.expires_at is None:
        return
    if service.aware(job.expires_at) > now:
        return
    repository.delete_job(session, tenant, job_id)
    audit.record(
        session,
        Actor(tenant=tenant, client_id=None, request_id=None),
        action="bulk-match.expire",
        outcome="success",
        object_type=service.OBJECT_TYPE,
        object_ids=[job_id],
    )
