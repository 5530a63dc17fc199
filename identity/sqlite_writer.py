"""SQLite's one writer, queued inside the process instead of polled for.

SQLite admits one write transaction at a time. Left to itself, every other thread that wants to
write sleeps in SQLite's busy handler (1, 2, 5, 10 … 100 ms, no order), so under load some wait
seconds while newcomers get in first: the p99 of concurrent requests was 1–5 s and a few ran past
the busy timeout into 503. Here a thread takes a FIFO lock of this process before its transaction's
first write and holds it to the commit or rollback: waiters queue in arrival order and are woken
the moment the writer before them finishes. `BEGIN IMMEDIATE` then takes SQLite's own lock at
once (other processes, e.g. a second worker or a CLI command, still meet the busy handler).

Where the lock is taken is where Python's sqlite3 module would have begun the transaction anyway
(its implicit BEGIN before the first INSERT/UPDATE/DELETE/REPLACE; reads before it run outside
any transaction), so what a transaction sees and locks is unchanged. PostgreSQL is not affected.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

# The statements before which Python's sqlite3 module (legacy transaction control) opens a
# transaction: the DML keywords, as its statement parser recognises them.
_DML = ("insert", "update", "delete", "replace")


class FifoLock:
    """A lock granted in arrival order; `acquire` gives up after `timeout` seconds."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over between the timeout and here: it is ours
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # ownership passes straight to the next in line
            else:
                self._held = False

    @property
    def queued(self) -> int:
        return len(self._waiters)


_locks: dict[str, FifoLock] = {}
_locks_guard = threading.Lock()


def lock_for(path: str) -> FifoLock:
    """One lock per database file in this process, shared by every engine opened on it."""
    key = str(Path(path).resolve())
    with _locks_guard:
        return _locks.setdefault(key, FifoLock())


def _is_dml(sql: str) -> bool:
    return sql.lstrip()[:7].lower().startswith(_DML)


class QueuedWriterCursor(sqlite3.Cursor):
    """Takes the connection's writer turn before the first write of a transaction."""

    connection: QueuedWriterConnection

    def execute(self, sql: str, parameters: Any = (), /) -> QueuedWriterCursor:
        self.connection.before_statement(sql)
        try:
            super().execute(sql, parameters)
        finally:
            self.connection.after_statement()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> QueuedWriterCursor:
        self.connection.before_statement(sql)
        try:
            super().executemany(sql, seq_of_parameters)
        finally:
            self.connection.after_statement()
        return self


class QueuedWriterConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions queue on the file's FifoLock. Pass it as
    `factory=` to `sqlite3.connect`, with `database` a file path (memory databases need none)."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._writer_lock = lock_for(database)
        self._wait_s = float(kwargs.get("timeout", 5.0))
        self._holding = False

    def cursor(self, factory: Any = QueuedWriterCursor) -> Any:
        return super().cursor(factory)

    def before_statement(self, sql: str) -> None:
        if self._holding or self.in_transaction or not _is_dml(sql):
            return
        if not self._writer_lock.acquire(self._wait_s):
            # What SQLite's busy handler says when it gives up: the caller's handling is the same.
            raise sqlite3.OperationalError("database is locked")
        self._holding = True
        try:
            super().execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def begin_write(self) -> None:
        """Take the writer turn and open the write transaction now, before any statement: for a
        transaction whose first statement is not DML (a SAVEPOINT)."""
        self.before_statement("insert")

    def after_statement(self) -> None:
        # A transaction ended by a statement of its own (COMMIT, ROLLBACK) or a failed BEGIN.
        if self._holding and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        self._holding = False
        self._writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if self._holding and not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if self._holding and not self.in_transaction:
                self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding:
                self._release()


def begin_write(connection: sqlite3.Connection) -> None:
    """Open a write transaction on `connection` now (SQLite's write lock taken at once), in
    arrival order with this process's other writers when it is a queued connection."""
    if isinstance(connection, QueuedWriterConnection):
        connection.begin_write()
    elif not connection.in_transaction:
        connection.execute("BEGIN IMMEDIATE")
