"""SQLite's writers queue in the process, first come first served, instead of polling SQLite's
busy handler: many concurrent write transactions all commit, in the order they asked."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction
from identity.models import AuditEvent
from identity.sqlite_writer import FifoLock, QueuedWriterConnection, lock_for
from tests.conftest import TENANT, service_settings

WRITERS = 12  # fewer than the pool's connections, so the order is decided by the queue alone
HOLD_S = 0.03  # each transaction keeps the write lock this long, so the others must queue


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_template: Path, key_dir: Path) -> Settings:
    db = tmp_path / "writers.db"
    db.write_bytes(sqlite_template.read_bytes())
    return service_settings(f"sqlite:///{db}", key_dir)


def test_concurrent_writers_all_commit_in_arrival_order(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings)
    sessions = make_session_factory(engine)
    failures: list[BaseException] = []
    committed: list[int] = []
    first_write = threading.Event()

    def writer(n: int) -> None:
        try:
            with transaction(sessions) as session:
                # The first write takes the writer's turn; the audit append then reads and moves
                # the tenant's chain head under it, as a request does.
                audit.record(
                    session,
                    Actor(tenant=TENANT, client_id=f"c{n}", request_id=f"r{n}"),
                    action="match.create",
                    outcome="success",
                )
                first_write.set()
                time.sleep(HOLD_S)
                committed.append(n)
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for n, thread in enumerate(threads):
        thread.start()
        if n == 0:
            assert first_write.wait(5)  # writer 0 holds the lock: every later one must queue
        else:
            time.sleep(0.005)  # arrive one after another, so the arrival order is known
    for thread in threads:
        thread.join(timeout=60)

    assert not failures, failures  # no "database is locked", no 503
    assert committed == list(range(WRITERS))  # first come, first served
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == WRITERS
        assert audit.verify(session).intact  # one chain, no fork, no gap
    assert lock_for(str(engine.url.database)).queued == 0
    engine.dispose()


def test_reads_do_not_queue_behind_a_writer(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings)
    sessions = make_session_factory(engine)
    with transaction(sessions) as writer:
        writer.execute(text("INSERT INTO audit_chain_head VALUES ('x', 0, 'g')"))
        with sessions() as reader:  # another connection: WAL lets it read meanwhile
            # A read that queued would wait for the writer's commit, past the lock's timeout.
            assert reader.scalar(text("SELECT count(*) FROM audit_chain_head")) == 0
    engine.dispose()


def test_a_failed_transaction_hands_the_turn_on(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings)
    sessions = make_session_factory(engine)
    insert = text("INSERT INTO audit_chain_head (tenant_id, seq, hash) VALUES ('y', 0, 'g')")

    def fail_after_first_write() -> None:
        with transaction(sessions) as session:
            session.execute(insert)
            raise RuntimeError("the request failed after its first write")

    with pytest.raises(RuntimeError):
        fail_after_first_write()
    with transaction(sessions) as session:  # would wait 5 s and fail if the turn were kept
        session.execute(insert)
    lock = lock_for(str(engine.url.database))
    assert lock.acquire(timeout=0.1)  # free again after the commit
    lock.release()
    engine.dispose()


def test_only_sqlite_files_queue(settings: Settings) -> None:
    engine = make_engine(settings)
    with engine.connect() as conn:
        queued = isinstance(conn.connection.dbapi_connection, QueuedWriterConnection)
    assert queued == (engine.dialect.name == "sqlite")
    engine.dispose()


def test_fifo_lock_grants_in_order_and_times_out() -> None:
    lock = FifoLock()
    assert lock.acquire(timeout=0.1)
    order: list[int] = []

    def waiter(n: int) -> None:
        assert lock.acquire(timeout=5)
        order.append(n)
        lock.release()

    threads = [threading.Thread(target=waiter, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    assert lock.queued == 5
    assert FifoLock().acquire(timeout=0)  # a free lock is granted at once
    late = FifoLock()
    assert late.acquire(timeout=0.1)
    assert not late.acquire(timeout=0.05)  # held: the second asker gives up, and is not queued
    assert late.queued == 0
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]
