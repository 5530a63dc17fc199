"""The client and tenant buckets in PostgreSQL (identity/ratelimit_store.py, migration 0019):
one budget for every instance, both buckets or neither, exact under concurrency, the same
decision fields as the in-process buckets, and the store chosen by the database."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from identity.config import Settings
from identity.ratelimit import CLIENT, TENANT, RateLimiter
from identity.ratelimit_store import SharedRateLimiter, choose_rate_limiter, shared_engine
from tests.conftest import APP_ROLE, PostgresServer, as_app_role, service_settings

# Rates so slow that a test's own duration refills nothing worth a token.
SLOW = 0.001


@pytest.fixture
def pg_settings(postgres: PostgresServer, key_dir: Path) -> Iterator[Settings]:
    """A fresh PostgreSQL database, reached as the application role (as the service is)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE identity_template")
    yield as_app_role(service_settings(postgres.url(name), key_dir))
    postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def instance(
    settings: Settings,
    client: tuple[float, int] = (SLOW, 3),
    tenant: tuple[float, int] = (SLOW, 50),
) -> SharedRateLimiter:
    """One service instance's limiter: an engine (and pool) of its own."""
    return SharedRateLimiter(shared_engine(settings), [(CLIENT, *client), (TENANT, *tenant)])


def rows(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM rate_limit_bucket")).scalar_one()
    engine.dispose()
    return int(n)


def test_two_instances_draw_on_one_budget(pg_settings: Settings) -> None:
    a, b = instance(pg_settings), instance(pg_settings)
    answers = [x.acquire("c1", "t").allowed for x in (a, b, a, b, a)]
    assert answers == [True, True, True, False, False]
    # Another client of the tenant still has its own three.
    assert [x.acquire("c2", "t").allowed for x in (b, a, b, a)] == [True, True, True, False]
    a.close(), b.close()


def test_a_refusal_by_the_tenant_takes_nothing_from_the_client(pg_settings: Settings) -> None:
    a, b = instance(pg_settings, tenant=(SLOW, 2)), instance(pg_settings, tenant=(SLOW, 2))
    assert a.acquire("c1", "t").allowed
    assert b.acquire("c2", "t").allowed
    refused = a.acquire("c1", "t")
    assert not refused.allowed
    assert refused.limiting == TENANT
    # c1 took one token, and nothing for the refused request: two left in its bucket.
    c1 = next(p for p in refused.policies if p.name == CLIENT)
    assert c1.remaining == 2
    # On another tenant, c1 has those two and no more.
    assert [b.acquire("c1", "u").allowed for _ in range(3)] == [True, True, False]
    a.close(), b.close()


def test_exact_under_concurrent_requests_from_two_instances(pg_settings: Settings) -> None:
    burst = 40
    limiters = [instance(pg_settings, client=(SLOW, burst)) for _ in range(2)]
    served: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: SharedRateLimiter) -> None:
        for _ in range(15):
            allowed = limiter.acquire("busy", "t").allowed
            with lock:
                served.append(allowed)

    threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(served) == 90
    assert sum(served) == burst  # never a token granted twice, none lost
    for x in limiters:
        x.close()


def test_same_decision_fields_as_the_in_process_buckets(pg_settings: Settings) -> None:
    shared = instance(pg_settings, client=(SLOW, 3), tenant=(SLOW, 5))
    local = RateLimiter(SLOW, 3, SLOW, 5, clock=lambda: 1000.0)
    for _ in range(5):
        mine, theirs = shared.acquire("c", "t"), local.acquire("c", "t")
        assert (mine.allowed, mine.limiting, mine.retry_after_s) == (
            theirs.allowed,
            theirs.limiting,
            theirs.retry_after_s,
        )
        assert [(p.name, p.quota, p.window_s, p.remaining) for p in mine.policies] == [
            (p.name, p.quota, p.window_s, p.remaining) for p in theirs.policies
        ]
        assert mine.headers()["RateLimit-Policy"] == theirs.headers()["RateLimit-Policy"]
    shared.close()


def test_buckets_refill_with_the_database_clock(pg_settings: Settings) -> None:
    fast = instance(pg_settings, client=(20.0, 1))
    assert fast.acquire("c", "t").allowed
    assert not fast.acquire("c", "t").allowed
    time.sleep(0.12)  # 20 tokens a second: one more after 50 ms
    assert fast.acquire("c", "t").allowed
    fast.close()


def test_a_check_that_takes_nothing_keeps_no_row(pg_settings: Settings) -> None:
    limiter = SharedRateLimiter(shared_engine(pg_settings), [("source-failures", SLOW, 1)])
    assert limiter.take({"source-failures": "x"}, consume=False).allowed
    assert rows(pg_settings) == 0
    assert limiter.take({"source-failures": "x"}).allowed
    assert not limiter.take({"source-failures": "x"}, consume=False).allowed
    assert rows(pg_settings) == 1
    limiter.close()


def test_full_buckets_are_forgotten(pg_settings: Settings) -> None:
    quick = instance(pg_settings, client=(1000.0, 1), tenant=(1000.0, 1))
    for i in range(50):
        assert quick.acquire(f"c{i}", f"t{i}").allowed
    time.sleep(0.01)  # every one of those is full again
    # The sweep runs on about one take in a hundred; a few hundred make missing it negligible.
    for _ in range(3000):
        quick.acquire("steady", "t")
        if rows(pg_settings) <= 2:
            break
    assert rows(pg_settings) <= 2  # only the buckets still in use
    quick.close()


def test_the_store_follows_the_database(pg_settings: Settings, tmp_path: Path) -> None:
    sqlite = pg_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/x.db"})
    assert isinstance(choose_rate_limiter(sqlite), RateLimiter)
    shared = choose_rate_limiter(pg_settings)
    assert isinstance(shared, SharedRateLimiter)
    shared.close()
    memory = pg_settings.model_copy(update={"rate_limit_store": "memory"})
    assert isinstance(choose_rate_limiter(memory), RateLimiter)
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        choose_rate_limiter(sqlite.model_copy(update={"rate_limit_store": "database"}))


def test_disabled_limits_never_reach_the_database(pg_settings: Settings) -> None:
    off = pg_settings.model_copy(
        update={"rate_limit_client_per_s": 0.0, "rate_limit_tenant_per_s": 0.0}
    )
    limiter = choose_rate_limiter(off)
    assert not limiter.enabled
    assert limiter.acquire("c", "t").allowed
    assert rows(pg_settings) == 0
    limiter.close()


def test_a_connection_the_server_dropped_is_replaced(pg_settings: Settings) -> None:
    """The limiter's pool skips the pre-ping: a dead connection must cost a retry, not a 503."""
    limiter = instance(pg_settings, client=(SLOW, 3))
    assert limiter.acquire("c", "t").allowed
    owner_url = pg_settings.database_url.replace(f"//{APP_ROLE}@", f"//{PostgresServer.user}@")
    owner = create_engine(owner_url)
    with owner.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    owner.dispose()
    assert killed >= 1
    time.sleep(0.2)  # the backend is gone before the next take
    decisions = [limiter.acquire("c", "t") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]  # the bucket survived
    limiter.close()
