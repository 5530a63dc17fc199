"""Use case: the tenant's active policy, published (see identity/policy/published.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from identity.errors import NotFound
from identity.policy import repository
from identity.policy.published import Terms, published_policy
from identity.policy.service import stored_policy


def active_published(session: Session, tenant: str, terms: Terms) -> dict[str, Any]:
    """The active policy with the terms around it; 404 when the tenant has none active."""
    activations = repository.activations(session, tenant)
    if not activations:
        raise NotFound("no policy is active for this tenant")
    latest = activations[-1]
    policy = stored_policy(session, latest.version)
    return published_policy(policy, tenant=tenant, activated_at=latest.activated_at, terms=terms)
