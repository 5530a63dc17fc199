"""The pure matching pipeline: (query, candidates, policy) -> a decision with its evidence.

No database, clock or settings here, so any decision can be replayed under any policy version.
Built once per policy version (rules compiled up front) and reused for every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from identity.matching.decision import Decision, Outcome, Reason, Stage, Status, decide
from identity.matching.given_names import NO_LEARNED, GivenNames, LearnedNames
from identity.matching.guards import GuardCheck, Guards, capped
from identity.matching.policy import Policy
from identity.matching.record import StandardRecord
from identity.matching.rules import Rule, RuleResult, RuleSet
from identity.matching.scoring import FellegiSunter, PairScore, Scores
from identity.matching.steward import StewardMark, SurvivorMark, survivor_of


@dataclass(frozen=True, slots=True)
class Candidate:
    member_pk: int
    member_id: str
    record: StandardRecord
    matched_keys: tuple[str, ...] = ()  # blocking key names this candidate was found under
    # What stewards decided (the `steward-decision` stage's input, read by the caller): about
    # this query and this member, and whether this record is another of a surviving record's.
    steward: StewardMark | None = None
    survivor: SurvivorMark | None = None


@dataclass(frozen=True, slots=True)
class CandidateVerdict:
    candidate: Candidate
    status: Status
    rules: tuple[RuleResult, ...]
    score: PairScore | None = None
    # The policy's guards, checked on the candidate the stages chose (no one else's are).
    guards: tuple[GuardCheck, ...] = ()
    # The steward's decision that set the status, when the policy applied one.
    steward: StewardMark | None = None

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
        if self.steward is not None:
            evidence["steward_decision"] = self.steward.as_dict()
        return evidence


@dataclass(frozen=True)
class Resolution:
    """A request's decision and what it was decided from, candidate i in row i of each column.

    The columns are what the matcher computed, all candidates at once; `verdicts` presents them
    as one CandidateVerdict per candidate (with its RuleResults and PairScore), built only when
    something reads it: a request's stored evidence is built from the columns directly
    (`identity.matching.evidence`), and reports and replays read the verdicts."""

    decision: Decision
    candidates: tuple[Candidate, ...]  # as judged: given names widened as the policy declares
    statuses: tuple[Status, ...]
    fired: tuple[tuple[bool, ...], ...]  # per candidate, per rule of `matcher.ruleset`
    scores: Scores | None  # None without a model or without candidates
    steward: tuple[StewardMark | None, ...]  # the steward's decision that set each status
    # The policy's guards, checked on the candidate the stages chose (no one else's are).
    guarded: int | None
    guard_checks: tuple[GuardCheck, ...]
    # The query as scored (given names widened), whose values the score evidence shows.
    scored_query: StandardRecord
    matcher: Matcher = field(repr=False, compare=False)
    # The rules judged without the query's SSN, because two or more candidates hold it.
    ssn_set_aside: bool = False
    # Answered with a surviving record: {"member_id", "others", "resolution_ids"}.
    same_person: dict[str, Any] | None = None
    # Candidates whose given name only a learned equivalence made equivalent:
    # ({"member_id", "resolution_ids": the stewards' links it was learned from}, ...).
    learned_given_names: tuple[dict[str, Any], ...] = ()

    @property
    def member(self) -> Candidate | None:
        chosen = self.decision.chosen
        return None if chosen is None else self.candidates[chosen]

    @property
    def probabilities(self) -> list[float | None]:
        if self.scores is None:
            return [None] * len(self.candidates)
        return list(self.scores.probabilities)

    @cached_property
    def verdicts(self) -> tuple[CandidateVerdict, ...]:
        ruleset, scorer, scores = self.matcher.ruleset, self.matcher.scorer, self.scores
        out = []
        for i, c in enumerate(self.candidates):
            score = None
            if scorer is not None and scores is not None:
                score = scorer.pair_score(self.scored_query, c.record, scores, i)
            out.append(
                CandidateVerdict(
                    c,
                    self.statuses[i],
                    ruleset.results(self.fired[i]),
                    score,
                    self.guard_checks if i == self.guarded else (),
                    self.steward[i],
                )
            )
        return tuple(out)


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
    """Negative rules first: a candidate that is certainly not the person is never matched.
    Compiled under the policy's own predicate settings (thresholds, keying errors)."""
    rules, settings = policy.document.rules, policy.document.predicates.settings()
    return tuple(
        [Rule(r.name, "negative", r.predicates(), settings) for r in rules.negative]
        + [Rule(r.name, "positive", r.predicates(), settings) for r in rules.positive]
    )


class Matcher:
    """A policy made ready to run: compiled rules and, when the policy has one, its model."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.rules = compile_rules(policy)
        self.ruleset = RuleSet(self.rules)
        self.guards = Guards(policy)
        doc = policy.document
        self.given_names = GivenNames.of(doc.given_name_equivalences)
        self.scorer = FellegiSunter(doc.comparisons, doc.model) if doc.model else None

    def _status(self, fired: Sequence[bool]) -> Status:
        """A negative rule that fired excludes; else a positive one makes certain. (Plain
        loops: `any()` over a generator cost more than the rest of a candidate's stage.)"""
        for i in self.ruleset.negative:
            if fired[i]:
                return Status.EXCLUDED
        for i in self.ruleset.positive:
            if fired[i]:
                return Status.CERTAIN
        return Status.OPEN

    def verdict(
        self, query: StandardRecord, candidate: Candidate, score: PairScore | None = None
    ) -> CandidateVerdict:
        """One pair judged by the rules and the steward stage, as `resolve` judges each."""
        fired = self.ruleset.fired(query, [candidate.record])[0]
        status, mark = self._judged(fired, candidate)
        return CandidateVerdict(candidate, status, self.ruleset.results(fired), score, steward=mark)

    def _judged(
        self, fired: Sequence[bool], candidate: Candidate
    ) -> tuple[Status, StewardMark | None]:
        status = self._status(fired)
        mark = self._applied(candidate.steward)
        if mark is not None:
            status = Status.EXCLUDED if mark.kind == "keep_apart" else Status.CERTAIN
        return status, mark

    def _applied(self, mark: StewardMark | None) -> StewardMark | None:
        """The steward's decision, if the policy's `steward-decision` stage uses its kind."""
        spec = self.policy.document.steward_decisions
        if mark is None or spec is None:
            return None
        if mark.kind == "keep_apart" and spec.keep_apart == "exclude":
            return mark
        if mark.kind == "link" and spec.link == "certain":
            return mark
        return None

    def resolve(
        self,
        query: StandardRecord,
        candidates: Sequence[Candidate],
        learned: LearnedNames = NO_LEARNED,
    ) -> Resolution:
        """Every candidate is scored (the evidence shows why rules and weights agree or not);
        only the open ones compete in the probabilistic decision. The candidate the stages
        chose then meets the policy's guards, which may lower the match (to review). Given
        names are first widened as the policy declares (diminutives, `learned` pairs).
        All candidates go through each stage together, as columns."""
        learned_used: tuple[dict[str, Any], ...] = ()
        if self.given_names:
            widened = self.given_names.widen(
                query,
                [c.record for c in candidates],
                [c.member_id for c in candidates],
                learned,
            )
            query, learned_used = widened.query, widened.learned_used
            candidates = [
                c if r is c.record else replace(c, record=r)
                for c, r in zip(candidates, widened.records, strict=True)
            ]
        records = [c.record for c in candidates]
        scores = None
        if self.scorer is not None and candidates:
            scores = self.scorer.score_all(query, records)
        probabilities: Sequence[float | None] = (
            [None] * len(candidates) if scores is None else scores.probabilities
        )
        judged = rules_view(query, candidates)
        fired = self.ruleset.fired(judged, records)
        statuses, marks = [], []
        for row, c in zip(fired, candidates, strict=True):
            status, mark = self._judged(row, c)
            statuses.append(status)
            marks.append(mark)
        decision = decide(statuses, probabilities, self.policy.document.decision)
        decision, same_person = self._steward_stage(
            decision, candidates, statuses, probabilities, marks
        )
        # A person linked this request to this member: the assurance floor guards the machine's
        # choices, not theirs. Two records judged one person still leave the choice of that
        # person to the machine, so the floor still applies.
        linked = decision.reason is Reason.STEWARD_DECISION
        guarded: int | None = None
        checks: tuple[GuardCheck, ...] = ()
        if self.guards and decision.chosen is not None and not linked:
            guarded = decision.chosen
            levels = {}
            if self.scorer is not None and scores is not None:
                levels = self.scorer.levels(scores, guarded)
            checks = self.guards.check_levels(judged, records[guarded], levels)
            decision = capped(decision, checks)
        return Resolution(
            decision,
            tuple(candidates),
            tuple(statuses),
            tuple(fired),
            scores,
            tuple(marks),
            guarded,
            checks,
            query,
            self,
            ssn_set_aside=judged is not query,
            same_person=same_person,
            learned_given_names=learned_used,
        )

    def _tied(
        self,
        decision: Decision,
        candidates: Sequence[Candidate],
        statuses: Sequence[Status],
        probabilities: Sequence[float | None],
    ) -> list[str]:
        """The members a review could not choose between: several certain ones, or open ones
        within the margin of a best probability that reaches the match threshold (a duplicate
        enrolment scores alike on both records). Empty for any other decision."""
        if decision.reason is Reason.MULTIPLE_CERTAIN:
            return [
                c.member_id
                for c, s in zip(candidates, statuses, strict=True)
                if s is Status.CERTAIN
            ]
        spec = self.policy.document.decision
        best = decision.probability
        if decision.reason is not Reason.AMBIGUOUS or best is None:
            return []
        if best < spec.match_probability:
            return []
        return [
            c.member_id
            for c, s, p in zip(candidates, statuses, probabilities, strict=True)
            if s is Status.OPEN and p is not None and best - p < spec.margin
        ]

    def _steward_stage(
        self,
        decision: Decision,
        candidates: Sequence[Candidate],
        statuses: Sequence[Status],
        probabilities: Sequence[float | None],
        marks: Sequence[StewardMark | None],
    ) -> tuple[Decision, dict[str, Any] | None]:
        """A match a steward's link made certain says so; several certain candidates that are
        all records of one person are answered with the surviving record."""
        chosen = decision.chosen
        if chosen is not None and decision.reason is Reason.POSITIVE_RULE:
            mark = marks[chosen]
            if mark is not None and mark.kind == "link":
                return replace(decision, stage=Stage.STEWARD, reason=Reason.STEWARD_DECISION), None
        spec = self.policy.document.steward_decisions
        if spec is None or spec.same_person != "survivor":
            return decision, None
        tied = self._tied(decision, candidates, statuses, probabilities)
        if not tied:
            return decision, None
        survivors = {c.member_id: c.survivor for c in candidates if c.survivor is not None}
        found = survivor_of(tied, survivors, {c.member_id for c in candidates})
        if found is None:
            return decision, None
        root, others, resolutions = found
        index = next(i for i, c in enumerate(candidates) if c.member_id == root)
        if statuses[index] is Status.EXCLUDED:  # the surviving record is not this person
            return decision, None
        probability = 1.0 if decision.reason is Reason.MULTIPLE_CERTAIN else decision.probability
        answer = Decision(Outcome.MATCH, Stage.STEWARD, Reason.SAME_PERSON, index, probability)
        return answer, {"member_id": root, "others": others, "resolution_ids": resolutions}
