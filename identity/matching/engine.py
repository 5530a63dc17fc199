"""The pure matching pipeline: (query, candidates, policy) -> a decision with its evidence.

No database, clock or settings here, so any decision can be replayed under any policy version.
Built once per policy version (rules compiled up front) and reused for every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from identity.matching.decision import Decision, Status, decide
from identity.matching.guards import GuardCheck, Guards, capped
from identity.matching.policy import Policy
from identity.matching.record import StandardRecord
from identity.matching.rules import Rule, RuleResult, evaluate_rules
from identity.matching.scoring import FellegiSunter, PairScore


@dataclass(frozen=True, slots=True)
class Candidate:
    member_pk: int
    member_id: str
    record: StandardRecord
    matched_keys: tuple[str, ...] = ()  # blocking key names this candidate was found under


@dataclass(frozen=True, slots=True)
class CandidateVerdict:
    candidate: Candidate
    status: Status
    rules: tuple[RuleResult, ...]
    score: PairScore | None = None
    # The policy's guards, checked on the candidate the stages chose (no one else's are).
    guards: tuple[GuardCheck, ...] = ()

    @property
    def probability(self) -> float | None:
        return None if self.score is None else self.score.probability

    def evidence(self) -> dict[str, Any]:
        evidence = {
            "member_id": self.candidate.member_id,
            "status": self.status.value,
            "blocking_keys": list(self.candidate.matched_keys),
            "rules": [r.as_dict() for r in self.rules],
            "score": None if self.score is None else self.score.as_dict(),
        }
        if self.guards:
            evidence["guards"] = [g.as_dict() for g in self.guards]
        return evidence


@dataclass(frozen=True, slots=True)
class Resolution:
    decision: Decision
    verdicts: tuple[CandidateVerdict, ...]
    # The rules judged without the query's SSN, because two or more candidates hold it.
    ssn_set_aside: bool = False

    @property
    def member(self) -> Candidate | None:
        chosen = self.decision.chosen
        return None if chosen is None else self.verdicts[chosen].candidate


def rules_view(query: StandardRecord, candidates: Sequence[Candidate]) -> StandardRecord:
    """The query as the rules see it. An SSN the master gives to two or more members identifies
    none of them (a dependent filed under the subscriber's SSN, an overlaid record), so the rules
    judge without it: it can neither confirm a match nor excuse a twin or a Jr/Sr. (A person
    enrolled twice holds it twice too; two such candidates then meet the margin and go to review,
    as any two close candidates do.)"""
    if query.ssn is not None and sum(c.record.ssn == query.ssn for c in candidates) >= 2:
        return replace(query, ssn=None)
    return query


def compile_rules(policy: Policy) -> tuple[Rule, ...]:
    """Negative rules first: a candidate that is certainly not the person is never matched."""
    rules = policy.document.rules
    return tuple(
        [Rule(r.name, "negative", r.predicates()) for r in rules.negative]
        + [Rule(r.name, "positive", r.predicates()) for r in rules.positive]
    )


class Matcher:
    """A policy made ready to run: compiled rules and, when the policy has one, its model."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.rules = compile_rules(policy)
        self.guards = Guards(policy)
        doc = policy.document
        self.scorer = FellegiSunter(doc.comparisons, doc.model) if doc.model else None

    def verdict(
        self, query: StandardRecord, candidate: Candidate, score: PairScore | None = None
    ) -> CandidateVerdict:
        results = tuple(evaluate_rules(self.rules, query, candidate.record))
        if any(r.fired and r.kind == "negative" for r in results):
            status = Status.EXCLUDED
        elif any(r.fired and r.kind == "positive" for r in results):
            status = Status.CERTAIN
        else:
            status = Status.OPEN
        return CandidateVerdict(candidate, status, results, score)

    def resolve(self, query: StandardRecord, candidates: Sequence[Candidate]) -> Resolution:
        """Every candidate is scored (the evidence shows why rules and weights agree or not);
        only the open ones compete in the probabilistic decision. The candidate the stages
        chose then meets the policy's guards, which may lower the match (to review)."""
        scores: Sequence[PairScore | None] = [None] * len(candidates)
        if self.scorer is not None and candidates:
            scores = self.scorer.score(query, [c.record for c in candidates])
        judged = rules_view(query, candidates)
        verdicts = tuple(
            self.verdict(judged, c, s) for c, s in zip(candidates, scores, strict=True)
        )
        decision = decide(
            [v.status for v in verdicts],
            [v.probability for v in verdicts],
            self.policy.document.decision,
        )
        if self.guards and decision.chosen is not None:
            i = decision.chosen
            checks = self.guards.check(judged, verdicts[i].candidate.record, verdicts[i].score)
            verdicts = (*verdicts[:i], replace(verdicts[i], guards=checks), *verdicts[i + 1 :])
            decision = capped(decision, checks)
        return Resolution(decision, verdicts, ssn_set_aside=judged is not query)
