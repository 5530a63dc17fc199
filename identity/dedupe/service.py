"""The dedupe use case: read the master, score it against itself, keep what the policy's rules
allow, cluster, and offer each new cluster to stewards as a `duplicate-enrolment` review item.

Writes in the caller's transaction (the command owns it). A cluster is one decision row (stage
`dedupe`: the pair weights, no demographics), one review item whose candidates are the cluster's
members, and a `duplicate_cluster` row naming the exact member set. A steward settles the item
with the decisions every review item takes: `same_person` (the survivor and another record; the
same-person pair then answers matching with the survivor) or `keep_apart` without a member
(dismissed). A member set offered once is never offered again, whatever became of it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.dedupe import STAGE, repository
from identity.dedupe.clusters import Cluster, cluster_evidence, connected, keep_pairs
from identity.dedupe.pairs import score_pairs
from identity.matching.engine import Matcher
from identity.matching.engine_version import engine_version
from identity.matching.policy import Policy
from identity.models import DuplicateCluster, MatchDecision, ReviewItem
from identity.training import repository as training_repository
from identity.training.data import Keyed, master_records, master_records_by_id
from identity.training.engines import DUCKDB, SplinkEngine

REASON = "duplicate-enrolment"


@dataclass(frozen=True, slots=True)
class DedupeOptions:
    threshold: float  # match probability a pair must reach
    recall: float = 0.6  # share of duplicates the SSN + birth date rule finds (scales the prior)
    write: bool = True  # False: report only
    engine: SplinkEngine = DUCKDB  # where splink scores the pairs


@dataclass
class Progress:
    """Hooks for a progress bar: the member scan, then the engine's check of each pair."""

    members: Callable[[int], object] = lambda _: None
    pairs_total: Callable[[int], object] = lambda _: None  # the pairs splink scored, to check
    pairs: Callable[[int], object] = lambda _: None
    step: Callable[[str], None] = lambda _: None


@dataclass
class DedupeRun:
    tenant: str
    policy_version: str
    threshold: float
    member_count: int
    prior: float
    prior_estimated: bool
    blocking_keys: tuple[str, ...]
    pairs_scored: int  # at or above the threshold
    pairs_excluded: int  # of those, excluded by the policy's negative rules
    clusters: list[Cluster]
    new_clusters: list[Cluster] = field(default_factory=list)
    already_offered: int = 0
    item_ids: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def count_members(session: Session, tenant: str) -> int:
    return training_repository.count_members(session, tenant)


def _counted(records: Iterable[Keyed], tick: Callable[[int], object]) -> Iterator[Keyed]:
    n = 0
    for record in records:
        yield record
        n += 1
        if n == 1000:
            tick(n)
            n = 0
    if n:
        tick(n)


def find_duplicates(
    session: Session,
    actor: Actor,
    policy: Policy,
    options: DedupeOptions,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> DedupeRun:
    """One dedupe pass over `actor.tenant`'s master under `policy` (a stored version)."""
    hooks = progress or Progress()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now_ = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now_ - clock
        clock = now_
        hooks.step(name)

    tenant = actor.tenant
    # The master streams into splink's frame ("frame": read and build); only the members of
    # scored pairs are read back, for the rules and the evidence.
    scored = score_pairs(
        policy.document,
        _counted(master_records(session, tenant), hooks.members),
        threshold=options.threshold,
        recall=options.recall,
        engine=options.engine,
        on_step=lap,
    )
    paired = sorted({m for pair in scored.pairs for m in (pair.a, pair.b)})
    by_id = dict(master_records_by_id(session, tenant, paired))
    lap("read pairs")
    matcher = Matcher(policy)
    hooks.pairs_total(len(scored.pairs))
    kept, dropped = keep_pairs(matcher, scored.pairs, by_id, on_pair=lambda: hooks.pairs(1))
    clusters = connected(kept)
    lap("rules")
    run = DedupeRun(
        tenant=tenant,
        policy_version=policy.version,
        threshold=options.threshold,
        member_count=scored.members,
        prior=scored.prior,
        prior_estimated=scored.prior_estimated,
        blocking_keys=scored.blocking_keys,
        pairs_scored=len(scored.pairs),
        pairs_excluded=dropped,
        clusters=clusters,
        timings=timings,
    )
    known = repository.known_keys(session, tenant, [c.key for c in clusters])
    run.new_clusters = [c for c in clusters if c.key not in known]
    run.already_offered = len(clusters) - len(run.new_clusters)
    if options.write:
        rows = [
            _rows(tenant, policy, c, cluster_evidence(matcher, c, by_id), options, now)
            for c in run.new_clusters
        ]
        repository.add_clusters(session, rows)
        offered = [(item.id, decision.id) for decision, item, _ in rows]
        run.item_ids = [item_id for item_id, _ in offered]
        # The decision rows too: each decision has its audit event, as a request's has.
        audit.record(
            session,
            actor,
            action="dedupe.run",
            outcome="success",
            object_type="review_item",
            object_ids=[i for pair in offered for i in pair],
            policy_version=policy.version,
        )
    lap("write")
    return run


def _candidates(cluster: Cluster) -> list[dict[str, Any]]:
    """Each member with the best probability of a pair it is in, as review items list them."""
    best: dict[str, float] = {}
    for pair in cluster.pairs:
        for member in (pair.a, pair.b):
            best[member] = max(best.get(member, 0.0), pair.probability)
    return [
        {"member_id": m, "status": "open", "probability": round(best[m], 6)}
        for m in cluster.members
    ]


def _rows(
    tenant: str,
    policy: Policy,
    cluster: Cluster,
    members: dict[str, Any],
    options: DedupeOptions,
    now: datetime,
) -> tuple[MatchDecision, ReviewItem, DuplicateCluster]:
    """One cluster's rows: its decision, its review item, its member set."""
    match_id, item_id = str(uuid.uuid4()), str(uuid.uuid4())
    candidates = _candidates(cluster)
    evidence = {
        "policy_version": policy.version,
        "engine": engine_version(),
        "decision": {"outcome": "review", "stage": STAGE, "reason": REASON},
        "dedupe": {
            "threshold": options.threshold,
            "members": list(cluster.members),
            "pairs": [
                {
                    "member_id": p.a,
                    "other_member_id": p.b,
                    "probability": round(p.probability, 6),
                    "match_weight": round(p.weight, 4),
                }
                for p in cluster.pairs
            ],
        },
        **members,
    }
    return (
        MatchDecision(
            id=match_id,
            tenant_id=tenant,
            created_at=now,
            # The member set's key: a steward's "keep apart" is then remembered for this set
            # only (no request's fingerprint equals it), and earlier decisions on it are found.
            input_fingerprint=cluster.key,
            policy_version=policy.version,
            outcome="review",
            stage=STAGE,
            reason=REASON,
            member_id=None,
            probability=round(cluster.best, 6),
            candidates=candidates,
            stored_evidence=evidence,
            timings_ms={},
        ),
        ReviewItem(
            id=item_id,
            tenant_id=tenant,
            match_id=match_id,
            policy_version=policy.version,
            reason=REASON,
            status="open",
            candidates=candidates,
            created_at=now,
        ),
        DuplicateCluster(
            id=str(uuid.uuid4()),
            tenant_id=tenant,
            members_key=cluster.key,
            member_ids=list(cluster.members),
            size=len(cluster.members),
            best_probability=round(cluster.best, 6),
            policy_version=policy.version,
            match_id=match_id,
            review_item_id=item_id,
            found_at=now,
        ),
    )
