"""An in-memory member store per tenant: candidate retrieval that reads no database pages.

Why: in WAL mode SQLite drops a connection's page cache when another connection has committed,
and a 7 GB file is past the 2 GB mmap cap, so with group commit every request re-read its key and
feature pages with system calls (2.5-3.2 ms CPU a query at 1M members); on PostgreSQL each read
is a round trip. Data that commits do not invalidate removes both.

What it holds, per tenant, exactly what `repository.retrieve_candidates` reads: every member's
blocking keys, its compact `features` text (decoded per candidate as the SQL path decodes it) and
its coverage end dates as `repository.MEMBER_ROWS` aggregates them. Memory: keys as 64-bit hashes
in one sorted numpy array with a parallel member array (a key's members are one `searchsorted`
range, its size the max_block_size test), texts as one bytes blob with offsets; about 12 bytes a
key and the texts' own bytes a member, instead of Python objects' ~100 bytes each.

Hashes: Python's `hash` of the key text (SipHash, seeded per process; the store never leaves the
process, so it needs no stable hash, and `hash` is ~20x cheaper than blake2b on 25M keys). A build
refuses itself (SQL answers) if two stored keys share a hash; a query key absent from the store
matches a stored one by chance with probability ~n/2^64 (1M members x 25 keys: 1.4e-12 a key).

Freshness, exactly: migration 0023's triggers log every member and coverage write in its own
transaction; a tenant's change number is its last log id. A request reads that number in its own
transaction: equal to a snapshot's, it is answered from memory; a few members changed since, they
are read (same transaction) into a new snapshot's overlay first; more, or a snapshot newer than the
request's view, and SQL answers while one background thread rebuilds. A snapshot is immutable:
concurrent requests each see one whole. `identity purge` prunes the log's oldest rows; a snapshot
whose own number's row is gone (or is 0) cannot know what changed since, and is rebuilt too.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import bind_tenant
from identity.logging_setup import get_logger
from identity.matching.record import StandardRecord
from identity.member import features, store_registry
from identity.member import store_repository as sql
from identity.member.repository import Retrieved, as_candidates, choose_members, parse_ends

log = get_logger("identity.member_store")


class _Texts:
    """Many texts (or None) in one byte buffer with offsets: a few bytes of overhead a text.
    Filled by `add` during a build (no Python object per text kept), read by index."""

    __slots__ = ("_blob", "_ends", "_offsets")

    _NONE = b"\xff"  # never valid UTF-8: stands for NULL

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("q")
        self._offsets = np.zeros(1, dtype=np.int64)

    def add(self, value: str | None) -> None:
        self._blob += self._NONE if value is None else value.encode()
        self._ends.append(len(self._blob))

    def done(self) -> _Texts:
        self._offsets = np.concatenate(
            [np.zeros(1, dtype=np.int64), np.frombuffer(self._ends, dtype=np.int64)]
        )
        self._ends = array("q")
        return self

    def many(self, indices: Sequence[int]) -> list[str | None]:
        """The texts at these indices (their offsets read in one step, not one numpy scalar
        each)."""
        at = np.asarray(indices, dtype=np.int64)
        starts = self._offsets.take(at).tolist()
        stops = self._offsets.take(at + 1).tolist()
        blob, none = self._blob, self._NONE
        return [
            None if (raw := blob[a:b]) == none else raw.decode()
            for a, b in zip(starts, stops, strict=True)
        ]

    @property
    def nbytes(self) -> int:
        return len(self._blob) + self._offsets.nbytes


@dataclass(frozen=True, slots=True)
class MemberRow:
    """What retrieval reads of one member (`repository.MEMBER_ROWS`)."""

    member_id: str
    features: str | None
    ends: str | None


class Snapshot:
    """A tenant's members as of change number `number`: a base built in one read, plus an
    overlay of the members changed since (their rows now, None when gone, and their keys)."""

    def __init__(
        self,
        number: int,
        hashes: np.ndarray,
        key_pks: np.ndarray,
        pks: np.ndarray,
        ids: _Texts,
        texts: _Texts,
        ends: _Texts,
        overlay: Mapping[int, MemberRow | None] | None = None,
        overlay_keys: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.number = number
        self._hashes = hashes
        self._key_pks = key_pks
        self._pks = pks
        self._ids = ids
        self._texts = texts
        self._ends = ends
        self.overlay: Mapping[int, MemberRow | None] = overlay or {}
        self._overlay_keys: Mapping[str, Sequence[int]] = overlay_keys or {}
        self._changed = np.array(sorted(self.overlay), dtype=np.int64)

    @property
    def members(self) -> int:
        return len(self._pks)

    @property
    def nbytes(self) -> int:
        arrays = self._hashes.nbytes + self._key_pks.nbytes + self._pks.nbytes
        return arrays + self._ids.nbytes + self._texts.nbytes + self._ends.nbytes

    def rows(self, pks: Sequence[int]) -> dict[int, MemberRow]:
        """These members' rows (the overlay's where changed); members not held are absent."""
        found: dict[int, MemberRow] = {}
        base = [pk for pk in pks if pk not in self.overlay]
        for pk in pks:
            changed = self.overlay.get(pk)
            if changed is not None:
                found[pk] = changed
        if base and len(self._pks):
            at = np.searchsorted(self._pks, base)
            held = self._pks.take(np.minimum(at, len(self._pks) - 1)).tolist()
            present = [
                (pk, i) for pk, i, there in zip(base, at.tolist(), held, strict=True) if there == pk
            ]
            indices = [i for _, i in present]
            ids = self._ids.many(indices)
            texts = self._texts.many(indices)
            ends = self._ends.many(indices)
            for n, (pk, _) in enumerate(present):
                found[pk] = MemberRow(ids[n] or "", texts[n], ends[n])
        return found

    def hits(self, keys: Sequence[str], max_block_size: int) -> tuple[int, dict[str, list[int]]]:
        """How many (key, member) hits the distinct keys have, and the members of each key
        held by at most `max_block_size` (base members not changed since, then changed ones;
        larger keys are dropped by the choice anyway, so their members are only counted)."""
        distinct = list(dict.fromkeys(keys))
        hashed = np.fromiter(map(hash, distinct), dtype=np.int64, count=len(distinct))
        lo = np.searchsorted(self._hashes, hashed, "left").tolist()
        hi = np.searchsorted(self._hashes, hashed, "right").tolist()
        total = 0
        found: dict[str, list[int]] = {}
        for key, a, b in zip(distinct, lo, hi, strict=True):
            extra = self._overlay_keys.get(key, ())
            if len(self._changed) and b > a:
                base = self._key_pks[a:b]
                base = base[~np.isin(base, self._changed)]
                n = len(base) + len(extra)
                pks = base.tolist() if 0 < n <= max_block_size else []
            else:
                n = b - a + len(extra)
                pks = self._key_pks[a:b].tolist() if 0 < n <= max_block_size else []
            total += n
            if 0 < n <= max_block_size:
                found[key] = pks + list(extra)
        return total, found

    def answer(
        self, keys: Sequence[str], *, max_block_size: int, max_candidates: int
    ) -> Retrieved | None:
        """`retrieve_candidates`' answer from memory; None where the database's own choice
        decides it (the hits pass the SQL read's row limit) or a member's features are not in
        the compact layout (SQL reads its columns)."""
        wanted = list(keys)
        if not wanted:
            return Retrieved([])
        total, per_key = self.hits(wanted, max_block_size)
        if total > max_block_size * len(wanted) + 1:
            return None
        chosen, names_by_member = choose_members(
            per_key, max_block_size=max_block_size, max_candidates=max_candidates
        )
        if not chosen:
            return Retrieved([])
        records: dict[int, tuple[str, StandardRecord]] = {}
        ends: dict[str, list[Any]] = {}
        for pk, row in self.rows(chosen).items():
            record = features.decode(row.features, row.member_id) if row.features else None
            if record is None:
                return None
            records[pk] = (row.member_id, record)
            ends[row.member_id] = parse_ends(row.ends)
        return Retrieved(as_candidates(chosen, names_by_member, records), ends)

    def with_changes(
        self, number: int, rows: Mapping[int, MemberRow | None], keys: Iterable[tuple[str, int]]
    ) -> Snapshot:
        """A new snapshot at `number`: these members' rows and keys replace what was held."""
        overlay = {**self.overlay, **rows}
        overlay_keys: dict[str, list[int]] = {}
        for key, pks in self._overlay_keys.items():
            kept = [pk for pk in pks if pk not in rows]
            if kept:
                overlay_keys[key] = kept
        for key, pk in keys:
            overlay_keys.setdefault(key, []).append(pk)
        return Snapshot(
            number,
            self._hashes,
            self._key_pks,
            self._pks,
            self._ids,
            self._texts,
            self._ends,
            overlay,
            overlay_keys,
        )


class HashCollision(Exception):
    """Two stored keys share a hash: this tenant is answered by SQL."""


class Cancelled(Exception):
    """The store is stopping: a build in progress is dropped."""


def build(
    connection: Connection, tenant: str, number: int, cancelled: Callable[[], bool] = bool
) -> Snapshot:
    """The tenant's snapshot from one read transaction that saw change number `number`."""
    # array("q"), not lists: a list of 25M ints holds ~1 GB of int objects at its peak.
    hashes = array("q")
    key_pks = array("q")
    last: str | None = None
    h = 0
    distinct = 0
    for batch in sql.all_keys(connection, tenant):
        if cancelled():
            raise Cancelled
        for key, pk in batch:
            if key != last:
                last, h = key, hash(key)
                distinct += 1
            hashes.append(h)
            key_pks.append(pk)
    order = np.argsort(np.frombuffer(hashes, dtype=np.int64), kind="stable")
    # (keys came in key order, each key's members sorted: the stable sort keeps them so)
    hash_array = np.frombuffer(hashes, dtype=np.int64)[order]
    del hashes
    pk_array = np.frombuffer(key_pks, dtype=np.int64)[order]
    del key_pks, order
    if len(hash_array) and int(np.count_nonzero(np.diff(hash_array))) + 1 != distinct:
        raise HashCollision(tenant)
    pks = array("q")
    ids, texts, ends = _Texts(), _Texts(), _Texts()
    for batch in sql.all_members(connection, tenant):
        if cancelled():
            raise Cancelled
        for r in batch:
            pks.append(r.member_pk)
            ids.add(r.member_id)
            texts.add(r.features)
            ends.add(r.ends)
    return Snapshot(
        number,
        hash_array,
        pk_array,
        np.frombuffer(pks, dtype=np.int64).copy(),
        ids.done(),
        texts.done(),
        ends.done(),
    )


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A tenant the store refused (too many members, or a hash collision): the change number
    it was refused at, and when that was last compared with the tenant's (monotonic seconds)."""

    number: int
    checked: float


class MemberStores:
    """One process's snapshots, one per tenant, and the thread that builds them.

    `max_members`: a tenant with more is answered by SQL (its store would not fit). `max_changes`:
    members changed since the base that a request reads into the overlay itself; past it, the
    tenant is rebuilt in the background and SQL answers meanwhile. `recheck_s`: how often a
    refused tenant's change number is compared with the one it was refused at; once it moved
    (members deleted, keys changed), it is built again, which decides afresh."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        max_members: int,
        max_changes: int,
        recheck_s: float = 3600.0,
    ) -> None:
        self._factory = factory
        self._max_members = max_members
        self._max_changes = max_changes
        self._recheck_s = recheck_s
        self._snapshots: dict[str, Snapshot] = {}
        self._refused: dict[str, _Refusal] = {}
        self._wanted: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._building: str | None = None
        self._thread = threading.Thread(target=self._run, name="member-store", daemon=True)
        self.served = 0  # requests given a current snapshot (a count for tests and benchmarks)

    # -- the request path ------------------------------------------------------------------
    def current(self, session: Session, tenant: str) -> Snapshot | None:
        refusal = self._refused.get(tenant)
        if refusal is not None:
            self._recheck(session, tenant, refusal)
            return None
        snapshot = self._snapshots.get(tenant)
        if snapshot is None:
            self.request(tenant)
            return None
        connection = session.connection()
        number = sql.change_number(connection, tenant)
        if snapshot.number > number:
            return None  # built after this transaction's view: SQL answers
        if snapshot.number < number:
            caught_up = self._caught_up(connection, tenant, snapshot, number)
            if caught_up is None:
                return None
            snapshot = caught_up
        self.served += 1
        return snapshot

    def _caught_up(
        self, connection: Connection, tenant: str, snapshot: Snapshot, number: int
    ) -> Snapshot | None:
        """The snapshot with the members changed up to `number` read into its overlay, or
        None (and a rebuild asked for) when they are too many."""
        room = self._max_changes - len(snapshot.overlay)
        if room <= 0:
            self.request(tenant)
            return None
        changed = sql.changed_members(
            connection, tenant, snapshot.number, number, sql.log_rows_read(room)
        )
        if changed is None or len(changed) > room:
            self.request(tenant)
            return None
        # Retention may have pruned log rows after the snapshot's number: then the rows just read
        # are not all that changed. Asked after that read (each statement may see a later
        # commit): a prune deletes a prefix of ids at once, so if the row is there now, nothing
        # after it was gone when the rows were read.
        if not sql.still_logged(connection, tenant, snapshot.number):
            self.request(tenant)
            return None
        pks = sorted(changed)
        rows: dict[int, MemberRow | None] = dict.fromkeys(pks)
        for r in sql.member_rows(connection, pks):
            if r.tenant_id == tenant:
                rows[r.member_pk] = MemberRow(r.member_id, r.features, r.ends)
        keys = sql.member_keys(connection, tenant, pks)
        # Each statement may read at its own time (PostgreSQL's READ COMMITTED; SQLite's driver
        # opens no transaction for reads): keep the result only when no commit came between.
        if sql.change_number(connection, tenant) != number:
            return None
        fresh = snapshot.with_changes(number, rows, keys)
        with self._lock:
            held = self._snapshots.get(tenant)
            if held is None or held.number < number:
                self._snapshots[tenant] = fresh
        return fresh

    def _recheck(self, session: Session, tenant: str, refusal: _Refusal) -> None:
        """Ask for a refused tenant's build again once its data changed. Its number is read at
        most once per `recheck_s`, so a refused tenant's requests read nothing more, and a build
        that would only refuse again (nothing changed) is never started."""
        now = time.monotonic()
        if now - refusal.checked < self._recheck_s:
            return
        number = sql.change_number(session.connection(), tenant)
        with self._lock:
            if self._refused.get(tenant) is refusal:
                self._refused[tenant] = _Refusal(refusal.number, now)
        if number != refusal.number:
            self.request(tenant)

    # -- building ----------------------------------------------------------------------------
    def start(self, *, prime: bool = True) -> None:
        """Start the builder; `prime`: build every tenant it can see first."""
        if prime:
            with self._factory() as session:
                for tenant in sql.tenants(session.connection()):
                    self.request(tenant)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def request(self, tenant: str) -> None:
        """Ask for the tenant's (re)build, once however many ask."""
        with self._lock:
            if tenant not in self._wanted and tenant != self._building:
                self._wanted.append(tenant)
                self._wake.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Until nothing is queued or building (tests, benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._wanted and self._building is None:
                    return True
            time.sleep(0.01)
        return False

    def snapshot(self, tenant: str) -> Snapshot | None:
        return self._snapshots.get(tenant)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._wanted and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                tenant = self._building = self._wanted.pop(0)
            try:
                self.rebuild(tenant)
            except Exception as exc:  # a failed build leaves SQL answering; logged, no PHI
                log.warning("member_store_build_failed", error=type(exc).__name__)
            finally:
                with self._lock:
                    self._building = None

    def rebuild(self, tenant: str) -> Snapshot | None:
        """Build the tenant's snapshot in one read transaction (a consistent snapshot on
        PostgreSQL: REPEATABLE READ) and keep it unless a newer one is held."""
        started = time.perf_counter()
        session = self._factory()
        try:
            bind_tenant(session, tenant)
            if session.get_bind().dialect.name == "postgresql":
                connection = session.connection(
                    execution_options={"isolation_level": "REPEATABLE READ"}
                )
            else:
                connection = session.connection()
            number = sql.change_number(connection, tenant)
            if sql.member_count(connection, tenant) > self._max_members:
                self._refuse(tenant, number)
                log.info("member_store_too_large", max_members=self._max_members)
                return None
            try:
                snapshot = build(connection, tenant, number, lambda: self._stopping)
            except Cancelled:
                return None
            except HashCollision:
                self._refuse(tenant, number)
                log.warning("member_store_hash_collision")
                return None
        finally:
            session.rollback()
            session.close()
        with self._lock:
            self._refused.pop(tenant, None)
            held = self._snapshots.get(tenant)
            if held is None or held.number <= number:
                self._snapshots[tenant] = snapshot
        log.info(
            "member_store_built",
            members=snapshot.members,
            mb=round(snapshot.nbytes / 1e6, 1),
            seconds=round(time.perf_counter() - started, 2),
        )
        return snapshot

    def _refuse(self, tenant: str, number: int) -> None:
        """SQL answers for the tenant; a snapshot held from before is never served again, so
        its memory is given back."""
        with self._lock:
            self._refused[tenant] = _Refusal(number, time.monotonic())
            self._snapshots.pop(tenant, None)


def start_for(
    engine: Engine, factory: sessionmaker[Session], settings: Settings
) -> MemberStores | None:
    """A running member store serving `engine`'s sessions, or None when the setting is off."""
    if not settings.member_store:
        return None
    stores = MemberStores(
        factory,
        max_members=settings.member_store_max_members,
        max_changes=settings.member_store_max_changes,
        recheck_s=settings.member_store_recheck_s,
    )
    stores.start()
    store_registry.serve(engine, stores)
    return stores


def stop_for(engine: Engine, stores: MemberStores | None) -> None:
    if stores is not None:
        store_registry.serve(engine, None)
        stores.stop()
