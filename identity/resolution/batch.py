"""The match use case for many queries at once (a $bulk-member-match batch): the same decisions,
with the same evidence, as `service.match` gives one query at a time, from set-based reads and
one executemany per table.

Steps 1-5 stay pure and per query (the matcher of the tenant's active policy, read once per
batch); what changes is the I/O around them: the candidates of every query are retrieved
together (`find_candidates_many`), and the decisions and their review items are held as rows
until `store` writes them all. The caller decides in what order its queries are resolved, so a
later query can see an earlier one's review item before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from identity.db import to_json
from identity.matching.blocking import blocking_keys
from identity.matching.decision import Outcome
from identity.matching.engine import Candidate, Matcher
from identity.matching.given_names import NO_LEARNED, LearnedNames
from identity.matching.policy import Policy
from identity.matching.record import StandardRecord
from identity.member import status as coverage_evidence
from identity.member.repository import retrieve_candidates_many
from identity.resolution import repository
from identity.resolution.service import decision_fields, fingerprint
from identity.review import repository as review_repository
from identity.review import service as review_service
from identity.review.memory import mark_candidates

# A query's candidates' coverage end dates (None: open) by member id.
Ends = Mapping[str, Sequence[date | None]]


@dataclass(frozen=True, slots=True)
class NewDecision:
    """A decision made in memory, written by `store`; what the caller's answer needs of it."""

    id: str
    outcome: str
    reason: str
    member_id: str | None
    policy_version: str
    review_item_id: str | None
    row: dict[str, Any]  # the match_decision row, its JSON columns serialised
    review_row: dict[str, Any] | None  # its review item's row, for a review outcome


def candidates_for(
    session: Session,
    tenant: str,
    matcher: Matcher,
    queries: Sequence[StandardRecord],
    learned: LearnedNames = NO_LEARNED,
) -> tuple[list[list[Candidate]], float]:
    """`retrieve_for` without the end dates (what evaluation and accuracy runs need)."""
    found, _, per_query_s = retrieve_for(session, tenant, matcher, queries, learned)
    return found, per_query_s


def retrieve_for(
    session: Session,
    tenant: str,
    matcher: Matcher,
    queries: Sequence[StandardRecord],
    learned: LearnedNames = NO_LEARNED,
) -> tuple[list[list[Candidate]], list[Ends], float]:
    """Every query's candidates with what stewards decided about them (as `service.match`
    reads them), their coverage end dates (read with them), and the retrieval's seconds per
    query (its timing share). `learned`: the given-name pairs `learned_names.for_queries` read
    for these queries."""
    started = time.perf_counter()
    blocking = matcher.policy.document.blocking
    view = matcher.given_names.query_view
    retrieved = retrieve_candidates_many(
        session,
        tenant,
        [blocking_keys(view(q, learned), blocking.keys) for q in queries],
        max_block_size=blocking.max_block_size,
        max_candidates=blocking.max_candidates,
    )
    found = mark_candidates(
        session,
        tenant,
        [(fingerprint(q), r.candidates) for q, r in zip(queries, retrieved, strict=True)],
    )
    ends: list[Ends] = [r.coverage_ends for r in retrieved]
    return found, ends, (time.perf_counter() - started) / max(1, len(queries))


def decide(
    tenant: str,
    matcher: Matcher,
    query: StandardRecord,
    candidates: Sequence[Candidate],
    *,
    ends: Ends,
    today: date,
    standardize_s: float,
    candidates_s: float,
    learned: LearnedNames = NO_LEARNED,
) -> NewDecision:
    """`service.match`'s decision for one query, not yet written, its evidence with the
    candidates' coverage status on `today` (from `ends`, their end dates read with them).
    Timings: the query's own standardising and deciding; retrieval is the batch's, shared out
    evenly."""
    started = time.perf_counter()
    policy = matcher.policy
    resolution = matcher.resolve(query, candidates, learned)
    decided = time.perf_counter()
    fields = decision_fields(
        tenant,
        query,
        resolution,
        policy.version,
        {
            "standardize": round(standardize_s * 1000, 3),
            "candidates": round(candidates_s * 1000, 3),
            "decide": round((decided - started) * 1000, 3),
        },
    )
    listed = [c.member_id for c in resolution.candidates]
    covered = coverage_evidence.evidence_from(listed, policy.document.coverage_status, today, ends)
    fields["evidence"]["coverage_status"] = covered
    summary = fields["candidates"]
    # The JSON columns leave here serialised (as the engine's serialiser would write them):
    # from a helper process, a few strings travel back far cheaper than nested documents.
    row: dict[str, Any] = fields | {
        name: to_json(fields[name]) for name in ("candidates", "evidence", "timings_ms")
    }
    review_row = None
    if row["outcome"] == Outcome.REVIEW:
        review_row = review_service.new_item_row(
            tenant=tenant,
            match_id=row["id"],
            policy_version=policy.version,
            reason=row["reason"],
            candidates=summary,
        )
    return NewDecision(
        id=row["id"],
        outcome=row["outcome"],
        reason=row["reason"],
        member_id=row["member_id"],
        policy_version=policy.version,
        review_item_id=review_row["id"] if review_row else None,
        row=row,
        review_row=review_row,
    )


def store(session: Session, decisions: Sequence[NewDecision]) -> None:
    """The decisions, then their review items (which reference them), one statement each."""
    repository.add_decisions_serialized(session, [d.row for d in decisions])
    review_repository.add_items(session, [d.review_row for d in decisions if d.review_row])


# A query with its candidates, their end dates and its own standardising time: what `decide`
# needs of it.
Pending = tuple[StandardRecord, Sequence[Candidate], Ends, float]
# Below this many queries a share for a helper process costs more (pickling) than it saves.
MIN_SHARE = 8


def decide_all(
    tenant: str,
    matcher: Matcher,
    pending: Sequence[Pending],
    *,
    today: date,
    candidates_s: float,
    helpers: Executor | None = None,
    helper_count: int = 0,
    learned: LearnedNames = NO_LEARNED,
) -> list[NewDecision]:
    """`decide` for each query, in order. With helper processes, each takes an equal share of
    the queries while this thread decides the last share: rules, scores and evidence are pure
    CPU work, and one thread of a service process has the GIL to itself only."""
    shares = helper_count + 1 if helpers is not None else 1
    size = -(-len(pending) // shares)
    if helpers is None or shares == 1 or size < MIN_SHARE:
        return _decide_many(tenant, matcher, pending, today, candidates_s, learned)
    futures: list[Future[list[NewDecision]]] = [
        helpers.submit(
            _decide_elsewhere,
            tenant,
            matcher.policy,
            pending[n * size : (n + 1) * size],
            today,
            candidates_s,
            learned,
        )
        for n in range(shares - 1)
    ]
    mine = _decide_many(
        tenant, matcher, pending[(shares - 1) * size :], today, candidates_s, learned
    )
    return [d for f in futures for d in f.result()] + mine


def _decide_many(
    tenant: str,
    matcher: Matcher,
    pending: Sequence[Pending],
    today: date,
    candidates_s: float,
    learned: LearnedNames,
) -> list[NewDecision]:
    return [
        decide(
            tenant,
            matcher,
            q,
            c,
            ends=e,
            today=today,
            standardize_s=s,
            candidates_s=candidates_s,
            learned=learned,
        )
        for q, c, e, s in pending
    ]


_HELPER_MATCHERS: dict[str, Matcher] = {}  # in a helper process: one matcher per policy version


def _decide_elsewhere(
    tenant: str,
    policy: Policy,
    pending: Sequence[Pending],
    today: date,
    candidates_s: float,
    learned: LearnedNames,
) -> list[NewDecision]:
    """A helper process's share (module-level, so it pickles by name)."""
    matcher = _HELPER_MATCHERS.get(policy.version)
    if matcher is None:
        matcher = _HELPER_MATCHERS[policy.version] = Matcher(policy)
    return _decide_many(tenant, matcher, pending, today, candidates_s, learned)
