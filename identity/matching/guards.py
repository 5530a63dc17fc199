"""Guards: what must hold of the candidate the stages chose before the decision is a match.

Rules and weights add evidence up; a guard asks whether the right kind of evidence is there. The
default policy's identity assurance floor is one: an identifier and a birth date (a card, read by
anyone who held it) outweigh two wrong names in the weights, so it asks the names to support the
match. A guard reads the chosen candidate's comparison levels (the levels the scorer weighed and
the evidence shows), so a steward reads in the waterfall exactly what it judged. It runs after the
decision, on every path that decides (a request, a bulk batch, a replay), and only ever lowers an
outcome: a failed guard turns a match into at most its `cap`. A guard may instead say rule
predicates (`when_predicates`), for what no level says: how many years apart, a suffix on one side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from identity.matching.comparisons import NULL_LABEL, ComparisonPlan, level_label
from identity.matching.decision import Decision, Outcome, Reason
from identity.matching.policy import GuardSpec, Policy
from identity.matching.record import StandardRecord
from identity.matching.rules import PredicateSettings, Rule
from identity.matching.scoring import PairScore
from identity.matching.standardize_names import nickname_canonicals, phonetic

# The lower, the stricter: of several failed guards, the strictest cap wins.
_RANK = {Outcome.NO_MATCH: 0, Outcome.REVIEW: 1, Outcome.MATCH: 2}


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """One guard's verdict on the chosen candidate, with the levels it read."""

    guard: str
    held: bool
    cap: Outcome
    levels: tuple[tuple[str, str], ...]  # (comparison, level label), in the guard's order
    crosswise: bool = False  # held with the query's given and family names exchanged

    def as_dict(self) -> dict[str, Any]:
        return {
            "guard": self.guard,
            "held": self.held,
            "cap": self.cap.value,
            "levels": dict(self.levels),
            "crosswise": self.crosswise,
        }


@dataclass(frozen=True, slots=True)
class Guard:
    name: str
    cap: Outcome
    require_any: bool  # True: holds if any condition does; False (`when`): fails if it holds
    conditions: tuple[tuple[tuple[str, frozenset[str]], ...], ...]
    crosswise: bool = False
    # A `when_predicates` guard: fails when this rule fires on (request, candidate).
    rule: Rule | None = None

    @classmethod
    def of(cls, spec: GuardSpec, settings: PredicateSettings) -> Guard:
        conditions = tuple(
            tuple((c, frozenset(levels)) for c, levels in condition.items())
            for condition in spec.conditions
        )
        rule = None
        if spec.when_predicates is not None:
            rule = Rule(spec.name, "guard", spec.predicates(), settings)
        return cls(
            spec.name,
            Outcome(spec.cap),
            spec.require_any is not None,
            conditions,
            spec.crosswise,
            rule,
        )

    @property
    def comparisons(self) -> tuple[str, ...]:
        """Every comparison the guard reads, in the order it names them."""
        return tuple(dict.fromkeys(c for condition in self.conditions for c, _ in condition))

    def check(self, levels: dict[str, str]) -> GuardCheck:
        """A comparison the score does not have (no model) reads as `null`: no evidence."""
        seen = tuple((c, levels.get(c, NULL_LABEL)) for c in self.comparisons)
        hits = [
            all(levels.get(c, NULL_LABEL) in allowed for c, allowed in condition)
            for condition in self.conditions
        ]
        held = any(hits) if self.require_any else not hits[0]
        return GuardCheck(self.name, held, self.cap, seen)


def levels_of(score: PairScore | None) -> dict[str, str]:
    """Comparison -> the level label the pair fell in."""
    return {} if score is None else {f.comparison: f.label for f in score.fields}


def names_exchanged(record: StandardRecord) -> StandardRecord:
    """The record with its given and family names in each other's fields, as a form filled in
    the wrong way round has them (earlier family names stay family names)."""
    given, family = record.family, record.given
    return replace(
        record,
        given=given,
        middle=None,
        family=family,
        family_parts=(),
        given_canonicals=nickname_canonicals(given),
        given_phonetic=phonetic(given),
        family_phonetic=phonetic(family),
    )


class Guards:
    """A policy's guards made ready to run; built once per policy version."""

    def __init__(self, policy: Policy) -> None:
        document = policy.document
        settings = document.predicates.settings()
        self.guards = tuple(Guard.of(spec, settings) for spec in document.guards)
        self._comparisons = document.comparisons
        self._plan = ComparisonPlan(document.comparisons)

    def __bool__(self) -> bool:
        return bool(self.guards)

    def _exchanged_levels(self, query: StandardRecord, candidate: StandardRecord) -> dict[str, str]:
        gammas = self._plan.vectors(names_exchanged(query), [candidate])[0]
        return {
            spec.name: level_label(spec, int(g))
            for spec, g in zip(self._comparisons, gammas, strict=True)
        }

    def check(
        self, query: StandardRecord, candidate: StandardRecord, score: PairScore | None
    ) -> tuple[GuardCheck, ...]:
        """Every guard on the chosen candidate, from its score's levels."""
        return self.check_levels(query, candidate, levels_of(score))

    def check_levels(
        self, query: StandardRecord, candidate: StandardRecord, straight: dict[str, str]
    ) -> tuple[GuardCheck, ...]:
        """Every guard on the chosen candidate, whose levels (comparison -> label, empty when
        the policy has no model) are `straight`; a crosswise guard that fails is tried again
        with the query's names exchanged."""
        exchanged: dict[str, str] | None = None
        checks = []
        for guard in self.guards:
            if guard.rule is not None:
                held = not guard.rule.fires(query, candidate)
                checks.append(GuardCheck(guard.name, held, guard.cap, ()))
                continue
            check = guard.check(straight)
            if not check.held and guard.crosswise:
                if exchanged is None:
                    exchanged = self._exchanged_levels(query, candidate)
                crossed = guard.check(exchanged)
                if crossed.held:
                    check = replace(crossed, crosswise=True)
            checks.append(check)
        return tuple(checks)


def capped(decision: Decision, checks: Sequence[GuardCheck]) -> Decision:
    """The decision, lowered to the strictest cap of the guards that did not hold (if any did
    not, and it would lower it). The probability stays: it is what the weights said."""
    caps = [c.cap for c in checks if not c.held]
    if not caps:
        return decision
    cap = min(caps, key=_RANK.__getitem__)
    if _RANK[cap] >= _RANK[decision.outcome]:
        return decision
    return replace(decision, outcome=cap, reason=Reason.CAPPED_BY_GUARD, chosen=None)
