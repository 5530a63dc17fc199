"""PostgreSQL's pool pings a connection only after it sat idle (identity/db.py: ping_when_idle).

A real server throughout. The ping is observed by wrapping SQLAlchemy's own `do_ping` (a third
party's method, called through, not replaced): the behaviour under test is when we ask for it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from identity.config import Settings
from identity.db import make_engine
from tests.conftest import PostgresServer, service_settings


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE identity_template")
    yield postgres.url(name)
    postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _engine(url: str, key_dir: Path, idle_s: float) -> tuple[Engine, list[int]]:
    settings: Settings = service_settings(url, key_dir).model_copy(
        update={"db_ping_after_idle_s": idle_s, "db_pool_size": 1}
    )
    engine = make_engine(settings)
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return engine, pings


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    owner = create_engine(url)
    with owner.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    owner.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url: str, key_dir: Path) -> None:
    engine, pings = _engine(pg_url, key_dir, idle_s=60.0)
    first = _backend(engine)
    for _ in range(5):
        assert _backend(engine) == first  # the same pooled connection, handed out as it is
    assert pings == []
    engine.dispose()


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(pg_url: str, key_dir: Path) -> None:
    engine, pings = _engine(pg_url, key_dir, idle_s=0.2)
    first = _backend(engine)
    time.sleep(0.3)
    assert _backend(engine) == first  # idle past the window: pinged, alive, kept
    assert len(pings) == 1
    _terminate(pg_url, first)
    time.sleep(0.3)
    second = _backend(engine)  # the ping finds it closed: the pool connects afresh
    assert second != first
    assert len(pings) == 2
    engine.dispose()


def test_zero_pings_at_every_checkout(pg_url: str, key_dir: Path) -> None:
    engine, pings = _engine(pg_url, key_dir, idle_s=0.0)
    for _ in range(3):
        _backend(engine)
    assert len(pings) == 2  # every checkout but the first (a new connection needs none)
    engine.dispose()
