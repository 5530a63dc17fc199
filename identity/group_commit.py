"""Group commit: concurrent requests' writes committed together, by one writer per process.

A request that only adds new rows (a decision, its review item) and audit events does its reads
and all its Python work with no write lock held and stages those writes (`stage`): `insert_row`
keeps the rows and `audit.record` holds the events. Its read-only transaction then ends, in the
match's own worker thread (`release`, called by `identity.api_deps.in_match_thread`) or at the
edge (`hand_over`), and once the endpoint has returned the staged unit goes to the engine's
`GroupCommitter`, whose one thread drains what has queued meanwhile into ONE transaction: every
unit's rows, then the group's audit events chained with one head lock per tenant, then one
COMMIT. Each request is answered only once that commit returned, so an acknowledged decision is
durable (SQLite WAL with synchronous=NORMAL survives a killed process; PostgreSQL commits
synchronously).

An endpoint that returns its match's result as it comes (POST /v1/match, Patient/$match) lets
the match's thread go further when that request is the only one matching (`commit_released`):
on SQLite, with nothing being written, the thread commits the unit there, a group of one (the
hops to the writer thread and back cost more than such a commit); otherwise it queues the unit
for the writer thread at once. Such a unit is committed even if the request were cancelled
between its match and its answer (an answer lost on the way, as one can be after any commit).

Atomicity per request is kept: when a group's writes fail, the group is written again with a
SAVEPOINT per unit, a failing unit is rolled back to its savepoint and only its request gets the
error (answered as it would have been without grouping). If the COMMIT itself fails no unit of
the group is acknowledged.

Requests whose transaction wrote anything directly (an idempotency record, a guard's lock, an
ORM change) are not grouped: their staged rows are written in their own transaction, which
commits as before (`hand_over`). So are sessions of an edge that does not allow grouping (the
CLI, stewards' pages, workers): for them `stage` does nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, Table, event, insert
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.db import STAGED_ROWS, act_for, finish
from identity.models.base import Base
from identity.observability import audited
from identity.sqlite_writer import begin_write

_ALLOWED = "group_commit.allowed"
_WROTE = "group_commit.wrote"  # on a connection's info: this transaction wrote directly
_RELEASED = "group_commit.released"  # a unit `release` took, for the edge to submit
# Most units in one group: bounds one transaction's size and the wait of its first request.
MAX_GROUP = 256
_IDLE_S = 2.0  # the writer thread ends after this long without work (started again on demand)

Rows = list[tuple[Table, dict[str, Any]]]


@dataclass(slots=True)
class Unit:
    """One request's staged writes, and the future its request waits on."""

    tenant: str | None
    rows: Rows
    events: audit.Held
    noted: list[audited.Audited]
    done: Future[None] = field(default_factory=Future)
    submitted: bool = False  # committed or queued already (`commit_or_submit`)


def allow(session: Session) -> None:
    """This session's edge hands staged writes to a group committer (`hand_over`)."""
    session.info[_ALLOWED] = True


def stage(session: Session) -> None:
    """Declare that the unit of work's remaining writes add new rows (`insert_row`) and audit
    events only, none read back or changed before the commit. Where the edge allows grouping
    and the transaction has written nothing yet, they are held back from here on; elsewhere
    nothing changes."""
    if not session.info.get(_ALLOWED) or STAGED_ROWS in session.info:
        return
    if _wrote_directly(session):  # already a transaction of its own (a guard's lock, a key)
        return
    try:
        audit.hold(session)
    except RuntimeError:  # the caller defers its audit events itself: not a unit to group
        return
    session.info[STAGED_ROWS] = []


def hand_over(session: Session) -> Unit | None:
    """End a request's own transaction at its commit. A session whose writes are all staged is
    released (its transaction read only) and its unit returned for the committer; any other
    commits here, its staged writes (if any) written first, as without grouping (None)."""
    rows: Rows | None = session.info.pop(STAGED_ROWS, None)
    if rows is None:
        finish(session, commit=True)
        return None
    if _wrote_directly(session):
        events = audit.release_held(session)
        try:
            write_rows(session.connection(), rows)
            audit.append_held(session, events)
        except BaseException:
            finish(session, commit=False)
            raise
        finish(session, commit=True)
        return None
    return _unit(session, rows)


def _unit(session: Session, rows: Rows) -> Unit:
    """The staged rows and held events of a session that wrote nothing itself, as a unit; the
    session's transaction (reads only) ended."""
    events = audit.release_held(session)
    tenant = session.info.get("tenant")
    unit = Unit(tenant() if callable(tenant) else tenant, rows, events, audited.noted_in(session))
    finish(session, commit=False)  # nothing written: ends the reads' transaction
    return unit


def release(session: Session) -> None:
    """`hand_over` ahead of the edge, in the thread that did the work, for a session whose writes
    are all staged: its read-only transaction ends here and its unit waits in the session for the
    edge (`released`), which submits it once the endpoint has returned, or drops it (`discard`)
    if it failed. It saves the edge a second hop to a worker thread. Any other session is left
    as it is, for the edge's `hand_over` (its own commit must wait for the endpoint's return)."""
    rows: Rows | None = session.info.get(STAGED_ROWS)
    if rows is None or _wrote_directly(session):
        return
    del session.info[STAGED_ROWS]
    session.info[_RELEASED] = _unit(session, rows)


def commit_released(session: Session, committer: GroupCommitter) -> None:
    """`release`, then the unit committed here or queued for the writer thread at once
    (`GroupCommitter.commit_or_submit`), for an edge whose endpoint returns the work's result as
    is: nothing can fail between the work and the commit, so the commit need not wait for the
    endpoint's return. The edge still answers only once the unit's future is settled."""
    release(session)
    unit: Unit | None = session.info.get(_RELEASED)
    if unit is not None:
        committer.commit_or_submit(unit)


def released(session: Session) -> Unit | None:
    """The unit `release` took from this session, if any (taken once)."""
    unit: Unit | None = session.info.pop(_RELEASED, None)
    return unit


def discard(session: Session) -> None:
    """A request that failed: nothing staged is written."""
    session.info.pop(STAGED_ROWS, None)
    session.info.pop(_RELEASED, None)
    audit.release_held(session)


def _wrote_directly(session: Session) -> bool:
    if session.new or session.dirty or session.deleted:
        return True
    if session.get_transaction() is None:
        return False
    connection = session.connection()
    if connection.info.get(_WROTE):
        return True
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))


def write_rows(connection: Connection, rows: Rows) -> None:
    """Insert staged rows, one executemany per table, parents before children."""
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, values in rows:
        by_table.setdefault(table, []).append(values)
    for table in sorted(by_table, key=_table_order):
        connection.execute(insert(table), by_table[table])


_ORDER = {table: i for i, table in enumerate(Base.metadata.sorted_tables)}


def _table_order(table: Table) -> int:
    return _ORDER.get(table, len(_ORDER))


# --- noticing a transaction's direct writes ------------------------------------------------


def _note_write(
    conn: Connection, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
) -> None:
    # A write, or a read that takes a lock held to the commit (FOR UPDATE, an advisory lock):
    # either way the transaction's end is not a read-only one's.
    text = statement.lstrip().lower()
    if text.startswith("select"):
        wrote = any(m in text for m in _LOCKING)
    elif text.startswith("with"):  # a CTE reads unless it holds a DML statement
        wrote = any(m in text for m in _LOCKING + _DML)
    else:
        wrote = True
    if wrote:
        conn.info[_WROTE] = True


_LOCKING = (" for update", " for share", " for no key update", "advisory")
_DML = ("insert ", "update ", "delete ")


def _new_transaction(conn: Connection) -> None:
    conn.info.pop(_WROTE, None)


# --- the committer ------------------------------------------------------------------------


class GroupCommitter:
    """One writer thread for an engine: commits queued units a group at a time."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._queue: queue.SimpleQueue[Unit] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # held while a group is written, by whichever thread
        self._thread: threading.Thread | None = None
        self._sqlite = sessions.kw["bind"].dialect.name == "sqlite"
        self.groups = 0  # groups committed (for the figures: units / groups is the grouping)
        self.units = 0  # units committed
        self.in_place = 0  # of which committed in their request's thread (`commit_or_submit`)

    def commit_or_submit(self, unit: Unit) -> None:
        """Commit `unit` in the calling thread when nothing else is being written or waits to be
        (a quiet moment: the hops to the writer thread and back would cost more than its
        group of one), on SQLite, where a commit does not wait for a disk flush; queue it for
        the writer thread otherwise, which groups it with whatever else arrives."""
        if self._sqlite and self._writing.acquire(blocking=False):
            try:
                if self._queue.empty():
                    unit.submitted = True
                    self.commit_group([unit])
                    self.in_place += unit.done.exception() is None
                    return
            finally:
                self._writing.release()
        self.submit(unit)

    def submit(self, unit: Unit) -> Future[None]:
        unit.submitted = True
        with self._lock:
            self._queue.put(unit)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
        return unit.done

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=_IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            with self._writing:  # after a commit in a request's thread, if one is under way
                group = [first]
                while len(group) < MAX_GROUP:
                    try:
                        group.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self.commit_group(group)

    def commit_group(self, group: list[Unit]) -> None:
        """Write and commit `group`, then settle every unit's future (never raises)."""
        try:
            failed = self._write_together(group)
        except BaseException as exc:  # the commit, or a group of one failed: none is stored
            for unit in group:
                unit.done.set_exception(exc)
            return
        if failed is None:
            self._counted(group)
            return
        try:
            failures = self._write_one_by_one(group)
        except BaseException as exc:
            for unit in group:
                unit.done.set_exception(exc)
            return
        for unit in group:
            error = failures.get(id(unit))
            if error is not None:
                unit.done.set_exception(error)
        self._counted([u for u in group if id(u) not in failures])

    def _counted(self, committed: list[Unit]) -> None:
        self.groups += 1
        self.units += len(committed)
        for unit in committed:
            unit.done.set_result(None)

    def _begin(self, session: Session) -> Connection:
        connection = session.connection()
        if self._sqlite:
            begin_write(connection.connection.dbapi_connection)  # type: ignore[arg-type]
        return connection

    def _write_together(self, group: list[Unit]) -> BaseException | None:
        """All units' rows in one executemany per (tenant, table), the events, one COMMIT.
        A failure before the COMMIT is returned (the group is then written unit by unit)
        unless the group is one unit; the COMMIT's own failure is raised."""
        session = self._sessions()
        try:
            connection = self._begin(session)
            by_tenant: dict[str | None, Rows] = {}
            for unit in group:
                by_tenant.setdefault(unit.tenant, []).extend(unit.rows)
            for tenant, rows in by_tenant.items():
                if tenant:
                    act_for(connection, tenant)
                write_rows(connection, rows)
            _append_events(session, connection, group)
        except Exception as exc:
            finish(session, commit=False)
            if len(group) == 1:
                raise
            return exc
        except BaseException:
            finish(session, commit=False)
            raise
        finish(session, commit=True)
        return None

    def _write_one_by_one(self, group: list[Unit]) -> dict[int, BaseException]:
        """Each unit's rows in a savepoint of its own; the failing ones rolled back to it and
        returned (by id of unit); the others' events appended; one COMMIT (its failure raised)."""
        failures: dict[int, BaseException] = {}
        for unit in group:  # keys a rolled-back attempt may have given the events
            for held_event, _ in unit.events:
                held_event.id = None  # type: ignore[assignment]
        session = self._sessions()
        try:
            connection = self._begin(session)
            for unit in group:
                savepoint = connection.begin_nested()
                try:
                    if unit.tenant:
                        act_for(connection, unit.tenant)
                    write_rows(connection, unit.rows)
                except Exception as exc:
                    savepoint.rollback()
                    failures[id(unit)] = exc
                else:
                    savepoint.commit()
            _append_events(session, connection, [u for u in group if id(u) not in failures])
        except BaseException:
            finish(session, commit=False)
            raise
        finish(session, commit=True)
        return failures


def _append_events(session: Session, connection: Connection, group: list[Unit]) -> None:
    held = [held for unit in group for held in unit.events]
    if held:
        audit.append_held(session, held, act_for=lambda tenant: act_for(connection, tenant))


_committers: WeakKeyDictionary[Engine, GroupCommitter] = WeakKeyDictionary()
_committers_guard = threading.Lock()


def committer_for(sessions: sessionmaker[Session]) -> GroupCommitter:
    """The committer of the sessions' engine in this process (made on first use)."""
    engine: Engine = sessions.kw["bind"]
    with _committers_guard:
        found = _committers.get(engine)
        if found is None:
            event.listen(engine, "before_cursor_execute", _note_write)
            event.listen(engine, "begin", _new_transaction)
            found = _committers[engine] = GroupCommitter(sessions)
        return found


def observe(unit: Unit, count: Callable[[str, str, int], None]) -> None:
    """Count a committed unit's audit events (what a session's `after_commit` would count)."""
    for seen in unit.noted:
        count(seen.action, seen.outcome, seen.objects)
