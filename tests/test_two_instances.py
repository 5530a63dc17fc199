"""Two service instances on one PostgreSQL, each a real uvicorn server on its own port with its
own engine, pools, rate limiter and workers (as two replicas behind a load balancer): they share
the rate limits, the idempotency keys, the bulk-match jobs and the audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import AuditEvent, BulkMatchJob, MatchDecision
from tests.bulkmatch.conftest import (
    bulk_request,
    kick_off,
    member_bundle,
    new_payer_token,
    wait_until_done,
)
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import example_member
from tests.factories import fhir_coverage, fhir_patient

# PostgreSQL only: SQLite is one process by design.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

BILL = {"patient": fhir_patient("Bill", "Chen", "1958-11-02"), "coverage": fhir_coverage("S200")}
__all__ = ["example_member"]  # the fixture: the HRex example member in the master

ANA = {"patient": fhir_patient("Ana", "Ruiz", "1990-05-06", gender="female")}


def two_instances(settings: Settings) -> Iterator[tuple[LiveServer, LiveServer]]:
    with LiveServer(settings) as a, LiveServer(settings) as b:
        assert a.port != b.port
        yield a, b


@pytest.fixture
def pair(settings: Settings, active_policy: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    yield from two_instances(settings)


def _count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_clients_rate_limit_is_reached_across_both(
    settings: Settings, active_policy: str
) -> None:
    limited = settings.model_copy(
        update={
            "rate_limit_client_per_s": 0.01,
            "rate_limit_client_burst": 4,
            "rate_limit_tenant_per_s": 100.0,
            "rate_limit_tenant_burst": 100,
        }
    )
    noisy = mint_dev_token(settings, tenant=TENANT, client_id="noisy")
    quiet = mint_dev_token(settings, tenant=TENANT, client_id="quiet")
    for a, b in two_instances(limited):
        with a.client(noisy) as on_a, b.client(noisy) as on_b:
            answers = [http.get("/v1/review-items") for http in (on_a, on_b) * 3]
            # Each instance alone would have served all three of its own: together, four.
            assert [r.status_code for r in answers] == [200, 200, 200, 200, 429, 429]
            assert [r.headers["ratelimit"] for r in answers[:4]] == [
                f'"client";r={left};t={(4 - left) * 100}' for left in (3, 2, 1, 0)
            ]
            assert int(answers[4].headers["retry-after"]) >= 1
        with a.client(quiet) as on_a, b.client(quiet) as on_b:
            assert [h.get("/v1/review-items").status_code for h in (on_a, on_b)] == [200, 200]


@pytest.mark.usefixtures("household")
def test_an_idempotency_key_used_on_one_is_honoured_on_the_other(
    pair: tuple[LiveServer, LiveServer], settings: Settings, sessions: sessionmaker[Session]
) -> None:
    a, b = pair
    token = mint_dev_token(settings, tenant=TENANT, client_id="test-client")
    key = {"Idempotency-Key": "across-instances"}
    with a.client(token) as on_a, b.client(token) as on_b:
        first = on_a.post("/v1/match", json=BILL, headers=key)
        assert first.status_code == 200, first.text
        decisions = _count(sessions, MatchDecision)
        again = on_b.post("/v1/match", json=BILL, headers=key)
        assert again.status_code == 200
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        reused = on_b.post("/v1/match", json=ANA, headers=key)
        assert reused.status_code == 422
        assert _count(sessions, MatchDecision) == decisions


@pytest.mark.usefixtures("example_member", "household")
def test_a_bulk_job_submitted_on_one_runs_once_and_reads_on_both(
    settings: Settings, active_policy: str, sessions: sessionmaker[Session]
) -> None:
    members = 8
    # Small batches: the two instances' workers both see the job while it runs.
    small = settings.model_copy(update={"bulk_match_batch_size": 2})
    body = bulk_request(
        *(
            member_bundle(
                fhir_patient(f"Given{n}", f"Family{n}", f"1990-02-{n + 1:02d}"),
                fhir_coverage(f"K{n}"),
            )
            for n in range(members)
        )
    )
    token = new_payer_token(settings)
    for a, b in two_instances(small):
        with a.client(token) as on_a, b.client(token) as on_b:
            status_path = kick_off(on_a, body)
            done_on_b = wait_until_done(on_b, status_path)
            assert done_on_b.status_code == 200, done_on_b.text
            done_on_a = on_a.get(status_path)
            assert done_on_a.status_code == 200
            assert done_on_a.json() == done_on_b.json()
    job_id = status_path.rsplit("/", 1)[1]
    with sessions() as session:
        job = session.get(BulkMatchJob, job_id)
        assert job is not None
        assert (job.status, job.processed) == ("completed", members)
    # Every member matched exactly once, whichever worker held the lease.
    member_events = _count(
        sessions,
        AuditEvent,
        AuditEvent.tenant_id == TENANT,
        AuditEvent.action.like("member-match.%"),
    )
    assert member_events == members


@pytest.mark.usefixtures("household")
def test_the_audit_chain_verifies_after_interleaved_writes(
    pair: tuple[LiveServer, LiveServer], settings: Settings, sessions: sessionmaker[Session]
) -> None:
    a, b = pair
    token = mint_dev_token(settings, tenant=TENANT, client_id="test-client")
    before = _count(sessions, AuditEvent, AuditEvent.tenant_id == TENANT)
    requests = 24
    with a.client(token) as on_a, b.client(token) as on_b:

        def match(n: int) -> int:
            http = on_a if n % 2 else on_b
            return http.post("/v1/match", json=BILL if n % 3 else ANA).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(match, range(requests)))
    assert statuses == [200] * requests
    with sessions() as session:
        seqs = list(
            session.scalars(
                select(AuditEvent.seq)
                .where(AuditEvent.tenant_id == TENANT)
                .order_by(AuditEvent.seq)
            )
        )
        report = audit.verify(session, TENANT)
    assert len(seqs) >= before + requests  # one event per match at least
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no fork, no duplicate
    assert report.intact
    assert report.events == len(seqs)
