"""The in-memory member store (identity/member/store.py) answers candidate retrieval exactly as
SQL does: on random queries over synthetic members, and on the next request after every kind of
member or coverage write (read into the store's overlay, or rebuilt in the background when they
are many), on both databases. A write rolled back changes nothing; every writer of blocking keys
also writes the member row, so migration 0023's member trigger logs each key change. A store
behind a pruned change log rebuilds rather than miss a change; a current one keeps serving; a
refused tenant is tried again once its members changed."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import tenant_transaction
from identity.member import lifecycle, store_registry
from identity.member import store_repository as store_sql
from identity.member.erase import erase_members
from identity.member.repository import Retrieved, _retrieved_by_sql, retrieve_candidates_many
from identity.member.service import load_members
from identity.member.store import MemberStores, Snapshot
from identity.models import BlockingKey, Member
from identity.retention.service import prune_member_changes
from identity.synthetic import write_dataset
from tests.conftest import TENANT, LiveServer
from tests.resolution import equivalence_fixture as eq

ACTOR = Actor(tenant=TENANT, client_id="ops", request_id=None)
TODAY = date(2026, 12, 1)
# (max_block_size, max_candidates): the default policy's sizes, and sizes small enough that
# keys are oversized and some queries pass the SQL read's row limit.
SIZES = [(500, 50), (3, 5)]
MAX_CHANGES = 30


@pytest.fixture
def members(tmp_path: Path) -> list[bytes]:
    paths = write_dataset(tmp_path / "syn", members=1200, queries=1, seed=14, formats=("ndjson",))
    return paths.members_ndjson.read_bytes().splitlines()


@pytest.fixture
def stores(
    sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> Iterator[MemberStores]:
    _load(sessions, tmp_path / "all.ndjson", members)
    made = MemberStores(sessions, max_members=10**6, max_changes=MAX_CHANGES)
    made.start(prime=False)
    assert made.rebuild(TENANT) is not None
    yield made
    made.stop()


def _load(
    sessions: sessionmaker[Session], path: Path, lines: Sequence[bytes], batch_size: int = 1000
) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    with tenant_transaction(sessions, TENANT) as session:
        report = load_members(session, TENANT, [path], as_of=TODAY, batch_size=batch_size)
        assert report.ok, report.errors[:3]


def _keys_by_member(session: Session) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    rows = session.execute(
        select(BlockingKey.member_pk, BlockingKey.key).where(BlockingKey.tenant_id == TENANT)
    )
    for pk, key in rows:
        found[pk].add(key)
    return found


def _queries(keys: dict[int, set[str]], rng: random.Random, n: int, about: Sequence[int] = ()):
    """Perturbed members' keys: some dropped, another member's added, an unknown one."""
    pks = sorted(keys)
    queries: list[list[str]] = []
    for i in range(n):
        a = about[i % len(about)] if about else rng.choice(pks)
        b = rng.choice(pks)
        own = [k for k in sorted(keys.get(a, ())) if rng.random() > 0.3]
        other = rng.sample(sorted(keys[b]), min(2, len(keys[b])))
        queries.append([*own, *other, f"dob:1899-01-{i % 28 + 1:02d}"])
    return queries


def _same_as_sql(session: Session, snapshot: Snapshot, queries: Sequence[list[str]]) -> int:
    """Asserts each query the snapshot answers is answered as by SQL; the ones it declines must
    be past the SQL read's row limit. Returns how many it answered."""
    answered = 0
    for max_block_size, max_candidates in SIZES:
        for keys in queries:
            mine = snapshot.answer(
                keys, max_block_size=max_block_size, max_candidates=max_candidates
            )
            if mine is None:
                hits = session.scalar(
                    select(func.count()).where(
                        BlockingKey.tenant_id == TENANT, BlockingKey.key.in_(keys)
                    )
                )
                assert hits is not None
                assert hits > max_block_size * len(keys) + 1
                continue
            sql = _retrieved_by_sql(
                session,
                TENANT,
                keys,
                max_block_size=max_block_size,
                max_candidates=max_candidates,
            )
            assert mine == sql, keys
            answered += 1
    return answered


def _current(stores: MemberStores, sessions: sessionmaker[Session]) -> tuple[Snapshot, int]:
    with tenant_transaction(sessions, TENANT) as session:
        snapshot = stores.current(session, TENANT)
        number = store_sql.change_number(session.connection(), TENANT)
    assert snapshot is not None
    assert snapshot.number == number
    return snapshot, number


def test_random_queries_are_answered_as_by_sql(
    stores: MemberStores, sessions: sessionmaker[Session]
) -> None:
    rng = random.Random(1)
    with tenant_transaction(sessions, TENANT) as session:
        snapshot = stores.current(session, TENANT)
        assert snapshot is not None
        assert snapshot.members == 1200
        keys = _keys_by_member(session)
        queries = _queries(keys, rng, 300)
        answered = _same_as_sql(session, snapshot, queries)
        assert answered > 450  # most are answered from memory
        # The batch path answers from the store too, as SQL would one by one.
        batch = retrieve_candidates_many(
            session, TENANT, queries[:50], max_block_size=3, max_candidates=5
        )
        one_by_one = [
            _retrieved_by_sql(session, TENANT, q, max_block_size=3, max_candidates=5)
            for q in queries[:50]
        ]
        assert batch == one_by_one


def _patients(lines: Sequence[bytes]) -> list[bytes]:
    return [line for line in lines if b'"resourceType":"Patient"' in line]


def _changed_family(line: bytes, family: str) -> bytes:
    patient = orjson.loads(line)
    patient["name"][0]["family"] = family
    return orjson.dumps(patient)


def _member_id(line: bytes) -> str:
    patient = orjson.loads(line)
    return str(patient["identifier"][0]["value"])


def _after_write(
    stores: MemberStores,
    sessions: sessionmaker[Session],
    before: Snapshot,
    keys_before: dict[int, set[str]],
    *,
    rebuilt: bool = False,
) -> Snapshot:
    """The next request's snapshot answers as SQL does, about the members whose keys changed
    (each of which the change log names) and at random."""
    with tenant_transaction(sessions, TENANT) as session:
        number = store_sql.change_number(session.connection(), TENANT)
        assert number > before.number
        logged = store_sql.changed_members(
            session.connection(), TENANT, before.number, number, 10**6
        )
        keys_after = _keys_by_member(session)
    assert logged is not None
    moved = {
        pk
        for pk in keys_before.keys() | keys_after.keys()
        if keys_before.get(pk) != keys_after.get(pk)
    }
    assert moved <= logged  # no key changes without its member's row
    if rebuilt:
        with tenant_transaction(sessions, TENANT) as session:
            assert stores.current(session, TENANT) is None  # too many: SQL, and a rebuild
        assert stores.wait_idle(60)
    snapshot, _ = _current(stores, sessions)
    assert snapshot.number == number
    assert (snapshot.overlay == {}) == rebuilt  # read into the overlay, or rebuilt
    about = sorted(logged)
    rng = random.Random(number)
    queries = _queries(keys_after, rng, 60, about) + [
        sorted(keys_before.get(pk, ())) for pk in about
    ]
    queries += _queries(keys_after, rng, 60)
    with tenant_transaction(sessions, TENANT) as session:
        assert _same_as_sql(session, snapshot, [q for q in queries if q]) > 0
    return snapshot


def _keys_now(sessions: sessionmaker[Session]) -> dict[int, set[str]]:
    with tenant_transaction(sessions, TENANT) as session:
        return _keys_by_member(session)


def test_every_write_is_seen_on_the_next_request(
    stores: MemberStores, sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    snapshot, _ = _current(stores, sessions)
    patients = _patients(members)

    # A delta load: changed names (new keys), and a new member.
    keys = _keys_now(sessions)
    changed = [_changed_family(line, f"Quarrington{i}") for i, line in enumerate(patients[:3])]
    newcomer = _changed_family(patients[3], "Newcomb").replace(
        _member_id(patients[3]).encode(), b"M100000001"
    )
    _load(sessions, tmp_path / "delta.ndjson", [*changed, newcomer])
    snapshot = _after_write(stores, sessions, snapshot, keys)

    # A termination and a reinstatement (coverage rows only).
    keys = _keys_now(sessions)
    with tenant_transaction(sessions, TENANT) as session:
        lifecycle.terminate(session, ACTOR, _member_id(patients[5]), TODAY)
    snapshot = _after_write(stores, sessions, snapshot, keys)
    keys = _keys_now(sessions)
    with tenant_transaction(sessions, TENANT) as session:
        lifecycle.reinstate(session, ACTOR, _member_id(patients[5]), TODAY)
    snapshot = _after_write(stores, sessions, snapshot, keys)

    # An erasure: keys dropped, the record emptied.
    keys = _keys_now(sessions)
    with tenant_transaction(sessions, TENANT) as session:
        erase_members(session, ACTOR, [_member_id(patients[6])], datetime.now(UTC))
    snapshot = _after_write(stores, sessions, snapshot, keys)

    # A write rolled back changes neither the number nor the snapshot.
    with tenant_transaction(sessions, TENANT) as session:
        lifecycle.terminate(session, ACTOR, _member_id(patients[7]), TODAY)
        session.rollback()
    same, _ = _current(stores, sessions)
    assert same is snapshot

    # A large staged load (batches of 10: its keys staged, then moved at the end): more members
    # than a request reads itself, so the store is rebuilt in the background.
    keys = _keys_now(sessions)
    renamed = [_changed_family(line, f"Staged{i}") for i, line in enumerate(patients[10:60])]
    _load(sessions, tmp_path / "large.ndjson", renamed, batch_size=10)
    _after_write(stores, sessions, snapshot, keys, rebuilt=True)


def test_the_change_log_is_in_the_writers_transaction(
    sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    """Every member and coverage row written is logged; a rolled-back load logs nothing."""
    with tenant_transaction(sessions, TENANT) as session:
        assert store_sql.change_number(session.connection(), TENANT) == 0
    path = tmp_path / "m.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in _patients(members)[:20]))
    with tenant_transaction(sessions, TENANT) as session:
        load_members(session, TENANT, [path], as_of=TODAY)
        assert store_sql.change_number(session.connection(), TENANT) > 0
        session.rollback()
    with tenant_transaction(sessions, TENANT) as session:
        assert store_sql.change_number(session.connection(), TENANT) == 0
    _load(sessions, tmp_path / "m2.ndjson", _patients(members)[:20])
    with tenant_transaction(sessions, TENANT) as session:
        number = store_sql.change_number(session.connection(), TENANT)
        logged = store_sql.changed_members(session.connection(), TENANT, 0, number, 10**6)
        assert logged is not None
        assert len(logged) == 20
        assert store_sql.change_number(session.connection(), "another-payer") == 0


def test_a_tenant_over_the_size_bound_is_answered_by_sql(
    sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    _load(sessions, tmp_path / "m.ndjson", _patients(members)[:30])
    small = MemberStores(sessions, max_members=29, max_changes=MAX_CHANGES)
    assert small.rebuild(TENANT) is None
    with tenant_transaction(sessions, TENANT) as session:
        assert small.current(session, TENANT) is None
        found = _retrieved_by_sql(
            session, TENANT, ["dob:1899-01-01"], max_block_size=10, max_candidates=5
        )
    assert found == Retrieved([])


def test_the_server_answers_from_its_store_as_without_it(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str, tmp_path: Path
) -> None:
    """The lifespan starts the store and `/v1/match` is answered from it, exactly as with the
    store off (over real HTTP)."""
    paths = write_dataset(tmp_path / "s", members=600, queries=25, seed=15, formats=("ndjson",))
    with tenant_transaction(sessions, TENANT) as session:
        assert load_members(session, TENANT, [paths.members_ndjson], as_of=TODAY).ok
    bodies = [
        {k: v for k, v in orjson.loads(line)["request"].items() if v is not None}
        for line in paths.queries_ndjson.read_bytes().splitlines()
    ]
    token = mint_dev_token(settings, tenant=TENANT, client_id="test-client")
    answers: dict[bool, list[object]] = {}
    for on in (False, True):
        server = LiveServer(settings.model_copy(update={"member_store": on}))
        with server, server.client(token) as client:
            stores = server.server.config.app.state.member_stores
            if on:
                # Built at start-up where the process may list the tenants (SQLite; on
                # PostgreSQL row-level security hides them from the service's role), else on
                # the tenant's first request, answered by SQL meanwhile.
                client.post("/v1/match", json=bodies[0])
                assert stores.wait_idle(30)
                assert stores.snapshot(TENANT) is not None
            else:
                assert stores is None
            replies = [client.post("/v1/match", json=body) for body in bodies]
            answers[on] = [
                (r.status_code, eq.normalise_answer(r.json()) if r.status_code == 200 else r.json())
                for r in replies
            ]
            if on:
                assert stores.served >= sum(r.status_code == 200 for r in replies) > 0
    assert answers[True] == answers[False]


def test_a_store_behind_a_pruned_log_rebuilds_rather_than_miss_a_change(
    stores: MemberStores, sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    """Pruned past the store's number (a purge keeping fewer rows than the store reads), the
    rows left name only the last write: the next request is answered by SQL, not from an overlay
    that misses the renamed members, and a rebuild brings the store back."""
    snapshot, _ = _current(stores, sessions)
    patients = _patients(members)
    keys_before = _keys_now(sessions)
    renamed = [_changed_family(line, f"Pruneworth{i}") for i, line in enumerate(patients[20:23])]
    _load(sessions, tmp_path / "renamed.ndjson", renamed)
    with tenant_transaction(sessions, TENANT) as session:
        lifecycle.terminate(session, ACTOR, _member_id(patients[24]), TODAY)
    assert prune_member_changes(sessions, TENANT, keep=1, batch_size=7, dry_run=False) > 3
    keys_after = _keys_now(sessions)
    moved = sorted(pk for pk in keys_after if keys_after[pk] != keys_before.get(pk))
    assert len(moved) == 3
    queries = [sorted(keys_after[pk]) for pk in moved]
    queries += _queries(keys_after, random.Random(5), 30, moved)
    engine = sessions.kw["bind"]
    store_registry.serve(engine, stores)
    try:
        served = stores.served
        with tenant_transaction(sessions, TENANT) as session:
            answered = retrieve_candidates_many(
                session, TENANT, queries, max_block_size=500, max_candidates=50
            )
            by_sql = [
                _retrieved_by_sql(session, TENANT, q, max_block_size=500, max_candidates=50)
                for q in queries
            ]
        assert answered == by_sql
        assert stores.served == served  # SQL answered, and a rebuild was asked for
        assert stores.wait_idle(60)
        rebuilt, _ = _current(stores, sessions)
        assert rebuilt is not snapshot
        assert rebuilt.overlay == {}
        with tenant_transaction(sessions, TENANT) as session:
            assert (
                retrieve_candidates_many(
                    session, TENANT, queries, max_block_size=500, max_candidates=50
                )
                == by_sql
            )
        assert stores.served == served + 2
    finally:
        store_registry.serve(engine, None)


def test_a_current_store_keeps_serving_after_a_prune(
    stores: MemberStores, sessions: sessionmaker[Session], members: list[bytes]
) -> None:
    """A prune keeps each tenant's newest row, the store's own number: a current store still
    answers from memory, and the next write is read into its overlay, not rebuilt."""
    snapshot, number = _current(stores, sessions)
    assert prune_member_changes(sessions, TENANT, keep=1, batch_size=500, dry_run=False) > 1000
    served = stores.served
    same, after = _current(stores, sessions)
    assert (same, after) == (snapshot, number)
    assert stores.served == served + 1
    keys = _keys_now(sessions)
    with tenant_transaction(sessions, TENANT) as session:
        lifecycle.terminate(session, ACTOR, _member_id(_patients(members)[9]), TODAY)
    _after_write(stores, sessions, snapshot, keys)  # asserts it went into the overlay


def test_a_refused_tenant_is_tried_again_once_its_members_changed(
    sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    """Refused for size, a tenant is built once members left (its change number moved), on
    the first request past `recheck_s`; within it, and while nothing changed, it is not."""
    patients = _patients(members)[:30]
    _load(sessions, tmp_path / "m.ndjson", patients)
    eager = MemberStores(sessions, max_members=28, max_changes=MAX_CHANGES, recheck_s=0)
    hourly = MemberStores(sessions, max_members=28, max_changes=MAX_CHANGES, recheck_s=3600)
    for store in (eager, hourly):
        store.start(prime=False)
        assert store.rebuild(TENANT) is None  # 30 members: refused
    try:
        with tenant_transaction(sessions, TENANT) as session:
            assert eager.current(session, TENANT) is None
        assert eager.wait_idle(30)
        assert eager.snapshot(TENANT) is None  # nothing changed: not tried again
        gone = [_member_id(line) for line in patients[:2]]
        with tenant_transaction(sessions, TENANT) as session:
            session.execute(
                delete(Member).where(Member.tenant_id == TENANT, Member.member_id.in_(gone))
            )
        for store in (eager, hourly):
            with tenant_transaction(sessions, TENANT) as session:
                assert store.current(session, TENANT) is None  # SQL answers meanwhile
            assert store.wait_idle(30)
        assert hourly.snapshot(TENANT) is None  # not re-checked within the hour
        snapshot, _ = _current(eager, sessions)
        assert snapshot.members == 28
    finally:
        eager.stop()
        hourly.stop()


def test_the_server_reads_a_write_into_its_overlay_as_the_service_role(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str, tmp_path: Path
) -> None:
    """Over real HTTP, as the service's role (PostgreSQL: row-level security, its grants): after
    a write the next request catches the store up through the gap check, not a rebuild."""
    paths = write_dataset(tmp_path / "s", members=300, queries=5, seed=16, formats=("ndjson",))
    with tenant_transaction(sessions, TENANT) as session:
        assert load_members(session, TENANT, [paths.members_ndjson], as_of=TODAY).ok
    body = {
        k: v
        for k, v in orjson.loads(paths.queries_ndjson.read_bytes().splitlines()[0])[
            "request"
        ].items()
        if v is not None
    }
    token = mint_dev_token(settings, tenant=TENANT, client_id="test-client")
    server = LiveServer(settings)
    with server, server.client(token) as client:
        stores = server.server.config.app.state.member_stores
        client.post("/v1/match", json=body)
        assert stores.wait_idle(30)
        built = stores.snapshot(TENANT)
        assert built is not None
        member_id = _member_id(_patients(paths.members_ndjson.read_bytes().splitlines())[0])
        with tenant_transaction(sessions, TENANT) as session:
            lifecycle.terminate(session, ACTOR, member_id, TODAY)
        served = stores.served
        assert client.post("/v1/match", json=body).status_code == 200
        assert stores.served == served + 1
        caught_up = stores.snapshot(TENANT)
        assert caught_up is not None
        assert caught_up.number > built.number
        assert caught_up.overlay != {}  # read into the overlay, not rebuilt


def test_a_tenant_refused_on_a_rebuild_gives_its_old_snapshot_back(
    sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    """Grown past the bound, a tenant is refused at its next build: SQL answers, and the
    snapshot it had is dropped, never served again."""
    patients = _patients(members)
    _load(sessions, tmp_path / "m.ndjson", patients[:30])
    store = MemberStores(sessions, max_members=30, max_changes=MAX_CHANGES)
    assert store.rebuild(TENANT) is not None
    _load(sessions, tmp_path / "more.ndjson", patients[30:32])
    assert store.rebuild(TENANT) is None
    assert store.snapshot(TENANT) is None
    with tenant_transaction(sessions, TENANT) as session:
        assert store.current(session, TENANT) is None


def test_a_prune_between_the_stores_reads_is_noticed(
    stores: MemberStores, sessions: sessionmaker[Session], members: list[bytes], tmp_path: Path
) -> None:
    """Each of the store's statements may see a later commit (PostgreSQL's READ COMMITTED,
    SQLite's reads outside a transaction). A prune committed just before the store reads what
    changed is seen by the gap check, which is asked after that read: SQL answers."""
    _current(stores, sessions)
    patients = _patients(members)
    renamed = [_changed_family(line, f"Interleaf{i}") for i, line in enumerate(patients[40:43])]
    _load(sessions, tmp_path / "renamed.ndjson", renamed)
    with tenant_transaction(sessions, TENANT) as session:
        lifecycle.terminate(session, ACTOR, _member_id(patients[44]), TODAY)
    engine = sessions.kw["bind"]
    pruned: list[int] = []

    def prune_first(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not pruned and "member_change.id >" in statement:
            pruned.append(0)  # once (the prune's own statements pass through here too)
            pruned[0] = prune_member_changes(
                sessions, TENANT, keep=1, batch_size=5000, dry_run=False
            )

    event.listen(engine, "before_cursor_execute", prune_first)
    try:
        with tenant_transaction(sessions, TENANT) as session:
            assert stores.current(session, TENANT) is None
    finally:
        event.remove(engine, "before_cursor_execute", prune_first)
    assert pruned[0] > 3
    assert stores.wait_idle(60)
    rebuilt, _ = _current(stores, sessions)
    assert rebuilt.overlay == {}
