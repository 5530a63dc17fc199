"""`profile`: one endpoint's requests one at a time, in-process, with the CPU each costs.

The real app (`create_app`, its lifespan, authentication, rate limiter, audit) on the database the
last `load` left, called through Starlette's TestClient (no sockets: what is left is our code,
FastAPI and the database), with the collector settled as `identity serve` settles it
(`settle_collector`). Reports CPU ms per request (this process's CPU time over the
measured requests: the app, SQLite's C code and the test client; not PostgreSQL's server), the
SQL statements a request issues by kind, the connections it checks out of a pool (on PostgreSQL
each is a round trip of its own: the pool's pre-ping), and, with py-spy installed, where the
samples go (`summarise_profile`'s tables). SQLite runs on a copy that is thrown away, so runs do
not grow the benchmark's database; PostgreSQL runs on the benchmark's cluster itself, as the
`http` benchmark does.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import TENANT
from benchmarks.http_bench import auth_headers, prepare, request_bodies
from benchmarks.load_bench import Dataset, dataset, pg_data_dir, sqlite_path
from benchmarks.member_match_bench import (
    FHIR_JSON,
    PATH,
    REQUESTER,
    member_match_bodies,
    start_profile,
    summarise_profile,
)
from benchmarks.postgres import postgres_server
from identity.config import Settings

ENDPOINTS = {"match": "/v1/match", "member-match": PATH}


def _copy(source: Path, target: Path) -> None:
    """SQLite's backup API: a consistent copy even of a database in WAL mode."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@contextmanager
def _database(data: Dataset, db: str, work: Path) -> Iterator[str]:
    """The URL to profile on: a throwaway copy of the SQLite benchmark database, or the
    PostgreSQL benchmark cluster (started for the run)."""
    if db == "sqlite":
        prepare(data, "sqlite", None)
        copy = work / "profile.db"
        _copy(sqlite_path(data.members, data.seed), copy)
        yield f"sqlite:///{copy}"
        return
    with postgres_server(pg_data_dir(data.members, data.seed)) as server:
        yield prepare(data, "postgresql", server)


def run(
    members: int,
    seed: int,
    queries: int,
    endpoint: str,
    count: int,
    warmup: int,
    spy: bool,
    gil: bool = False,
    db: str = "sqlite",
) -> str:
    data = dataset(members, seed, queries)
    work = Path(tempfile.mkdtemp(prefix="identity-profile-"))
    try:
        with _database(data, db, work) as url:
            return _profile(url, db, data, endpoint, count, warmup, spy, gil, work)
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()


def _profile(
    database_url: str,
    db: str,
    data: Dataset,
    endpoint: str,
    count: int,
    warmup: int,
    spy: bool,
    gil: bool,
    work: Path,
) -> str:
    from sqlalchemy import event

    with warnings.catch_warnings():  # its advice (httpx2) is not ours to take here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from identity.app import create_app, settle_collector

    today = datetime.now(UTC).date()
    if endpoint == "match":
        bodies = request_bodies(data.queries_file)
        org, content_type = None, "application/json"
    else:
        bodies = member_match_bodies(data.queries_file, REQUESTER, today).bodies
        org, content_type = REQUESTER, FHIR_JSON
    settings = Settings(
        database_url=database_url,
        default_tenant=TENANT,
        log_level="WARNING",
        dev_auth=True,
        dev_key_file=work / "dev-key.pem",
        signing_key_file=work / "signing-key.pem",
        data_key_file=work / "data-key",
        rate_limit_client_per_s=1e6,
        rate_limit_client_burst=1_000_000,
        rate_limit_tenant_per_s=1e6,
        rate_limit_tenant_burst=1_000_000,
    )
    headers = auth_headers(settings.dev_key_file, org, content_type)
    statements: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    checkouts = [0]

    def count_statement(*args: Any) -> None:
        statements[str(args[2]).lstrip().split(None, 1)[0].upper()] += 1

    def count_checkout(*_args: Any) -> None:
        checkouts[0] += 1

    with TestClient(create_app(settings)) as client:
        url = ENDPOINTS[endpoint]
        state = client.app.state  # type: ignore[attr-defined]
        if state.member_stores is not None:  # measure the served state, not the start-up build
            state.member_stores.wait_idle(600.0)
        for body in bodies[:warmup]:
            client.post(url, content=body, headers=headers)
        settle_collector()  # as `identity serve`'s app_factory does
        event.listen(state.engine, "before_cursor_execute", count_statement)
        event.listen(state.engine.pool, "checkout", count_checkout)
        measured = bodies[warmup : warmup + count]
        spy_out = work / "py-spy.txt"
        proc = start_profile(os.getpid(), spy_out, 3600, gil) if spy else None
        if proc is not None:
            time.sleep(1.0)  # py-spy attaches
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for body in measured:
            statuses[client.post(url, content=body, headers=headers).status_code] += 1
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt
            proc.wait(timeout=60)
    n = len(measured)
    lines = [
        f"`{url}`, {n} requests one at a time in-process (TestClient), {data.members:,} members, "
        f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'}, after {warmup} warm-up requests:",
        "",
        f"- CPU per request: **{cpu / n * 1000:.2f} ms** (wall {wall / n * 1000:.2f} ms)",
        f"- statements per request: {sum(statements.values()) / n:.1f} "
        f"({', '.join(f'{k} {v / n:.1f}' for k, v in statements.most_common())})",
        f"- connections checked out of the request engine's pool per request: "
        f"{checkouts[0] / n:.1f}",
        f"- answers: {dict(sorted(statuses.items()))}",
    ]
    if spy and spy_out.exists():
        lines += ["", summarise_profile(spy_out, top=25, gil=gil)]
    return "\n".join(lines)
