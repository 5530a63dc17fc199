"""No policy goes live blind: before another policy replaces the active one, its shadow run
over the tenant's recent decisions, and its answers on the labels there are (the stewards'
settlements, a labelled set the operator gives) beside the active policy's. A drop in precision
on any of them refuses the activation unless an operator accepts the risk, with a reason,
audited.

Precision first: a false match sends one person's health history to a stranger, so any drop
counts, however small (eight relatives in a few thousand requests was 1.0000 to 0.9953).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.evaluation.labels import LabelledQuery
from identity.evaluation.reviewed_labels import evaluate_reviewed, reviewed_labels
from identity.evaluation.run import Evaluation, evaluate
from identity.evaluation.shadow import ShadowReport, shadow
from identity.matching.policy import Policy

REASON_MAX = 200


@dataclass(frozen=True)
class LabelComparison:
    """Both policies measured on one labelled set."""

    source: str  # "reviewed" (stewards' settlements) or the labelled file's name
    active: Evaluation
    candidate: Evaluation

    @property
    def drops(self) -> bool:
        """Precision is lower under the candidate (a policy that matches nothing has precision
        1: no match of it was wrong)."""
        return self.candidate.metrics.precision < self.active.metrics.precision


@dataclass(frozen=True)
class ActivationCheck:
    shadow: ShadowReport
    # One per labelled set the tenant has: its stewards' settlements, a labelled file.
    labels: tuple[LabelComparison, ...]

    @property
    def precision_drops(self) -> bool:
        return any(c.drops for c in self.labels)


def check_activation(
    session: Session,
    tenant: str,
    active: Policy,
    candidate: Policy,
    *,
    labelled: tuple[str, Sequence[LabelledQuery]] | None = None,
    today: date | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> ActivationCheck:
    """Reads only: the shadow run, and both policies measured on the stewards' labels and on
    `labelled` (a name and labelled requests, decided against the tenant's master)."""
    report = shadow(session, tenant, active, candidate, since=since, **_limit(limit))
    comparisons = []
    settled = [label for label in reviewed_labels(session, tenant) if label.complete]
    if settled:
        comparisons.append(
            LabelComparison(
                "reviewed",
                evaluate_reviewed(active, settled, tenant=tenant),
                evaluate_reviewed(candidate, settled, tenant=tenant),
            )
        )
    if labelled is not None:
        name, queries = labelled
        day = today or datetime.now(UTC).date()
        comparisons.append(
            LabelComparison(
                name,
                evaluate(session, tenant, active, queries, today=day, dataset=name),
                evaluate(session, tenant, candidate, queries, today=day, dataset=name),
            )
        )
    return ActivationCheck(report, tuple(comparisons))


def _limit(limit: int | None) -> dict[str, int]:
    return {} if limit is None else {"limit": limit}


def clean_reason(reason: str) -> str:
    """The operator's reason as it is audited: one line, printable, at most REASON_MAX
    characters. It names why, never a person (it is chained into the audit trail)."""
    text = " ".join(reason.split())
    if not text:
        raise ValueError("--accept-risk needs a reason")
    if not text.isprintable():
        raise ValueError("the reason must be printable text")
    if len(text) > REASON_MAX:
        raise ValueError(f"the reason is at most {REASON_MAX} characters")
    return text


def record_accepted_risk(
    session: Session, actor: Actor, check: ActivationCheck, reason: str
) -> None:
    """The audit event of an activation made against the labels' verdict, with its reason."""
    audit.record(
        session,
        actor,
        action="policy.accept-risk",
        outcome="success",
        object_type="policy_version",
        object_ids=[
            check.shadow.candidate_version,
            check.shadow.baseline_version,
            *(
                f"precision({c.source}):{_figure(c.active.metrics.precision)}"
                f"->{_figure(c.candidate.metrics.precision)}"
                for c in check.labels
            ),
            f"reason:{reason}",
        ],
        policy_version=check.shadow.candidate_version,
    )


def _figure(value: float) -> str:
    return f"{value:.4f}"
