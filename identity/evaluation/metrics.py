"""What an outcome means against the truth, and the figures an analyst reads (pure).

Each labelled request gets one verdict:
  true_match          matched to a member the person is enrolled under
  false_match         matched to anyone else (a stranger, a relative, the wrong record)
  duplicate_review    sent to review between two records of the person (enrolled twice): the
                      right answer, since only a steward may say the two records are one person
  review              any other review
  missed              not matched although enrolled (a second enrolment would follow)
  true_no_match       not enrolled, not matched

precision = true matches / matches; recall = (true matches + duplicate reviews) / enrolled;
review rate = every review (duplicate ones too: a steward reads them) / requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from identity.matching.decision import Status
from identity.matching.engine import CandidateVerdict, Resolution


class Verdict(StrEnum):
    TRUE_MATCH = "true_match"
    FALSE_MATCH = "false_match"
    DUPLICATE_REVIEW = "duplicate_review"
    REVIEW = "review"
    MISSED = "missed"
    TRUE_NO_MATCH = "true_no_match"


VERDICTS = tuple(Verdict)
_STATUS_ORDER = {Status.CERTAIN: 0, Status.OPEN: 1, Status.EXCLUDED: 2}


def ranked(verdicts: Sequence[CandidateVerdict]) -> list[CandidateVerdict]:
    """Best first, as the stored decision lists them: certain, open by probability, excluded."""
    return sorted(verdicts, key=lambda v: (_STATUS_ORDER[v.status], -(v.probability or 0.0)))


def duplicate_pair(verdicts: Sequence[CandidateVerdict], truth: frozenset[str]) -> bool:
    """The two best candidates are both records of the person: a review between them is a
    duplicate enrolment for a steward to settle."""
    if len(truth) < 2 or len(verdicts) < 2:
        return False
    first, second = ranked(verdicts)[:2]
    return first.candidate.member_id in truth and second.candidate.member_id in truth


def classify(
    outcome: str, member_id: str | None, truth: frozenset[str], duplicate: bool
) -> Verdict:
    """One request's verdict from its outcome, chosen member and truth."""
    if outcome == "match":
        return Verdict.TRUE_MATCH if member_id in truth else Verdict.FALSE_MATCH
    if outcome == "review":
        return Verdict.DUPLICATE_REVIEW if duplicate else Verdict.REVIEW
    return Verdict.MISSED if truth else Verdict.TRUE_NO_MATCH


def verdict_of(resolution: Resolution, truth: frozenset[str]) -> Verdict:
    member = resolution.member
    return classify(
        resolution.decision.outcome.value,
        member.member_id if member else None,
        truth,
        duplicate_pair(resolution.verdicts, truth),
    )


@dataclass(frozen=True, slots=True)
class Metrics:
    requests: int
    enrolled: int
    counts: dict[Verdict, int]
    false_matches_by_tag: dict[str, int] = field(default_factory=dict)

    @property
    def matches(self) -> int:
        return self.counts[Verdict.TRUE_MATCH] + self.counts[Verdict.FALSE_MATCH]

    @property
    def reviews(self) -> int:
        return self.counts[Verdict.REVIEW] + self.counts[Verdict.DUPLICATE_REVIEW]

    @property
    def precision(self) -> float:
        """1.0 when nothing was matched (no match was wrong)."""
        return self.counts[Verdict.TRUE_MATCH] / self.matches if self.matches else 1.0

    @property
    def recall(self) -> float:
        right = self.counts[Verdict.TRUE_MATCH] + self.counts[Verdict.DUPLICATE_REVIEW]
        return right / self.enrolled if self.enrolled else 0.0

    @property
    def review_rate(self) -> float:
        return self.reviews / self.requests if self.requests else 0.0


def summarise(labelled: Iterable[tuple[Verdict, frozenset[str], Sequence[str]]]) -> Metrics:
    """(verdict, truth, tags) of every request -> the figures; false matches counted under each
    of their request's tags (`untagged` when it has none)."""
    counts: Counter[Verdict] = Counter()
    by_tag: Counter[str] = Counter()
    requests = enrolled = 0
    for verdict, truth, tags in labelled:
        requests += 1
        enrolled += bool(truth)
        counts[verdict] += 1
        if verdict is Verdict.FALSE_MATCH:
            for tag in tags or ("untagged",):
                by_tag[tag] += 1
    return Metrics(
        requests=requests,
        enrolled=enrolled,
        counts={v: counts[v] for v in VERDICTS},
        false_matches_by_tag=dict(sorted(by_tag.items())),
    )
