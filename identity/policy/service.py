"""Policy use cases: activate a file for a tenant, and get the policy a tenant runs under.

Stored versions are immutable: the text activated is kept in the database, so a decision stays
explainable under its policy even after the file changes or disappears.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from identity.errors import Conflict, NotFound
from identity.matching.policy import Policy, parse_policy
from identity.policy import repository


def activate(session: Session, tenant: str, policy: Policy) -> bool:
    """Make `policy` the tenant's active one; False when it already was."""
    stored = repository.get_version(session, policy.version)
    if stored is None:
        clash = repository.versions_with_label(session, policy.label)
        if clash:
            raise Conflict(
                f"label {policy.label} already names version {clash[0].version} with other "
                "content; give the edited policy a new label"
            )
        repository.add_version(session, policy)
    if repository.active_version(session, tenant) == policy.version:
        return False
    repository.add_activation(session, tenant, policy.version)
    return True


def stored_policy(session: Session, version: str) -> Policy:
    """A stored version, parsed from the exact text that was activated."""
    row = repository.get_version(session, version)
    if row is None:
        raise NotFound("no such policy version")
    return parse_policy(row.source_text, source=version)


def active_policy_version(session: Session, tenant: str) -> str | None:
    return repository.active_version(session, tenant)
