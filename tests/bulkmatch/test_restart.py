"""Jobs survive a restart, on both databases. A worker asked to stop (the service shutting down)
commits the batch in hand and hands its job back as queued; one that dies leaves its lease to
lapse. Either way the next worker resumes the job where it stopped: every member matched exactly
once, none skipped."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.bulkmatch import runner
from identity.config import Settings
from identity.models import AuditEvent, BulkMatchJob, BulkMatchMember
from tests.bulkmatch.conftest import (
    bulk_request,
    kick_off,
    member_bundle,
    new_payer_token,
    wait_until_done,
)
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

pytestmark = pytest.mark.usefixtures("example_member", "household")
MEMBERS = 6


def _strangers() -> dict[str, Any]:
    """Different people (so the brute-force guard never counts them together)."""
    return bulk_request(
        *(
            member_bundle(
                fhir_patient(f"Given{n}", f"Family{n}", f"1990-01-{n + 1:02d}"),
                fhir_coverage(f"C{n}"),
            )
            for n in range(MEMBERS)
        )
    )


def _job(sessions: sessionmaker[Session], job_id: str) -> BulkMatchJob:
    with sessions() as session:
        job = session.get(BulkMatchJob, job_id)
        assert job is not None
        return job


def _member_events(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.tenant_id == TENANT, AuditEvent.action.like("member-match.%"))
            )
            or 0
        )


def test_a_shutdown_mid_job_hands_it_back_and_the_next_start_resumes_it(
    settings: Settings,
    active_policy: str,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_batches = settings.model_copy(update={"bulk_match_batch_size": 2})
    token = new_payer_token(settings)
    real_batch = runner.run_batch
    batches = 0

    with LiveServer(small_batches) as server, server.client(token) as http:
        worker = server.server.config.app.state.bulk_worker

        def held_after_the_first_batch(*args: Any, **kwargs: Any) -> runner.Progress:
            # The second batch starts only once shutdown has begun: it is the batch in hand.
            nonlocal batches
            batches += 1
            if batches == 2:
                assert worker.wait_for_stop(30)
            return real_batch(*args, **kwargs)

        monkeypatch.setattr(runner, "run_batch", held_after_the_first_batch)
        status_path = kick_off(http, _strangers())
        job_id = status_path.rsplit("/", 1)[1]
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while (
            http.get(status_path).headers.get("x-progress")
            != f"running: 2 of {MEMBERS} members matched"
        ):
            assert datetime.now(UTC) < deadline
            time.sleep(0.05)
    monkeypatch.setattr(runner, "run_batch", real_batch)

    job = _job(sessions, job_id)
    # The batch in hand was finished and committed, then the job handed back.
    assert (job.status, job.processed, job.lease_owner) == ("queued", 4, None)
    with sessions() as session:
        rows = session.scalars(
            select(BulkMatchMember)
            .where(BulkMatchMember.job_id == job_id)
            .order_by(BulkMatchMember.seq)
        ).all()
    assert [r.result is not None for r in rows] == [True] * 4 + [False] * 2
    assert [r.input is None for r in rows] == [True] * 4 + [False] * 2
    assert _member_events(sessions) == 4

    with LiveServer(settings) as server, server.client(token) as http:
        assert wait_until_done(http, status_path).status_code == 200
    assert _job(sessions, job_id).processed == MEMBERS
    assert _member_events(sessions) == MEMBERS  # each member matched exactly once


def test_a_job_whose_worker_died_is_resumed_when_its_lease_lapses(
    settings: Settings, active_policy: str, sessions: sessionmaker[Session]
) -> None:
    idle = settings.model_copy(update={"bulk_match_worker": False})
    token = new_payer_token(settings)
    with LiveServer(idle) as server, server.client(token) as http:
        status_path = kick_off(http, _strangers())
    job_id = status_path.rsplit("/", 1)[1]
    # As a dead worker leaves it: running, under a lease of someone else's.
    with sessions() as session:
        session.execute(
            update(BulkMatchJob)
            .where(BulkMatchJob.id == job_id)
            .values(
                status="running",
                lease_owner="a-worker-that-died",
                lease_until=datetime.now(UTC) + timedelta(seconds=3),
            )
        )
        session.commit()
    with LiveServer(settings) as server, server.client(token) as http:
        r = http.get(status_path)
        assert (r.status_code, r.headers["x-progress"]) == (
            202,
            f"running: 0 of {MEMBERS} members matched",
        )
        assert wait_until_done(http, status_path).status_code == 200  # after the lease lapsed
    assert _member_events(sessions) == MEMBERS


def test_a_job_that_cannot_run_fails_and_says_so(
    settings: Settings, sessions: sessionmaker[Session], example_member: None
) -> None:
    """No policy is active for the tenant: the job fails (500 OperationOutcome with the reason
    code), its inputs are dropped, and there is no output."""
    token = new_payer_token(settings)
    with LiveServer(settings) as server, server.client(token) as http:
        status_path = kick_off(http, _strangers())
        r = wait_until_done(http, status_path)
        assert r.status_code == 500
        assert r.json()["issue"][0]["diagnostics"] == "reason: unavailable"
        assert http.get(f"{status_path}/output/1").status_code == 404
    job_id = status_path.rsplit("/", 1)[1]
    with sessions() as session:
        inputs = session.scalars(
            select(BulkMatchMember.input).where(BulkMatchMember.job_id == job_id)
        )
        assert all(i is None for i in inputs)


def test_results_are_deleted_when_their_retention_ends(
    settings: Settings, active_policy: str, sessions: sessionmaker[Session]
) -> None:
    token = new_payer_token(settings)
    with LiveServer(settings) as server, server.client(token) as http:
        status_path = kick_off(http, _strangers())
        assert wait_until_done(http, status_path).status_code == 200
    job_id = status_path.rsplit("/", 1)[1]
    with sessions() as session:
        session.execute(
            update(BulkMatchJob)
            .where(BulkMatchJob.id == job_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    with LiveServer(settings) as server, server.client(token) as http:
        assert http.get(status_path).status_code == 404  # gone to the client at once
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while True:  # and soon from the database
            with sessions() as session:
                left = session.scalar(
                    select(func.count())
                    .select_from(BulkMatchMember)
                    .where(BulkMatchMember.job_id == job_id)
                )
                if session.get(BulkMatchJob, job_id) is None and left == 0:
                    break
            assert datetime.now(UTC) < deadline
            time.sleep(0.2)
