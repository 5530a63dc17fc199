"""`train`: how long `identity train` takes on a synthetic master, phase by phase.

    python -m benchmarks.train_bench --members 1000000      # target: under 10 minutes

1. The synthetic dataset of `var/bench/<members>-<seed>/data/` (generated once, shared with the
   other benchmarks; if another run is writing it, this one waits for it).
2. A SQLite database of our own, `train-sqlite.db` beside it, migrated and loaded once with
   `load_members` (not timed; ~12 minutes for 1M members on the reference machine, so it is kept
   and reused until `--reload`), with the default policy active and every query of
   `queries.ndjson` stored as a match decision: the incoming side, as in production.
3. Training, timed, in a fresh child process (so its peak memory is its own): `train_policy` as
   the CLI runs it, reading the master and the stored requests from the database, writing the
   trained policy into `train-rules/` beside the database (never into `matching_rules/`).

The query set's ground truth gives the true prior to set beside the estimate.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from benchmarks import REPO, TENANT
from benchmarks.load_bench import Dataset, bench_dir, dataset
from benchmarks.machine import machine_block, markdown_table

MARKER = "train-sqlite.json"
# The generator never alters an SSN's digits or gives a ZIP-only or phonetic-only name match to
# the same person, so EM cannot learn those levels from it and would (rightly) refuse them as
# collapsed. The benchmark's copy of the default policy bounds them, as an analyst would.
M_BOUNDS = """
  m_bounds:
    given_name:
      phonetic: {m_min: 0.001}
    household:
      zip: {m_min: 0.001}
    ssn:
      one_digit_off: {m_min: 0.001}
      last_four: {m_min: 0.001}
"""


def _db_path(members: int, seed: int) -> Path:
    return bench_dir(members, seed) / "train-sqlite.db"


def _wait_for_dataset(members: int, seed: int, timeout_s: float = 3600) -> None:
    """Another benchmark may be generating this very dataset: never regenerate under it."""
    data = bench_dir(members, seed) / "data"
    deadline = time.monotonic() + timeout_s
    while data.is_dir() and any(data.glob("*.tmp")):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{data} is still being written by another process")
        print(f"waiting for another process to finish writing {data} ...", flush=True)
        time.sleep(30)


def _standardised_queries(path: Path, today: date) -> list[tuple[str, Any, str | None]]:
    """(query id, standardised record, true member id) of each query."""
    from identity.matching.standardize import standardize
    from identity.resolution.service import parse_match_request

    out = []
    with path.open("rb") as fh:
        for line in fh:
            query = orjson.loads(line)
            raw = parse_match_request(query["request"], today)
            out.append(
                (query["query_id"], standardize(raw, today=today), query["truth"].get("member_id"))
            )
    return out


def _sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def prepare_database(data: Dataset, reload: bool, rules_dir: Path) -> str:
    """A migrated SQLite file with the master loaded and the queries stored as decisions.

    The two steps are resumable apart: a load commits all members or none, so a database that
    holds them all is loaded, whatever happened to the run that loaded it.
    """
    from identity.config import Settings
    from identity.db import make_engine, make_session_factory, transaction, upgrade
    from identity.matching.policy import find_policy
    from identity.matching.record import record_as_dict
    from identity.member.repository import count_members
    from identity.member.service import load_members
    from identity.models import MatchDecision
    from identity.policy import service as policy_service
    from identity.resolution.service import fingerprint

    path = _db_path(data.members, data.seed)
    marker = path.with_name(MARKER)
    url = f"sqlite:///{path}"
    if marker.exists() and not reload:
        return url
    marker.unlink(missing_ok=True)
    if reload:
        for f in _sqlite_files(path):
            f.unlink(missing_ok=True)
    upgrade(url)
    engine = make_engine(Settings(database_url=url, default_tenant=TENANT))
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        loaded = count_members(session, TENANT) == data.members
    load_s = 0.0
    if not loaded:
        engine.dispose()
        for f in _sqlite_files(path):
            f.unlink(missing_ok=True)
        upgrade(url)
        engine = make_engine(Settings(database_url=url, default_tenant=TENANT))
        factory = make_session_factory(engine)
        started = time.perf_counter()
        print(f"loading {data.members:,} members into {path.name} (not timed) ...", flush=True)
        with transaction(factory) as session:
            report = load_members(session, TENANT, [data.members_file])
            if not report.ok:
                raise RuntimeError(f"{report.error_count} bad lines in {data.members_file}")
        load_s = time.perf_counter() - started
        print(f"loaded in {load_s:,.0f} s", flush=True)
    print(f"storing {data.queries:,} match requests ...", flush=True)
    policy = find_policy(rules_dir, "default")
    queries = _standardised_queries(data.queries_file, date.today())
    with transaction(factory) as session:
        session.query(MatchDecision).filter(MatchDecision.tenant_id == TENANT).delete()
        policy_service.activate(session, TENANT, policy)
        session.flush()
        session.add_all(
            MatchDecision(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, query_id)),
                tenant_id=TENANT,
                input_fingerprint=fingerprint(record),
                policy_version=policy.version,
                outcome="review",
                stage="bench",
                reason="bench",
                member_id=None,
                probability=None,
                candidates=[],
                stored_evidence={"query": record_as_dict(record)},
                timings_ms={},
            )
            for query_id, record, _ in queries
        )
    engine.dispose()
    marker.write_text(json.dumps({"members": data.members, "load_s": round(load_s, 1)}))
    return url


def _train_in_child(url: str, rules_dir: str, max_pairs: int, recall: float) -> dict[str, Any]:
    from identity.config import Settings
    from identity.db import make_engine, make_session_factory, transaction
    from identity.matching.policy import find_policy
    from identity.training.report import text_report
    from identity.training.service import train_policy
    from identity.training.train import TrainOptions

    started = time.perf_counter()
    engine = make_engine(Settings(database_url=url, default_tenant=TENANT))
    source = find_policy(Path(rules_dir), "default")
    options = TrainOptions(max_pairs=max_pairs, recall=recall, em_max_pairs=max_pairs // 2)
    with transaction(make_session_factory(engine)) as session:
        run = train_policy(
            session,
            TENANT,
            source,
            rules_dir=Path(rules_dir),
            options=options,
            charts=True,
            progress=lambda step: print(f"  ... {step}", flush=True),
        )
    engine.dispose()
    total = time.perf_counter() - started
    return {
        "total_s": total,
        "timings": run.timings,
        "problems": run.problems,
        "version": run.written.version if run.written else None,
        "path": str(run.path) if run.path else None,
        "prior": run.estimates.prior,
        "deterministic_links": run.estimates.deterministic_pairs,
        "incoming": len(run.incoming.records),
        "master": run.master_count,
        "em": [r.as_dict() for r in run.estimates.em_runs],
        "u_defaults": run.estimates.u_defaults,
        "m_not_observed": run.estimates.m_not_observed,
        "report": text_report(run),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def timed_training(url: str, rules_dir: Path, max_pairs: int, recall: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_train_in_child, url, str(rules_dir), max_pairs, recall).result()


def true_links(data: Dataset) -> tuple[int, int]:
    """(distinct incoming requests, those whose true member is in the master)."""
    from identity.resolution.service import fingerprint

    seen: dict[str, bool] = {}
    for _, record, member_id in _standardised_queries(data.queries_file, date.today()):
        key = fingerprint(record)
        seen[key] = seen.get(key, False) or member_id is not None
    return len(seen), sum(seen.values())


def render(data: Dataset, result: dict[str, Any], truth: tuple[int, int], recall: float) -> str:
    rows = [[name, f"{seconds:,.1f}"] for name, seconds in result["timings"].items()]
    rows.append(["**total (connect to policy written)**", f"**{result['total_s']:,.1f}**"])
    distinct, linked = truth
    true_prior = linked / (distinct * data.members) if distinct and data.members else float("nan")
    verdict = "refused: " + "; ".join(result["problems"]) if result["problems"] else "written"
    notes = [
        f"Master: {result['master']:,} synthetic members (seed {data.seed}), read from SQLite "
        "(`train-sqlite.db`, loaded once, not timed); incoming: "
        f"{result['incoming']:,} distinct stored match requests (`queries.ndjson`).",
        f"Prior: estimated {result['prior']:.3g} (deterministic rules found "
        f"{result['deterministic_links']:,} links, recall assumed {recall:g}); true "
        f"{true_prior:.3g} ({linked:,} of {distinct:,} requests are members), so the rules' "
        f"actual recall was {result['deterministic_links'] / linked if linked else 0:.2f}.",
        "EM: "
        + "; ".join(
            f"`{r['blocking_rule']}` {r['pairs']:,} pairs, {r['iterations']} iterations"
            + ("" if r["converged"] else " (not converged)")
            for r in result["em"]
        ),
        f"Policy {verdict}: {result['version'] or '-'}; peak RSS of the training process "
        f"{result['peak_rss_mb']:,.0f} MB.",
        "Machine load average (1 min) before / after training: "
        f"{result['load'][0]:.2f} / {result['load'][1]:.2f} (2 cores: above ~0.5 before, other "
        "work shared the machine).",
        "u kept from the policy: " + (", ".join(result["u_defaults"]) or "none"),
        "m kept from the policy (EM never observed): "
        + (", ".join(result["m_not_observed"]) or "none"),
    ]
    return "\n\n".join(
        [
            f"### Training, {data.members:,} members",
            markdown_table(["phase", "seconds"], rows),
            "\n".join(f"- {n}" for n in notes),
            machine_block({"splink": _splink_version(), "DuckDB": _duckdb_version()}),
        ]
    )


def _splink_version() -> str:
    import splink

    return str(splink.__version__)


def _duckdb_version() -> str:
    import duckdb

    return str(duckdb.__version__)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_bench", description=__doc__)
    p.add_argument("--members", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--queries", type=int, default=10_000, help="queries generated with the data")
    p.add_argument("--max-pairs", type=int, default=10_000_000, help="u sampling pairs")
    p.add_argument("--recall", type=float, default=0.6, help="assumed recall of the rules")
    p.add_argument("--reload", action="store_true", help="reload train-sqlite.db")
    p.add_argument("--prepare-only", action="store_true", help="load the database, do not train")
    args = p.parse_args(argv)

    _wait_for_dataset(args.members, args.seed)
    data = dataset(args.members, args.seed, args.queries)
    rules_dir = _db_path(args.members, args.seed).with_name("train-rules")
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir()
    text = (REPO / "matching_rules" / "default.yaml").read_text()
    if "m_bounds:" not in text:  # the policy's own bounds win
        text = text.replace("\nmodel:\n", "\nmodel:" + M_BOUNDS, 1)
    (rules_dir / "default.yaml").write_text(text)
    url = prepare_database(data, args.reload, rules_dir)
    if args.prepare_only:
        return 0
    print(f"training on {data.members:,} members ...", flush=True)
    load_before = os.getloadavg()[0]
    result = timed_training(url, rules_dir, args.max_pairs, args.recall)
    result["load"] = (load_before, os.getloadavg()[0])
    print(result.pop("report"))
    print(json.dumps({k: v for k, v in result.items()}, default=str))
    print()
    print(render(data, result, true_links(data), args.recall))
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
