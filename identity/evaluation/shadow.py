"""Shadow a candidate policy: re-decide the tenant's stored decisions under it, write nothing,
and say what would flip.

Both sides are replays (the replay's one rebuild of a stored query and its candidates, and what
stewards decided about them as matching reads it now), the baseline under the active policy,
the candidate under the other. The difference is then the policy's doing alone: not a change
of the member master since, nor of the policy a decision was recorded under years ago.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from identity.matching.engine import Matcher, Resolution
from identity.matching.policy import Policy
from identity.resolution import repository as decisions
from identity.resolution.replay import replayable, stored_inputs
from identity.review import repository as review_repository
from identity.review.memory import mark_candidates

DEFAULT_LIMIT = 10_000  # the newest stored decisions a shadow run looks at
PAGE = 1_000  # read and re-decided at a time: the evidence of a page is all that is held


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: str
    reason: str
    member_id: str | None

    @classmethod
    def of(cls, resolution: Resolution) -> Answer:
        member = resolution.member
        return cls(
            resolution.decision.outcome.value,
            resolution.decision.reason.value,
            member.member_id if member is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Flip:
    match_id: str
    review_item_id: str | None
    created_at: datetime
    before: Answer
    after: Answer

    @property
    def kind(self) -> str:
        """`match → review`, `review → match`, … or `member changed` (both match, another
        member)."""
        if self.before.outcome == self.after.outcome:
            return "member changed" if self.before.outcome == "match" else "reason changed"
        return f"{self.before.outcome} → {self.after.outcome}"

    def link(self, base_url: str = "") -> str:
        """Where a person looks at it: the review item in the workbench, else the decision."""
        if self.review_item_id is not None:
            return f"{base_url}/review/items/{self.review_item_id}"
        return f"{base_url}/v1/matches/{self.match_id}"


@dataclass
class ShadowReport:
    tenant: str
    baseline_version: str
    candidate_version: str
    since: datetime | None
    decisions: int = 0  # re-decided
    purged: int = 0  # skipped: retention removed their demographics
    flips: list[Flip] = field(default_factory=list)
    outcomes_before: Counter[str] = field(default_factory=Counter)
    outcomes_after: Counter[str] = field(default_factory=Counter)

    @property
    def unchanged(self) -> int:
        return self.decisions - len(self.flips)

    def by_kind(self) -> list[tuple[str, str, int]]:
        """(flip kind, the candidate policy's reason, count), commonest first."""
        counts = Counter((f.kind, f.after.reason) for f in self.flips)
        return [(k, r, n) for (k, r), n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]


def shadow(
    session: Session,
    tenant: str,
    baseline: Policy,
    candidate: Policy,
    *,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> ShadowReport:
    """Re-decide the tenant's newest stored decisions (at most `limit`, from `since`) under both
    policies; reads only."""
    report = ShadowReport(tenant, baseline.version, candidate.version, since)
    before_matcher, after_matcher = Matcher(baseline), Matcher(candidate)
    last: tuple[datetime, str] | None = None
    seen = 0
    while seen < limit:
        rows = decisions.recent_decisions(
            session, tenant, since=since, limit=min(PAGE, limit - seen), before=last
        )
        if not rows:
            break
        seen += len(rows)
        last = (rows[-1][1], rows[-1][0])
        _redecide(session, report, rows, before_matcher, after_matcher)
    return report


def _redecide(
    session: Session,
    report: ShadowReport,
    rows: list[tuple[str, datetime, str, dict[str, Any]]],
    before_matcher: Matcher,
    after_matcher: Matcher,
) -> None:
    """One page of stored decisions, re-decided under both policies."""
    tenant = report.tenant
    kept = [row for row in rows if replayable(row[3])]
    report.purged += len(rows) - len(kept)
    inputs = [stored_inputs(evidence) for _, _, _, evidence in kept]
    marked = mark_candidates(
        session,
        tenant,
        [(fp, found) for (_, _, fp, _), (_, found) in zip(kept, inputs, strict=True)],
    )
    items = review_repository.item_ids_for_matches(session, tenant, [row[0] for row in kept])
    for (match_id, created, _, _), (query, _), found in zip(kept, inputs, marked, strict=True):
        before = Answer.of(before_matcher.resolve(query, found))
        after = Answer.of(after_matcher.resolve(query, found))
        report.decisions += 1
        report.outcomes_before[before.outcome] += 1
        report.outcomes_after[after.outcome] += 1
        if before != after:
            report.flips.append(Flip(match_id, items.get(match_id), created, before, after))
