"""`bulk`: PDex $bulk-member-match end to end over real HTTP, SQLite.

The synthetic master of `load` (prepared once per members/seed and reused, as `http` does) is
copied to a scratch database for each run, so every run starts from the same state (no decisions,
review items or brute-force bookkeeping left by an earlier run). `identity serve` runs on it as a
subprocess on 127.0.0.1; one request carries the first N queries of the synthetic query set as
MemberBundles (MemberPatient = the query's Patient, CoverageToMatch = its card, a Consent valid
today naming the benchmark client's organisation as recipient), sent by a client holding a
development token with that organisation.

Timed end to end: from the kick-off's first byte sent to the status answering 200 (polled every
0.5 s), then each output fetched. Reported: members/s end to end, the kick-off's latency, the
outputs' retrieval time, the result groups with each member's outcome code (read from the scratch
database afterwards), the server's peak memory and its CPU and the other processes' during the run.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks import TENANT
from benchmarks.http_bench import peak_rss_mb, prepare, serve
from benchmarks.load_bench import Dataset, bench_dir, dataset
from benchmarks.machine import (
    code_fingerprint,
    machine_block,
    machine_busy_seconds,
    markdown_table,
    same_code,
    tree_cpu_seconds,
)
from identity.auth.dev import mint_dev_token
from identity.clients.organization import OrgIdentifier
from identity.config import Settings

TARGET_PER_S = 2000.0  # issue 14 (it was 500)
POLL_S = 0.5  # every poll is a request the server answers and audits; often enough for ±1%
REQUESTER = OrgIdentifier("http://hl7.org/fhir/sid/us-npi", "0123456789")
CONSENT_POLICY = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular"


def consent() -> dict[str, Any]:
    """An HRex consent valid today, naming the benchmark client's organisation as recipient."""
    today = date.today()
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}
                ]
            }
        ],
        "policy": [{"uri": CONSENT_POLICY}],
        "provision": {
            "type": "permit",
            "period": {
                "start": (today - timedelta(days=30)).isoformat(),
                "end": (today + timedelta(days=365)).isoformat(),
            },
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {
                        "identifier": {"system": REQUESTER.system, "value": REQUESTER.value}
                    },
                }
            ],
            "action": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                            "code": "disclose",
                        }
                    ]
                }
            ],
        },
    }


def bulk_body(queries_file: Path, members: int) -> bytes:
    """The first `members` queries as MemberBundles of one $bulk-member-match request. A query
    without a card keeps none: that member lacks what a match needs and is not matched."""
    bundles: list[dict[str, Any]] = []
    shared_consent = consent()
    with queries_file.open("rb") as f:
        for line in f:
            if len(bundles) == members:
                break
            if not line.strip():
                continue
            request = orjson.loads(line)["request"]
            parts = [{"name": "MemberPatient", "resource": request["patient"]}]
            if request.get("coverage"):
                parts.append({"name": "CoverageToMatch", "resource": request["coverage"]})
            parts.append({"name": "Consent", "resource": shared_consent})
            bundles.append({"name": "MemberBundle", "part": parts})
    if len(bundles) < members:
        raise RuntimeError(f"the query set has {len(bundles)} queries, not {members}")
    return orjson.dumps({"resourceType": "Parameters", "parameter": bundles})


@dataclass
class Run:
    members: int
    batch_size: int
    body_bytes: int
    kick_off_s: float = 0.0
    total_s: float = 0.0  # kick-off sent → status 200
    outputs_s: float = 0.0
    outputs: int = 0
    groups: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    server_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    peak_mb: float = 0.0
    polls: int = 0

    @property
    def per_s(self) -> float:
        return self.members / self.total_s if self.total_s else 0.0

    @property
    def others_cpu_s(self) -> float:
        return max(0.0, self.machine_cpu_s - self.server_cpu_s)


def _scratch_copy(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    # A consistent copy even if a WAL is left behind: SQLite's own backup.
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _outcomes(db: Path, job_id: str) -> tuple[Counter[str], Counter[str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT result, outcome FROM bulk_match_member WHERE job_id = ?", (job_id,)
        ).fetchall()
    return Counter(r for r, _ in rows), Counter(o for _, o in rows)


def run_once(data: Dataset, url: str, members: int, batch_size: int, log_dir: Path) -> Run:
    source = Path(url.removeprefix("sqlite:///"))
    scratch = log_dir / "bulk-run.db"
    _scratch_copy(source, scratch)
    body = bulk_body(data.queries_file, members)
    run = Run(members=members, batch_size=batch_size, body_bytes=len(body))
    env = {"IDENTITY_BULK_MATCH_BATCH_SIZE": str(batch_size)}
    log_path = log_dir / "serve-bulk.log"
    try:
        with serve(f"sqlite:///{scratch}", 1, log_path, extra_env=env) as (base, pid):
            settings = Settings(dev_auth=True, dev_key_file=log_dir / "dev-key.pem")
            token = mint_dev_token(
                settings,
                tenant=TENANT,
                client_id="bulk-benchmark",
                scopes={"match"},
                organization=REQUESTER,
            )
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
                cpu0, machine0 = tree_cpu_seconds(pid), machine_busy_seconds()
                started = time.perf_counter()
                r = http.post(
                    "/fhir/Group/$bulk-member-match",
                    content=body,
                    headers={"content-type": "application/fhir+json"},
                )
                run.kick_off_s = time.perf_counter() - started
                if r.status_code != 202:
                    raise RuntimeError(f"kick-off answered {r.status_code}: {r.text[:500]}")
                status = r.headers["content-location"].split("/fhir/", 1)[1]
                while True:
                    polled = http.get(f"/fhir/{status}")
                    run.polls += 1
                    if polled.status_code != 202:
                        break
                    time.sleep(POLL_S)
                run.total_s = time.perf_counter() - started
                run.server_cpu_s = tree_cpu_seconds(pid) - cpu0
                run.machine_cpu_s = machine_busy_seconds() - machine0
                if polled.status_code != 200:
                    raise RuntimeError(f"the job ended with {polled.status_code}: {polled.text}")
                fetched = time.perf_counter()
                for output in polled.json()["output"]:
                    # The manifest names the service's public URL; fetch the same path here.
                    got = http.get("/fhir/" + output["url"].split("/fhir/", 1)[1])
                    got.raise_for_status()
                    run.outputs += 1
                run.outputs_s = time.perf_counter() - fetched
            run.peak_mb = peak_rss_mb(pid)
        run.groups, run.outcomes = _outcomes(scratch, status.rsplit("/", 1)[1])
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    return run


def _pct(cpu_s: float, seconds: float) -> str:
    return f"{cpu_s / seconds * 100:.0f}%" if seconds else "-"


def render(runs: list[Run], data: Dataset, extra: dict[str, str]) -> str:
    header = ["members", "batch", "body", "kick-off s", "kick-off → done s", "members/s"]
    header += ["vs target", "outputs (fetch s)", "matched / not matched / consent"]
    header += ["server peak RSS", "server CPU", "server CPU ms/member", "other CPU"]
    rows = []
    for r in runs:
        g = r.groups
        rows.append(
            [
                f"{r.members:,}",
                str(r.batch_size),
                f"{r.body_bytes / 1e6:.1f} MB",
                f"{r.kick_off_s:.2f}",
                f"{r.total_s:.1f}",
                f"**{r.per_s:,.0f}**",
                f"{'✓' if r.per_s >= TARGET_PER_S else '✗'} (≥ {TARGET_PER_S:.0f})",
                f"{r.outputs} ({r.outputs_s:.2f})",
                f"{g['match']:,} / {g['nomatch']:,} / {g['consentconstraint']:,}",
                f"{r.peak_mb:,.0f} MB",
                _pct(r.server_cpu_s, r.total_s),
                f"{r.server_cpu_s / r.members * 1000:.2f}" if r.members else "-",
                _pct(r.others_cpu_s, r.total_s),
            ]
        )
    mixes = [
        f"run {n}: " + ", ".join(f"{k} {v:,}" for k, v in r.outcomes.most_common())
        for n, r in enumerate(runs, 1)
    ]
    notes = [
        f"Master: {data.members:,} synthetic members (seed {data.seed}), SQLite, default policy; "
        "a fresh copy of the prepared database for every run.",
        "One request of N MemberBundles from the synthetic query set (60% enrolled people, 40% "
        "relatives and strangers; a query without a card has no CoverageToMatch), each with a "
        "consent valid today; `identity serve`, one process, its bulk worker thread.",
        "Timed: kick-off sent → status 200 (polled every 0.5 s); outputs fetched afterwards.",
        "Outcomes per member: " + "; ".join(mixes),
        "CPU: CPU seconds per wall second (100% = one core of the machine) of the server "
        "process (with its helper processes) and of every other process, over kick-off → done; "
        "server CPU ms/member: the server's CPU seconds over that time per member (kick-off, "
        "polls and the worker together).",
    ]
    return "\n\n".join(
        [
            f"### $bulk-member-match, {data.members:,}-member master",
            markdown_table(header, rows),
            "\n".join(f"- {n}" for n in notes),
            machine_block(extra),
        ]
    )


def run(
    members: int, seed: int, queries: int, bulk: list[int], batch_sizes: list[int], repeat: int
) -> str:
    code = code_fingerprint()
    data = dataset(members, seed, max(queries, max(bulk)))
    url = prepare(data, "sqlite", None)
    log_dir = bench_dir(members, seed)
    runs: list[Run] = []
    for n in bulk:
        for batch in batch_sizes:
            for attempt in range(repeat):
                print(f"[bulk] {n:,} members, batch {batch}, run {attempt + 1} ...", flush=True)
                done = run_once(data, url, n, batch, log_dir)
                print(
                    f"[bulk] {done.total_s:.1f} s, {done.per_s:,.0f} members/s "
                    f"(kick-off {done.kick_off_s:.2f} s)",
                    flush=True,
                )
                runs.append(done)
    return render(runs, data, {"code": same_code(code)})
