"""`load`: how fast a member master loads, first into an empty database, then again unchanged.

Each load runs in a fresh child process (so its peak memory is its own) and is timed from the
first byte read to the commit and the connection closed (SQLite checkpoints its WAL then).
The databases are left behind, with the default policy active, for the `http` benchmark.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import BENCH_DIR, TENANT
from benchmarks.machine import (
    code_fingerprint,
    machine_block,
    machine_busy_seconds,
    markdown_table,
    same_code,
    tree_cpu_seconds,
)
from benchmarks.postgres import PostgresServer, postgres_server, settings_summary

PG_DATABASE = "identity"


@dataclass(frozen=True)
class Dataset:
    members: int
    queries: int
    seed: int
    members_file: Path
    queries_file: Path
    generate_s: float
    cached: bool


def bench_dir(members: int, seed: int) -> Path:
    return BENCH_DIR / f"{members}-{seed}"


def dataset(members: int, seed: int, queries: int, fmt: str = "ndjson") -> Dataset:
    """The synthetic dataset for (members, seed), generated once and kept in var/bench/."""
    from identity.synthetic import write_dataset

    root = bench_dir(members, seed)
    marker = root / "dataset.json"
    info = json.loads(marker.read_text()) if marker.exists() else {}
    cached = bool(info) and info.get("queries", 0) >= queries
    if not cached:
        print(f"generating {members:,} members and {queries:,} queries (seed {seed}) ...")
        shutil.rmtree(root / "data", ignore_errors=True)
        marker.unlink(missing_ok=True)
        started = time.perf_counter()
        write_dataset(
            root / "data", members=members, queries=queries, seed=seed, progress=sys.stderr.isatty()
        )
        info = {"members": members, "queries": queries, "seed": seed}
        info["generate_s"] = round(time.perf_counter() - started, 1)
        marker.write_text(json.dumps(info, indent=2))
    data = root / "data"
    return Dataset(
        members=members,
        queries=int(info["queries"]),
        seed=seed,
        members_file=data / ("members.csv" if fmt == "csv" else "members.ndjson"),
        queries_file=data / "queries.ndjson",
        generate_s=float(info["generate_s"]),
        cached=cached,
    )


@dataclass(frozen=True)
class LoadRun:
    seconds: float
    read: int
    inserted: int
    updated: int
    unchanged: int
    peak_rss_mb: float
    complete: bool = True
    fraction: float = 1.0  # of the file's bytes read, when stopped at the time limit
    cpu_s: float = 0.0  # the loader process's own CPU
    db_cpu_s: float = 0.0  # the PostgreSQL server's, during the load
    machine_cpu_s: float = 0.0  # every process on the machine, during the load
    key_names: tuple[str, ...] = ()  # the blocking keys the loader's code wrote

    @property
    def others_cpu_s(self) -> float:
        return max(0.0, self.machine_cpu_s - self.cpu_s - self.db_cpu_s)


def _analyze_after_first_batch() -> None:
    """Benchmark-only workaround (--analyze-early): `ANALYZE member` inside the load's own
    transaction once its first batch is written, so PostgreSQL plans the existing-member lookup
    with statistics instead of for an empty table."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from identity.member import service
    from identity.member.repository import PreparedMember, UpsertCounts, upsert_members

    original = upsert_members
    done: list[bool] = []

    def upsert_then_analyze(
        session: Session, tenant: str, batch: Sequence[PreparedMember], *rest: Any
    ) -> UpsertCounts:
        counts = original(session, tenant, batch, *rest)
        if not done:
            session.execute(text("ANALYZE member"))
            done.append(True)
        return counts

    setattr(service, "upsert_members", upsert_then_analyze)  # noqa: B010 - what flush() calls


def _own_cpu() -> float:
    """This process's CPU and its finished children's (the load's worker processes)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _load_in_child(
    url: str, path: str, analyze_early: bool, progress: Any, results: Any, db_pid: int | None
) -> None:
    """One timed load; CPU is measured over exactly the timed window."""
    try:
        from identity.config import Settings
        from identity.db import make_engine, make_session_factory
        from identity.matching.blocking import BLOCKING_KEYS
        from identity.member import service

        if analyze_early and not url.startswith("sqlite"):
            _analyze_after_first_batch()

        def on_bytes(n: int) -> None:
            progress.value += n

        def db_cpu() -> float:
            return tree_cpu_seconds(db_pid) if db_pid is not None else 0.0

        settings = Settings(database_url=url, default_tenant=TENANT)
        engine = make_engine(settings)
        session = make_session_factory(engine)()
        workers = service.workers_for([Path(path)], settings.load_workers)
        cpu0, db0, machine0 = _own_cpu(), db_cpu(), machine_busy_seconds()
        started = time.perf_counter()
        try:
            report = service.load_members(
                session, TENANT, [Path(path)], on_bytes=on_bytes, workers=workers
            )
            if not report.ok:
                raise RuntimeError(f"{report.error_count} bad lines, first: {report.errors[:3]}")
            session.commit()
        finally:
            session.close()
            engine.dispose()
        seconds = time.perf_counter() - started
        c = report.counts
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run = LoadRun(seconds, report.read, c.inserted, c.updated, c.unchanged, rss)
        run = replace(
            run,
            cpu_s=_own_cpu() - cpu0,
            db_cpu_s=db_cpu() - db0,
            machine_cpu_s=machine_busy_seconds() - machine0,
            key_names=tuple(sorted(BLOCKING_KEYS)),
        )
        results.put(run)
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")
        raise


def timed_load(
    url: str,
    path: Path,
    label: str,
    *,
    analyze_early: bool = False,
    limit_s: float = 0,
    db_pid: int | None = None,
) -> LoadRun:
    """Load in a fresh process (its own peak memory; killed cleanly at the time limit, which
    rolls the transaction back), printing progress every 30 s."""
    ctx = multiprocessing.get_context("spawn")
    progress = ctx.RawValue("q", 0)
    results = ctx.Queue()
    args = (url, str(path), analyze_early, progress, results, db_pid)
    # Not a daemon: the load starts worker processes of its own (IDENTITY_LOAD_WORKERS).
    proc = ctx.Process(target=_load_in_child, args=args)
    machine0, db0 = machine_busy_seconds(), tree_cpu_seconds(db_pid) if db_pid else 0.0
    proc.start()
    total, started = path.stat().st_size, time.monotonic()
    next_report = started + 30
    try:
        while True:
            try:
                outcome = results.get(timeout=1.0)
                break
            except queue.Empty:
                pass
            now = time.monotonic()
            if not proc.is_alive():
                outcome = results.get(timeout=5)
                break
            fraction = progress.value / total
            if limit_s and now - started > limit_s:
                print(f"{label}: stopped at the {limit_s:.0f} s limit, {fraction:.1%} read")
                return LoadRun(
                    seconds=now - started,
                    read=0,
                    inserted=0,
                    updated=0,
                    unchanged=0,
                    peak_rss_mb=0.0,
                    complete=False,
                    fraction=fraction,
                    cpu_s=tree_cpu_seconds(proc.pid or 0),
                    db_cpu_s=tree_cpu_seconds(db_pid) - db0 if db_pid is not None else 0.0,
                    machine_cpu_s=machine_busy_seconds() - machine0,
                )
            if now >= next_report:
                print(f"{label}: {now - started:,.0f} s, {fraction:.1%} of the file", flush=True)
                next_report = now + 30
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=30)
    if not isinstance(outcome, LoadRun):
        raise RuntimeError(f"{label} failed: {outcome}")
    return outcome


def sqlite_bytes(path: Path) -> int:
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists())


def sqlite_path(members: int, seed: int) -> Path:
    return bench_dir(members, seed) / "sqlite.db"


def pg_data_dir(members: int, seed: int) -> Path:
    return bench_dir(members, seed) / "postgresql"


def ready_marker(members: int, seed: int, db: str) -> Path:
    return bench_dir(members, seed) / f"ready-{db}.json"


def activate_default_policy(url: str) -> str:
    """`identity policy activate default` in a fresh process (the code on disk now, not what
    this process imported when it started); raises with the command's message on failure."""
    env = {**os.environ, "IDENTITY_DATABASE_URL": url, "IDENTITY_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "identity", "policy", "activate", "default", "--tenant", TENANT]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"policy activation failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


def current_key_names() -> list[str]:
    """The blocking keys a load would write with the code on disk now."""
    code = "from identity.matching.blocking import BLOCKING_KEYS; print(','.join(BLOCKING_KEYS))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return sorted(done.stdout.strip().split(","))


def blocking_rows(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM blocking_key")).scalar() or 0)
    finally:
        engine.dispose()


@contextmanager
def bench_postgres(members: int, seed: int) -> Iterator[PostgresServer]:
    """The kept cluster for (members, seed), started on a free loopback port for this run."""
    with postgres_server(pg_data_dir(members, seed)) as server:
        yield server


@dataclass(frozen=True)
class LoadResult:
    db: str
    label: str
    members: int
    first: LoadRun
    second: LoadRun | None
    db_bytes: int | None
    file_bytes: int
    keys_per_member: float = 0.0
    ready: str = ""  # the policy activation's message, or why the database is not ready


def load_one(
    data: Dataset,
    db: str,
    server: PostgresServer | None,
    *,
    analyze_early: bool = False,
    limit_s: float = 0,
    reload: bool = True,
) -> LoadResult:
    """Migrate a fresh database, load twice (once with `reload=False`: only the database is
    wanted, not the unchanged-reload figure), leave it ready (policy active) for `http`."""
    from identity.db import upgrade

    marker = ready_marker(data.members, data.seed, db)
    marker.unlink(missing_ok=True)
    if server is None:
        path = sqlite_path(data.members, data.seed)
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            f.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = server.fresh_database(PG_DATABASE)
    upgrade(url)
    analyze_early = analyze_early and server is not None
    label = f"{db} (ANALYZE after batch 1)" if analyze_early else db
    file_bytes = data.members_file.stat().st_size
    print(f"[{label}] loading {data.members_file.name} ({data.members:,} members) ...", flush=True)
    pid = server.pid() if server else None
    name = f"[{label}] first load"
    first = timed_load(
        url, data.members_file, name, analyze_early=analyze_early, limit_s=limit_s, db_pid=pid
    )
    if not first.complete:
        return LoadResult(db, label, data.members, first, None, None, file_bytes)
    again = "; loading it again ..." if reload else ""
    print(f"[{label}] first load {first.seconds:.1f} s{again}", flush=True)
    size = sqlite_bytes(path) if server is None else server.database_bytes(PG_DATABASE)
    keys_per_member = blocking_rows(url) / max(1, first.inserted)
    second: LoadRun | None = None
    if reload:
        name = f"[{label}] second load"
        second = timed_load(url, data.members_file, name, limit_s=limit_s, db_pid=pid)
        print(f"[{label}] second load {second.seconds:.1f} s", flush=True)
    if server is not None:
        server.execute("ANALYZE", PG_DATABASE)  # what autovacuum would soon do after a bulk load
    try:
        ready = activate_default_policy(url)
        info = {"members": data.members, "key_names": list(first.key_names), "policy": ready}
        marker.write_text(json.dumps(info))
    except RuntimeError as exc:
        ready = f"NOT ready for `http`: {exc}"
        print(f"[{label}] {ready}", flush=True)
    result = LoadResult(
        db, label, data.members, first, second, size, file_bytes, keys_per_member, ready
    )
    second_json = asdict(second) if second else None
    print(json.dumps({"db": label, "first": asdict(first), "second": second_json}), flush=True)
    return result


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def _row(r: LoadResult) -> list[str]:
    first, second = r.first, r.second
    if not first.complete:
        rate = first.fraction * r.members / first.seconds
        return [
            r.label,
            f"{r.members:,}",
            f"≈{rate:,.0f} (average until stopped)",
            f"did not finish: {first.fraction:.0%} of the file in {first.seconds:,.0f}",
            "-",
            "-",
            "-",
            "-",
            "-",
            _cpu(first),
        ]
    rss = max(first.peak_rss_mb, second.peak_rss_mb if second else 0.0)
    return [
        r.label,
        f"{r.members:,}",
        f"{first.read / first.seconds:,.0f}",
        f"{first.seconds:,.1f}",
        _mb(r.db_bytes or 0),
        f"{r.keys_per_member:.1f}",
        f"{second.read / second.seconds:,.0f}" if second and second.complete else "-",
        f"{second.seconds:,.1f}" if second else "-",
        f"{rss:,.0f} MB",
        _cpu(first),
    ]


def _cpu(run: LoadRun) -> str:
    def pct(cpu_s: float) -> str:
        return f"{cpu_s / run.seconds * 100:.0f}%"

    return f"{pct(run.cpu_s)} / {pct(run.db_cpu_s)} / {pct(run.others_cpu_s)}"


def render(results: list[LoadResult], data: Dataset, extra: dict[str, str]) -> str:
    header = ["database", "members", "first load: members/s", "first load: s", "database size"]
    header += ["blocking keys / member"]
    header += ["second load (unchanged): members/s", "second load: s", "loader peak RSS"]
    header += ["first load CPU: loader / PostgreSQL / other processes"]
    gen = "cached" if data.cached else "generated now"
    notes = [
        f"Input: `{data.members_file.name}` ({_mb(results[0].file_bytes) if results else '?'}), "
        f"seed {data.seed}; generation took {data.generate_s:,.0f} s ({gen}).",
        "Timed: one `load_members` transaction in a fresh process (with `IDENTITY_LOAD_WORKERS` "
        "worker processes for files of 10 MB or more), read → validate → standardise → "
        "blocking keys → upsert → commit → close. Migration, generation and process start are "
        "not timed. The second load finds every member unchanged by its content hash, before "
        "any validation, and writes none.",
        "CPU: CPU seconds per wall second of the first load (100% = one core of the 2) for the "
        "loader process with its workers, the PostgreSQL server, and every other process on the "
        "machine (from /proc/stat); other processes well above a few % competed with the load.",
    ]
    if any("ANALYZE" in r.label for r in results):
        notes.append(
            "(ANALYZE after batch 1): a benchmark-only workaround, not the service as shipped — "
            "`ANALYZE member` inside the load's transaction after its first 2,000 members, so "
            "PostgreSQL plans the per-batch existing-member lookup with statistics."
        )
    for r in results:
        c1, c2 = r.first, r.second
        if c2 is not None:
            notes.append(
                f"{r.label}: first load inserted {c1.inserted:,} (updated {c1.updated}, "
                f"unchanged {c1.unchanged}); second load unchanged {c2.unchanged:,} "
                f"(inserted {c2.inserted}, updated {c2.updated}); blocking keys written: "
                f"{', '.join(c1.key_names)}; afterwards: {r.ready}"
            )
    return "\n\n".join(
        [
            f"### Load, {data.members:,} members",
            markdown_table(header, [_row(r) for r in results]),
            "\n".join(f"- {n}" for n in notes),
            machine_block(extra),
        ]
    )


def run(
    members: int,
    seed: int,
    queries: int,
    dbs: list[str],
    fmt: str,
    *,
    analyze_early: bool = False,
    limit_s: float = 0,
) -> str:
    code = code_fingerprint()
    data = dataset(members, seed, queries, fmt)
    results: list[LoadResult] = []
    extra: dict[str, str] = {}
    for db in dbs:
        if db == "sqlite":
            results.append(load_one(data, db, None, limit_s=limit_s))
            continue
        with bench_postgres(members, seed) as server:
            extra["PostgreSQL"] = f"{server.version()} ({settings_summary()})"
            results.append(load_one(data, db, server, analyze_early=analyze_early, limit_s=limit_s))
    extra["code"] = same_code(code)
    return render(results, data, extra)
