"""Matchers built once per policy version and reused by every request.

The tenant's active version is read on each request (one indexed row), so an activation takes
effect at once in every worker; the expensive part, compiling the policy, happens once.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from identity.errors import ServiceUnavailable
from identity.matching.engine import Matcher
from identity.policy.service import active_policy_version, stored_policy


class MatcherCache:
    def __init__(self) -> None:
        self._by_version: dict[str, Matcher] = {}
        self._lock = threading.Lock()

    def for_version(self, session: Session, version: str) -> Matcher:
        matcher = self._by_version.get(version)
        if matcher is None:
            with self._lock:
                matcher = self._by_version.get(version)
                if matcher is None:
                    matcher = Matcher(stored_policy(session, version))
                    self._by_version[version] = matcher
        return matcher

    def for_tenant(self, session: Session, tenant: str) -> Matcher:
        version = active_policy_version(session, tenant)
        if version is None:
            # Not the caller's fault and not permanent: an operator must activate a policy.
            raise ServiceUnavailable("no matching policy is active for this tenant")
        return self.for_version(session, version)
