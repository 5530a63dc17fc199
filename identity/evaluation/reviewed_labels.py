"""Stewards' settlements as labels: what a person decided about a stored request and its
candidates is the best truth a payer has about its own traffic.

A resolved review item says, for the request it was opened for:
  link X              the person is member X; the other candidates are not them
  same_person X Y     (both candidates) the person is X, enrolled twice as Y too
  new_person          none of the candidates is the person
  keep_apart          (without a member) the same; with member X: not X, nothing said of the rest
`not_same_person` and `escalate` say nothing about the request, so they give no label.

The query and candidates are the ones stored in the decision's evidence (the replay's rebuild):
a policy measured on these labels is judged on exactly what the steward saw. Items whose
demographics retention purged are left out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from identity.evaluation.metrics import summarise, verdict_of
from identity.evaluation.run import Evaluation, QueryResult
from identity.matching.engine import Candidate, Matcher
from identity.matching.policy import Policy
from identity.matching.record import StandardRecord
from identity.resolution.replay import replayable, stored_inputs
from identity.review import repository as review_repository

# Enough for any tenant's steward history to be measured in seconds (newest settlements first).
DEFAULT_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class LabelledRequest:
    """One settled request: the stored query and candidates, and who among them is the person."""

    match_id: str
    review_item_id: str
    kind: str  # the steward's settlement
    query: StandardRecord
    candidates: tuple[Candidate, ...]
    same: frozenset[str]  # candidates who are this person
    apart: frozenset[str]  # candidates who are not

    @property
    def complete(self) -> bool:
        """Every candidate is labelled, so any answer of a policy can be judged."""
        return {c.member_id for c in self.candidates} <= self.same | self.apart

    def pairs(self) -> list[tuple[str, bool]]:
        """(member id, same person?) for every labelled candidate."""
        return [(m, True) for m in sorted(self.same)] + [(m, False) for m in sorted(self.apart)]


def _label(
    kind: str, member: str | None, other: str | None, ids: set[str]
) -> tuple[set[str], set[str]] | None:
    """(same, apart) among the candidate ids, or None when the settlement labels nothing."""
    if kind == "link" and member in ids:
        return {member}, ids - {member}
    if kind == "same_person" and member in ids and other in ids:
        return {member, other}, ids - {member, other}
    if kind == "new_person" or (kind == "keep_apart" and member is None):
        return set(), ids
    if kind == "keep_apart" and member in ids:
        return set(), {member}
    return None


def reviewed_labels(
    session: Session, tenant: str, *, limit: int = DEFAULT_LIMIT
) -> list[LabelledRequest]:
    """The tenant's settled review items as labelled requests, newest settlement first."""
    labelled = []
    for item in review_repository.settled_items(session, tenant, limit=limit):
        if not replayable(item.evidence):
            continue
        query, candidates = stored_inputs(item.evidence)
        ids = {c.member_id for c in candidates}
        found = _label(item.kind, item.member_id, item.other_member_id, ids)
        if found is None:
            continue
        same, apart = found
        labelled.append(
            LabelledRequest(
                match_id=item.match_id,
                review_item_id=item.item_id,
                kind=item.kind,
                query=query,
                candidates=tuple(candidates),
                same=frozenset(same),
                apart=frozenset(apart),
            )
        )
    return labelled


def evaluate_reviewed(
    policy: Policy, labels: Sequence[LabelledRequest], *, tenant: str
) -> Evaluation:
    """Re-decide each complete labelled request under `policy` (the stored query and candidates,
    WITHOUT the stewards' remembered decisions: those would answer from the label itself) and
    count the verdicts as `identity evaluate` counts them, tagged by the settlement's kind. The
    result is an `Evaluation` like any other: the sweep and the report take it as it is."""
    started = time.perf_counter()
    matcher = Matcher(policy)
    results = []
    for label in labels:
        if not label.complete:
            continue
        resolution = matcher.resolve(label.query, label.candidates)
        results.append(
            QueryResult(
                request_id=label.match_id,
                truth=label.same,
                tags=(f"steward:{label.kind}",),
                query=label.query,
                candidates=label.candidates,
                resolution=resolution,
                verdict=verdict_of(resolution, label.same),
            )
        )
    metrics = summarise((r.verdict, r.truth, r.tags) for r in results if r.verdict is not None)
    return Evaluation(
        dataset="reviewed",
        tenant=tenant,
        policy=policy,
        results=tuple(results),
        metrics=metrics,
        seconds=time.perf_counter() - started,
    )
