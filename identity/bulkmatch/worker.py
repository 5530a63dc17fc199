"""The bulk-match worker: one background thread per service process, started and stopped by the
app's lifespan.

Why a long-lived worker rather than a thread per request: the jobs live in the database, so a
job outlives the request that started it and the process that ran it. A worker that looks in the
database (woken at once by a kick-off in its own process, else every `bulk_match_poll_s`) picks
up what a restart left behind, runs one job at a time per process whatever the number of
kick-offs (a burst of bulk requests cannot starve the single requests of CPU or connections), and
several processes share the work through leases.

Restarts: a worker asked to stop finishes the batch in hand (committed), then hands its job back
as queued; the next worker resumes it where it stopped. A worker that dies without stopping
leaves its job running under a lease that lapses after `bulk_match_lease_s`; then any worker
resumes it the same way. No job is marked failed by a restart.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import uuid
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from identity.bulkmatch import repository, runner
from identity.config import Settings
from identity.db import tenant_transaction, transaction
from identity.errors import IdentityError
from identity.logging_setup import get_logger
from identity.policy.cache import MatcherCache
from identity.polling import poll_until_stopped

log = get_logger("identity.bulkmatch")

# A database that is briefly unavailable (locked, restarting) is retried this many times before
# the job is failed; each retry waits one poll interval.
TRANSIENT_RETRIES = 3
# SQLite has one writer at a time, and a batch holds the write lock from its first member to its
# commit. This process's own requests queue for it in arrival order (identity/sqlite_writer.py),
# so they get their turn between two batches without any pause. Another process (a second
# server, `identity members load`) waits in SQLite's busy handler, which looks again at most every
# 100 ms: the worker leaves it a window longer than that at least every SQLITE_PAUSE_EVERY_S of
# holding the lock, well inside the 5 s busy timeout. PostgreSQL locks rows and needs no pause.
SQLITE_PAUSE_S = 0.12
SQLITE_PAUSE_EVERY_S = 2.0


class BulkMatchWorker:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        matchers: MatcherCache,
        settings: Settings,
    ) -> None:
        self._sessions = session_factory
        self._matchers = matchers
        self._settings = settings
        self.owner = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._helpers: ProcessPoolExecutor | None = None
        bind = session_factory.kw.get("bind")
        sqlite = bind is not None and bind.dialect.name == "sqlite"
        self._pause_s = SQLITE_PAUSE_S if sqlite else 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bulk-match-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the worker to stop after its current batch, and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("bulk_match_worker_still_running", owner=self.owner)
        self._drop_helpers(wait=True)

    def _drop_helpers(self, *, wait: bool) -> None:
        if self._helpers is not None:
            self._helpers.shutdown(wait=wait, cancel_futures=True)
            self._helpers = None

    def _helper_pool(self) -> Executor | None:
        """The helper processes, started with the first job (spawned, not forked: this process
        runs threads) and kept until the worker stops; None when configured without."""
        count = self._settings.bulk_match_helper_processes
        if count and self._helpers is None:
            self._helpers = ProcessPoolExecutor(
                max_workers=count, mp_context=multiprocessing.get_context("spawn")
            )
        return self._helpers

    def wait_for_stop(self, timeout_s: float) -> bool:
        """Block until asked to stop (True) or the timeout passes (False)."""
        return self._stop.wait(timeout_s)

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        poll_until_stopped(
            stop=self._stop,
            wake=self._wake,
            run_once=self.run_once,
            poll_s=self._settings.bulk_match_poll_s,
            log=log,
            error_event="bulk_match_worker_error",
        )

    def _tenant_session(self, tenant: str) -> AbstractContextManager[Session]:
        return tenant_transaction(self._sessions, tenant)

    def run_once(self) -> bool:
        """Expire what is due, then run the oldest job this worker can claim to its end (or
        until asked to stop). True when a job was run."""
        now = datetime.now(UTC)
        with transaction(self._sessions) as session:
            due = repository.due_jobs(session, now)
        for job in due:
            if self._stop.is_set():
                return False
            if job.due == "expire":
                with self._tenant_session(job.tenant) as session:
                    runner.expire(session, job.tenant, job.job_id, now=now)
                continue
            with self._tenant_session(job.tenant) as session:
                claimed = runner.claim(
                    session,
                    job.tenant,
                    job.job_id,
                    self.owner,
                    lease_s=self._settings.bulk_match_lease_s,
                    now=now,
                )
            if claimed:
                self._run_job(job.tenant, job.job_id)
                return True
        return False

    def _run_job(self, tenant: str, job_id: str) -> None:
        log.info("bulk_match_job_running", job_id=job_id, owner=self.owner)
        transient = 0
        paused_at = time.monotonic()
        while True:
            if self._stop.is_set():
                with self._tenant_session(tenant) as session:
                    runner.release(session, tenant, job_id, self.owner)
                log.info("bulk_match_job_released", job_id=job_id)
                return
            try:
                with self._tenant_session(tenant) as session:
                    progress = runner.run_batch(
                        session,
                        tenant,
                        job_id,
                        self.owner,
                        self._matchers,
                        settings=self._settings,
                        helpers=self._helper_pool(),
                    )
                transient = 0
            except (OperationalError, PoolTimeout, BrokenExecutor) as exc:
                if isinstance(exc, BrokenExecutor):
                    # A helper process died (killed, out of memory): the batch rolled back;
                    # start new helpers and try it again like any transient failure.
                    self._drop_helpers(wait=False)
                transient += 1
                log.warning("bulk_match_batch_retry", job_id=job_id, error=type(exc).__name__)
                if transient <= TRANSIENT_RETRIES:
                    self._stop.wait(self._settings.bulk_match_poll_s)
                    continue
                self._fail(tenant, job_id, "unavailable")
                return
            except Exception as exc:  # noqa: BLE001 - a job's failure must not end the worker
                # The type only: an exception's text can carry member data.
                log.error("bulk_match_job_failed", job_id=job_id, error=type(exc).__name__)
                code = exc.code if isinstance(exc, IdentityError) else "internal"
                self._fail(tenant, job_id, code)
                return
            if progress is not runner.Progress.MORE:
                log.info("bulk_match_job_" + progress.value, job_id=job_id)
                return
            if self._pause_s and time.monotonic() - paused_at >= SQLITE_PAUSE_EVERY_S:
                self._stop.wait(self._pause_s)
                paused_at = time.monotonic()

    def _fail(self, tenant: str, job_id: str, code: str) -> None:
        try:
            with self._tenant_session(tenant) as session:
                runner.fail(session, tenant, job_id, self.owner, code, settings=self._settings)
        except Exception as exc:  # noqa: BLE001 - its lease lapses and another worker retries
            log.error("bulk_match_job_fail_not_recorded", job_id=job_id, error=type(exc).__name__)
