"""`member-match`: POST /fhir/Patient/$member-match latency and throughput over real HTTP.

The same harness as `http` (a real `identity serve` on 127.0.0.1 over a prepared database, an
asyncio + httpx load generator with a fixed number of requests in flight, CPU accounting of the
service, the generator and everything else on the machine), with HRex Parameters bodies built
from the synthetic query set:

- MemberPatient: the query's Patient, as the generator wrote it (the person's demographics,
  perturbed or not, with an SSN when the query has one);
- CoverageToMatch: the query's Coverage as written (what the person's card says: its
  `subscriberId`, relationship and payor). The query file carries no member id; a query without
  a Coverage (an enrolled person's `coverage_absent` perturbation, and the non-enrolled people
  the generator gave no card) has no card id at all and cannot be member-matched, so it is
  skipped — never filled in from the truth;
- Consent: an HRex consent (IDSCL, `#regular`, permit, disclose) whose period covers today and
  whose recipient (IRCP) is the benchmark client's organisation, which the client's development
  token carries.

Every request is the whole use case: parse, brute-force guard (an attempt row), consent check,
the match pipeline with its decision written, a match token issued on a confident match, and
its audit event, in one transaction.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks.http_bench import (
    Level,
    auth_headers,
    measured,
    peak_rss_mb,
    prepare,
    replay,
    serve,
)
from benchmarks.load_bench import Dataset, bench_dir, bench_postgres, dataset
from benchmarks.machine import (
    code_fingerprint,
    load_average,
    machine_block,
    markdown_table,
    same_code,
)
from benchmarks.postgres import PostgresServer, settings_summary
from identity.clients.organization import OrgIdentifier
from identity.exchange.outcomes import MEMBER_MATCH_OUTCOMES, OUTCOME_CODES

TARGET_P99_MS = 75.0
PATH = "/fhir/Patient/$member-match"
FHIR_JSON = "application/fhir+json"
# The organisation the benchmark client speaks for (in its token) and the consents name.
REQUESTER = OrgIdentifier("http://hl7.org/fhir/sid/us-npi", "1999999984")
MATCHED = "matched"
ENROLLED = "enrolled"
NOT_ENROLLED = "not enrolled"


# --- request bodies ------------------------------------------------------------------------


def hrex_consent(recipient: OrgIdentifier, today: date) -> dict[str, Any]:
    """An HRex consent the service can honour today for `recipient`."""
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
        "policy": [
            {
                "uri": "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html"
                "#regular"
            }
        ],
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
                        "identifier": {"system": recipient.system, "value": recipient.value},
                        "display": "Benchmark New Payer",
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


def member_match_body(
    patient: dict[str, Any], coverage: dict[str, Any], consent: dict[str, Any]
) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-parameters-member-match-in"
            ]
        },
        "parameter": [
            {"name": "MemberPatient", "resource": patient},
            {"name": "CoverageToMatch", "resource": coverage},
            {"name": "Consent", "resource": consent},
        ],
    }


@dataclass
class Bodies:
    bodies: list[bytes] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # enrolled / not enrolled, per body
    used: Counter[str] = field(default_factory=Counter)  # by truth relationship
    skipped: Counter[str] = field(default_factory=Counter)  # no card id, by truth relationship


def member_match_bodies(path: Path, recipient: OrgIdentifier, today: date) -> Bodies:
    """$member-match bodies for the queries that carry a card id, in file order."""
    consent = hrex_consent(recipient, today)
    out = Bodies()
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            query = orjson.loads(line)
            request, truth = query["request"], query["truth"]
            relationship = str(truth.get("relationship"))
            coverage = request.get("coverage")
            has_id = isinstance(coverage, dict) and (
                coverage.get("subscriberId") or coverage.get("identifier")
            )
            if not has_id:
                out.skipped[relationship] += 1
                continue
            out.used[relationship] += 1
            body = member_match_body(request["patient"], coverage, consent)
            out.bodies.append(orjson.dumps(body))
            out.groups.append(ENROLLED if truth.get("member_id") else NOT_ENROLLED)
    return out


def classify(status: int, content: bytes) -> tuple[str, bool]:
    """(label, is an answer): `matched`, a refusal's outcome code, or `HTTP <status>` (an
    error: a 5xx, or a 4xx that is not a $member-match answer, such as the rate limiter's)."""
    if status == 200:
        return MATCHED, True
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        return f"HTTP {status}", False
    for issue in payload.get("issue") or () if isinstance(payload, dict) else ():
        for coding in (issue.get("details") or {}).get("coding") or ():
            if (
                coding.get("system") == MEMBER_MATCH_OUTCOMES
                and coding.get("code") in OUTCOME_CODES
            ):
                return str(coding["code"]), True
    return f"HTTP {status}", False


# --- profiling (optional) ------------------------------------------------------------------


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def start_profile(
    pid: int, out: Path, seconds: float, gil: bool = False
) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server (and its workers) for `seconds`, collapsed stacks to `out`;
    `gil`: only the thread holding the GIL (Python's CPU; SQLite's C code runs without it)."""
    exe = py_spy()
    if exe is None:
        print("py-spy is not installed (pip install py-spy): not profiling", flush=True)
        return None
    cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", "200"]
    cmd += ["--duration", str(max(1, int(seconds))), "--format", "raw", "--output", str(out)]
    cmd += ["--nonblocking"] + (["--gil"] if gil else [])
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _frame_name(frame: str) -> str:
    """py-spy's raw frames read `function (package/module.py:line)`: drop the line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit(':', 1)[0]})"


def _is_ours(frame: str) -> bool:
    return " (identity/" in frame


def summarise_profile(path: Path, top: int = 20, gil: bool = False) -> str:
    """Where the server's time goes: our functions by inclusive share of samples, every
    function by self share, and each sample charged to its innermost `identity` frame (the
    project code that asked for the time, however deep the library call under it)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    charged: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")[1:] if f]  # [0]: the process
        if not frames:
            continue
        total += count
        for name in {f for f in frames if _is_ours(f)}:
            inclusive[name] += count
        own[frames[-1]] += count
        ours = [f for f in frames if _is_ours(f)]
        charged[ours[-1] if ours else f"(outside identity) {frames[-1]}"] += count
    if not total:
        return "(no samples)"

    def table(counter: Counter[str], title: str) -> str:
        rows = [[name, f"{c / total:.1%}"] for name, c in counter.most_common(top)]
        return markdown_table([title, "share of samples"], rows)

    what = (
        "samples of the thread holding the GIL (py-spy --gil, 200 Hz): where Python's CPU "
        "goes; time inside SQLite's C code, which releases the GIL, is not in it."
        if gil
        else "samples of the server's threads (py-spy, 200 Hz; threads py-spy sees as idle are "
        "left out, but a thread blocked inside SQLite — e.g. waiting for the write lock — "
        "counts as busy, once per waiting thread)."
    )
    return "\n\n".join(
        [
            f"{total:,} {what}",
            table(inclusive, "identity function (inclusive)"),
            table(charged, "innermost identity frame (the time charged to it)"),
            table(own, "function (self)"),
        ]
    )


# --- run, report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    db: str
    workers: int
    level: Level
    peak_mb: float
    by_group: dict[str, Counter[str]]
    load: str  # load average at the end of the level


def run_db(
    data: Dataset,
    db: str,
    server: PostgresServer | None,
    workers: list[int],
    levels: list[int],
    count: int,
    seconds: float,
    warmup: int,
    profile: int | None,
    gil: bool = False,
) -> tuple[list[Row], Bodies, str]:
    url = prepare(data, db, server, reload=False)
    made = member_match_bodies(data.queries_file, REQUESTER, date.today())
    bodies = made.bodies
    db_pid = server.pid() if server else None
    rows: list[Row] = []
    profile_text = ""
    start = 0
    for w in workers:
        log_path = bench_dir(data.members, data.seed) / f"serve-member-match-{db}-w{w}.log"
        with serve(url, w, log_path) as (base, pid):
            print(f"[{db}] workers={w}: warming up with {warmup} requests ...", flush=True)
            key_file = log_path.parent / "dev-key.pem"
            warm = min(8, max(levels))
            headers = auth_headers(key_file, REQUESTER, FHIR_JSON)
            asyncio.run(replay(base, bodies, start, warm, warmup, seconds, headers, PATH, classify))
            start += warmup
            done: list[tuple[Level, dict[str, Counter[str]], str]] = []
            for c in levels:
                headers = auth_headers(key_file, REQUESTER, FHIR_JSON)
                spy = None
                spy_out = bench_dir(data.members, data.seed) / (
                    f"py-spy-{db}-w{w}-c{c}{'-gil' if gil else ''}.txt"
                )
                if profile == c:
                    spy = start_profile(pid, spy_out, seconds, gil)
                    time.sleep(1.0)  # let py-spy attach before the level starts
                level = measured(
                    base, bodies, start, c, count, seconds, pid, db_pid, headers, PATH, classify
                )
                groups: dict[str, Counter[str]] = {ENROLLED: Counter(), NOT_ENROLLED: Counter()}
                for index, label in level.answers:
                    groups[made.groups[index]][label] += 1
                start += level.requests
                if spy is not None:
                    os.kill(spy.pid, 2)  # SIGINT: py-spy writes what it has and exits
                    _, err = spy.communicate(timeout=120)
                    if spy_out.exists():
                        head = f"Profile: {db}, workers={w}, concurrency={c} (`{spy_out.name}`)."
                        profile_text = head + "\n\n" + summarise_profile(spy_out, gil=gil)
                    else:
                        profile_text = f"py-spy wrote nothing: {err.decode()[-500:]}"
                print(
                    f"[{db}] workers={w} concurrency={c}: {level.requests} requests in "
                    f"{level.seconds:.1f} s, p99 {level.percentile(99):.1f} ms, "
                    f"{dict(level.outcomes)} {dict(level.errors)}",
                    flush=True,
                )
                done.append((level, groups, load_average()))
            peak = peak_rss_mb(pid)
        rows += [Row(db, w, level, peak, groups, load) for level, groups, load in done]
    return rows, made, profile_text


def _pct(cpu_s: float, seconds: float) -> str:
    return f"{cpu_s / seconds * 100:.0f}%" if seconds else "-"


def render(
    rows: list[Row],
    data: Dataset,
    made: Bodies,
    extra: dict[str, str],
    count: int,
    secs: float,
    profile_text: str,
) -> str:
    codes = [MATCHED, *OUTCOME_CODES]
    short = {
        MATCHED: "matched",
        "no-match": "no-match",
        "multiple-matches": "multiple",
        "pending-review": "pending-review",
        "consent-invalid": "consent-invalid",
        "insufficient-demographics": "insufficient",
        "too-many-attempts": "429 too-many",
    }
    header = ["database", "workers", "concurrency", "requests", "req/s"]
    header += ["p50 ms", "p95 ms", "p99 ms", "max ms"]
    header += [short[c] for c in codes] + ["HTTP errors"]
    header += ["server CPU / request", "server CPU", "load-gen CPU", "other CPU", "machine busy"]
    header += ["load avg", "p99 ≤ 75 ms"]
    cores = os.cpu_count() or 1
    table: list[list[str]] = []
    for r in rows:
        lv = r.level
        rps = lv.requests / lv.seconds if lv.seconds else 0.0
        p99 = lv.percentile(99)
        per_request = lv.server_cpu_s / lv.requests * 1000 if lv.requests else 0.0
        busy = lv.machine_cpu_s / (lv.seconds * cores) * 100 if lv.seconds else 0.0
        table.append(
            [
                r.db,
                str(r.workers),
                str(lv.concurrency),
                f"{lv.requests:,}",
                f"{rps:,.0f}",
                *(f"{lv.percentile(p):.1f}" for p in (50, 95, 99, 100)),
                *(f"{lv.outcomes[c]:,}" for c in codes),
                str(sum(lv.errors.values())),
                f"{per_request:.1f} ms",
                _pct(lv.server_cpu_s, lv.seconds),
                _pct(lv.client_cpu_s, lv.seconds),
                _pct(lv.others_cpu_s, lv.seconds),
                f"{busy:.0f}% of {cores}",
                r.load,
                "✓" if p99 <= TARGET_P99_MS else "✗",
            ]
        )
    errors = Counter[str]()
    for r in rows:
        errors.update(r.level.errors)
    used = sum(made.used.values())
    skipped = sum(made.skipped.values())
    wrapped = any(r.level.requests for r in rows) and (
        sum(r.level.requests for r in rows) > len(made.bodies)
    )
    notes = [
        f"Target: p99 ≤ {TARGET_P99_MS:.0f} ms with token issuance and audit (shown, not "
        "asserted).",
        f"Bodies: {used:,} of the {data.queries:,} synthetic queries (seed {data.seed}) as HRex "
        "Parameters — MemberPatient = the query's Patient, CoverageToMatch = the query's "
        "Coverage (its `subscriberId`; the query file carries no member id), Consent = an "
        "HRex consent valid today naming the benchmark client's organisation (from its "
        "development token) as recipient. "
        f"Skipped, having no card id at all (not filled in from the truth): {skipped:,} "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(made.skipped.items()))}). "
        f"Used by truth: {', '.join(f'{k} {v:,}' for k, v in sorted(made.used.items()))}.",
        f"Each level: up to {count:,} requests or {secs:.0f} s, whichever first, in file order, "
        "continuing where the previous level (and the warm-up) stopped"
        + (
            "; the run wrapped around the body list, so some requests repeat earlier ones"
            if wrapped
            else ""
        )
        + ".",
        "Outcome columns: `matched` = 200 with a match token; the others are the 422/429 "
        "OperationOutcome codes of `identity.exchange.outcomes`; HTTP errors = anything else "
        "(5xx, the rate limiter's 429, transport errors). Rate limits are set far above the "
        "load; the brute-force guard keeps its defaults (3 cards per demographics per hour), "
        "so `429 too-many` counts any throttling it did.",
        "Latency: client-side, send to full response, keep-alive connections. CPU columns: CPU "
        "seconds per wall second (100% = one core) of the service's process tree, of the load "
        "generator, and of every other process (machine busy time from /proc/stat minus those); "
        "machine busy = all processes' CPU over all cores; load avg = 1/5/15-minute load "
        "average at the end of the level. Server CPU / request = the service's CPU in the level "
        "over its requests.",
        "Every request is one transaction: brute-force-guard attempt row, decision + evidence "
        "(+ review item), stored request with its evaluated consent, match token when matched, "
        "audit event (hash-chained).",
    ]
    if errors:
        notes.append("HTTP errors: " + ", ".join(f"{k} × {v}" for k, v in errors.most_common()))
    truth_rows: list[list[str]] = []
    for r in rows:
        for group in (ENROLLED, NOT_ENROLLED):
            got = r.by_group[group]
            n = sum(got.values())
            truth_rows.append(
                [
                    r.db,
                    str(r.workers),
                    str(r.level.concurrency),
                    group,
                    f"{n:,}",
                    *(f"{got[c]:,}" for c in codes),
                    str(sum(v for k, v in got.items() if k not in codes)),
                ]
            )
    truth_header = ["database", "workers", "concurrency", "truth", "answers"]
    truth_header += [short[c] for c in codes] + ["HTTP errors"]
    parts = [
        f"### POST /fhir/Patient/$member-match, {data.members:,} members",
        markdown_table(header, table),
        "Answers by truth (the token is opaque, so a match of an enrolled person is not checked "
        "against the right member here; a match of someone not enrolled is certainly wrong):",
        markdown_table(truth_header, truth_rows),
        "\n".join(f"- {n}" for n in notes),
    ]
    if profile_text:
        parts.append(profile_text)
    parts.append(machine_block(extra))
    return "\n\n".join(parts)


def run(
    members: int,
    seed: int,
    queries: int,
    dbs: list[str],
    workers: list[int],
    levels: list[int],
    count: int,
    seconds: float,
    warmup: int,
    profile: int | None = None,
    gil: bool = False,
) -> str:
    code = code_fingerprint()
    data = dataset(members, seed, queries)
    rows: list[Row] = []
    extra: dict[str, str] = {}
    made = Bodies()
    profile_text = ""
    for db in dbs:
        if db == "sqlite":
            got, made, prof = run_db(
                data, db, None, workers, levels, count, seconds, warmup, profile, gil
            )
        else:
            with bench_postgres(members, seed) as server:
                extra["PostgreSQL"] = f"{server.version()} ({settings_summary()})"
                got, made, prof = run_db(
                    data, db, server, workers, levels, count, seconds, warmup, profile, gil
                )
        rows += got
        profile_text = profile_text or prof
    extra["code"] = same_code(code)
    return render(rows, data, made, extra, count, seconds, profile_text)
