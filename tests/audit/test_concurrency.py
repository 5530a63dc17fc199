"""Concurrent appends of one tenant chain in order: no fork, no gap, no duplicate seq."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import repository, service
from identity.db import transaction
from identity.models import AuditEvent
from tests.audit.conftest import actor

THREADS = 6
APPENDS = 15


def test_concurrent_appends_make_one_gapless_chain(sessions: sessionmaker[Session]) -> None:
    # A brand-new tenant, so the threads also race to create its chain head.
    tenant = "busy-payer"
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait()
            for n in range(APPENDS):
                with transaction(sessions) as session:
                    who = actor(tenant, client=f"client-{worker}", request=f"{worker}-{n}")
                    service.record(session, who, action="match.create", outcome="success")
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures

    with sessions() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        report = service.verify(session, tenant)
    assert seqs == list(range(1, THREADS * APPENDS + 1))
    assert report.intact
    assert report.events == THREADS * APPENDS


def test_a_long_chain_is_read_in_batches(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        for _ in range(7):
            service.record(session, actor(), action="review.list", outcome="success")
    with sessions() as session:
        read = [e.fields.seq for e in repository.stored_events(session, actor().tenant, batch=3)]
        after = [
            e.fields.seq for e in repository.stored_events(session, actor().tenant, after_seq=5)
        ]
    assert read == [1, 2, 3, 4, 5, 6, 7]
    assert after == [6, 7]
