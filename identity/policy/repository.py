"""All SQL about policies: stored versions and per-tenant activations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.matching.policy import Policy
from identity.models import PolicyActivation, PolicyVersion


def get_version(session: Session, version: str) -> PolicyVersion | None:
    return session.get(PolicyVersion, version)


def versions_with_label(session: Session, label: str) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).where(PolicyVersion.label == label)))


def add_version(session: Session, policy: Policy) -> PolicyVersion:
    row = PolicyVersion(
        version=policy.version,
        label=policy.label,
        content_hash=policy.content_hash,
        source_text=policy.source_text,
        document=policy.document.model_dump(mode="json"),
    )
    session.add(row)
    session.flush()
    return row


def add_activation(session: Session, tenant: str, version: str) -> None:
    session.add(PolicyActivation(tenant_id=tenant, version=version))
    session.flush()


def active_version(session: Session, tenant: str) -> str | None:
    return session.scalar(
        select(PolicyActivation.version)
        .where(PolicyActivation.tenant_id == tenant)
        .order_by(PolicyActivation.id.desc())
        .limit(1)
    )


def activations(session: Session, tenant: str) -> list[PolicyActivation]:
    return list(
        session.scalars(
            select(PolicyActivation)
            .where(PolicyActivation.tenant_id == tenant)
            .order_by(PolicyActivation.id)
        )
    )
