"""Evaluate a policy on labelled requests, in-process, writing nothing.

Each request goes the live path's way: parsed as `/v1/match` parses it (labels.py), standardised,
the given-name pairs stewards' links taught read, its candidates found and marked with stewards'
remembered decisions by the function the bulk path uses (`resolution.batch.candidates_for`), and
decided by the real `Matcher`. The session is
only read; the caller rolls it back. The result keeps every request's query, candidates and
resolution (rule verdicts, weights, guards), so a report or a sweep needs nothing else.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from identity.evaluation.labels import LabelledQuery
from identity.evaluation.metrics import Metrics, Verdict, summarise, verdict_of
from identity.learned_names import service as learned_names
from identity.matching.engine import Candidate, Matcher, Resolution
from identity.matching.given_names import NO_LEARNED, LearnedNames
from identity.matching.policy import Policy
from identity.matching.record import StandardRecord
from identity.matching.standardize import standardize
from identity.resolution.batch import candidates_for

# Requests whose candidates are read together (one set-based read, as a bulk batch does).
CHUNK = 250


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One labelled request and what the policy made of it; `resolution` is None for a request
    the service would refuse (counted apart, never in the figures)."""

    request_id: str
    truth: frozenset[str]
    tags: tuple[str, ...]
    query: StandardRecord | None
    candidates: tuple[Candidate, ...]
    resolution: Resolution | None
    verdict: Verdict | None
    # The given-name pairs stewards' links taught that the request was decided with (the
    # sweep decides it again with the same).
    learned: LearnedNames = NO_LEARNED

    @property
    def truth_found(self) -> bool:
        """Blocking recall: a record of the person is among the candidates."""
        return any(c.member_id in self.truth for c in self.candidates)


@dataclass(frozen=True, slots=True)
class Evaluation:
    dataset: str
    tenant: str
    policy: Policy
    results: tuple[QueryResult, ...]
    metrics: Metrics
    seconds: float

    @property
    def decided(self) -> list[QueryResult]:
        return [r for r in self.results if r.resolution is not None]

    @property
    def refused(self) -> int:
        return sum(r.resolution is None for r in self.results)

    @property
    def blocking_recall(self) -> float:
        enrolled = [r for r in self.decided if r.truth]
        return sum(r.truth_found for r in enrolled) / len(enrolled) if enrolled else 0.0

    @property
    def candidates_per_query(self) -> tuple[float, int, int]:
        """Mean, 95th percentile and maximum candidates per decided request."""
        counts = sorted(len(r.candidates) for r in self.decided) or [0]
        p95 = counts[min(len(counts) - 1, int(0.95 * len(counts)))]
        return statistics.fmean(counts), p95, counts[-1]


def evaluate(
    session: Session,
    tenant: str,
    policy: Policy,
    queries: Sequence[LabelledQuery],
    *,
    today: date,
    dataset: str = "labelled",
    progress: Callable[[int], object] | None = None,
) -> Evaluation:
    """Decide every request against the tenant's member master under `policy`; nothing is
    written (the session is only read). `progress` hears how many requests each step finished."""
    started = time.perf_counter()
    matcher = Matcher(policy)
    results: list[QueryResult] = []
    for first in range(0, len(queries), CHUNK):
        chunk = queries[first : first + CHUNK]
        asked = [(q, standardize(q.raw, today=today)) for q in chunk if q.raw is not None]
        records = [record for _, record in asked]
        # The live path's reads, in its order: learned given names, then candidates and marks.
        learned = learned_names.for_queries(session, tenant, matcher.given_names, records)
        found, _ = candidates_for(session, tenant, matcher, records, learned)
        decided = {
            id(q): (record, tuple(candidates), matcher.resolve(record, candidates, learned))
            for (q, record), candidates in zip(asked, found, strict=True)
        }
        for q in chunk:
            if id(q) not in decided:
                results.append(QueryResult(q.request_id, q.truth, q.tags, None, (), None, None))
                continue
            record, candidates, resolution = decided[id(q)]
            verdict = verdict_of(resolution, q.truth)
            results.append(
                QueryResult(
                    q.request_id, q.truth, q.tags, record, candidates, resolution, verdict, learned
                )
            )
        if progress is not None:
            progress(len(chunk))
    metrics = summarise((r.verdict, r.truth, r.tags) for r in results if r.verdict is not None)
    return Evaluation(
        dataset=dataset,
        tenant=tenant,
        policy=policy,
        results=tuple(results),
        metrics=metrics,
        seconds=time.perf_counter() - started,
    )
