"""Which policy an analyst means: a file, a stored version, or a name in `matching_rules/`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from identity.errors import NotFound
from identity.matching.policy import Policy, find_policy, load_policy_file
from identity.policy.service import stored_policy


def resolve_policy(session: Session | None, rules_dir: Path, ref: str) -> Policy:
    """A path to a policy file; else a version stored in the database (the exact text once
    activated); else a file name, label or version in `rules_dir`. Raises PolicyError."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_policy_file(path)
    if session is not None:
        try:
            return stored_policy(session, ref)
        except NotFound:
            pass
    return find_policy(rules_dir, ref)
