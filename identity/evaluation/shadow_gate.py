"""No policy goes live blind: before another policy replaces the active one, its shadow run
over the tenant's recent decisions, and its answers on the labels the tenant has (stewards'
settlements) beside the active policy's. A drop in precision on those labels refuses the
activation unless an operator accepts the risk, with a reason, audited.

Precision first: a false match sends one person's health history to a stranger, so any drop
counts, however small (eight relatives in a few thousand requests was 1.0000 to 0.9953).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.evaluation.reviewed_labels import evaluate_reviewed, reviewed_labels
from identity.evaluation.run import Evaluation
from identity.evaluation.shadow import ShadowReport, shadow
from identity.matching.policy import Policy

REASON_MAX = 200


@dataclass(frozen=True)
class ActivationCheck:
    shadow: ShadowReport
    # On the stewards' labels (None when the tenant has none a policy can be judged on).
    active_labels: Evaluation | None
    candidate_labels: Evaluation | None

    @property
    def precision_drops(self) -> bool:
        """Precision on the labels is lower under the candidate (a policy that matches nothing
        has precision 1: no match of it was wrong)."""
        if self.active_labels is None or self.candidate_labels is None:
            return False
        return self.candidate_labels.metrics.precision < self.active_labels.metrics.precision


def check_activation(
    session: Session,
    tenant: str,
    active: Policy,
    candidate: Policy,
    *,
    since: datetime | None = None,
    limit: int | None = None,
) -> ActivationCheck:
    """Reads only: the shadow run and both policies measured on the stewards' labels."""
    report = shadow(session, tenant, active, candidate, since=since, **_limit(limit))
    labels = [label for label in reviewed_labels(session, tenant) if label.complete]
    if not labels:
        return ActivationCheck(report, None, None)
    return ActivationCheck(
        report,
        evaluate_reviewed(active, labels, tenant=tenant),
        evaluate_reviewed(candidate, labels, tenant=tenant),
    )


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
    before = check.active_labels.metrics.precision if check.active_labels else None
    after = check.candidate_labels.metrics.precision if check.candidate_labels else None
    audit.record(
        session,
        actor,
        action="policy.accept-risk",
        outcome="success",
        object_type="policy_version",
        object_ids=[
            check.shadow.candidate_version,
            check.shadow.baseline_version,
            f"precision:{_figure(before)}->{_figure(after)}",
            f"reason:{reason}",
        ],
        policy_version=check.shadow.candidate_version,
    )


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
