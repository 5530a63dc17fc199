"""What the shared rate limits cost a request: `python -m benchmarks.ratelimit_bench`.

Times `acquire` (a client's and its tenant's bucket) in memory and in PostgreSQL
(identity/ratelimit_store.py) on a durable throwaway server on loopback, one caller and several at
once, and counts the statements each acquire sends (one round trip is the design's promise).
Prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from benchmarks.postgres import postgres_server, settings_summary
from identity.config import Settings
from identity.db import upgrade
from identity.ratelimit import RateLimiter
from identity.ratelimit_store import SharedRateLimiter, shared_engine

LIMITS = [("client", 1e6, 10**9), ("tenant", 1e6, 10**9)]  # far above the load: never refuses


def _timed(acquire: Callable[[int], Any], calls: int, threads: int) -> tuple[list[float], float]:
    """Latencies (ms) of `calls` acquires spread over `threads`, and their CPU (ms) per call."""
    latencies: list[float] = []
    lock = threading.Lock()

    def run(worker: int) -> None:
        mine = []
        for n in range(calls // threads):
            t0 = time.perf_counter()
            acquire(worker * 1000 + n % 50)
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    workers = [threading.Thread(target=run, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cpu = (time.process_time() - cpu0) * 1000 / len(latencies)
    del wall0
    return latencies, cpu


def _row(store: str, threads: int, latencies: list[float], cpu_ms: float, stmts: float) -> str:
    q = statistics.quantiles(latencies, n=100)
    return (
        f"| {store} | {threads} | {len(latencies):,} | {statistics.mean(latencies):.3f} | "
        f"{q[49]:.3f} | {q[98]:.3f} | {cpu_ms:.3f} | {stmts:g} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ratelimit_bench")
    p.add_argument("--calls", type=int, default=5000)
    args = p.parse_args()
    print(
        "| store | callers | acquires | mean ms | p50 ms | p99 ms | client CPU ms / acquire "
        "| statements / acquire |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    memory = RateLimiter.of(LIMITS)
    for threads in (1, 8):
        lat, cpu = _timed(
            lambda n: memory.take({"client": f"c{n}", "tenant": "t"}), args.calls, threads
        )
        print(_row("memory", threads, lat, cpu, 0))
    with postgres_server() as server:
        url = server.fresh_database("ratelimit")
        upgrade(url)
        settings = Settings(database_url=url, db_pool_size=8)
        engine = shared_engine(settings)
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(engine, "before_cursor_execute", count)
        shared = SharedRateLimiter(engine, LIMITS)
        shared.take({"client": "warm", "tenant": "t"})
        for threads in (1, 8):
            statements = 0
            lat, cpu = _timed(
                lambda n: shared.take({"client": f"c{n}", "tenant": "t"}), args.calls, threads
            )
            print(_row("PostgreSQL", threads, lat, cpu, statements / len(lat)))
        shared.close()
        print(f"\nPostgreSQL {server.version()} on loopback ({settings_summary()})")


if __name__ == "__main__":
    main()
