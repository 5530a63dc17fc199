"""Matchers built once per policy version and reused by every request.

The tenant's active version is re-read at most once a second per worker (it was a sixth of a
request's database time), so an activation takes effect everywhere within a second; the
expensive part, compiling the policy, happens once per version. "No policy active" is never
cached, so the first activation is seen at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from identity.errors import ServiceUnavailable
from identity.matching.engine import Matcher
from identity.policy.service import active_policy_version, stored_policy


class MatcherCache:
    def __init__(
        self, version_ttl_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._by_version: dict[str, Matcher] = {}
        self._active: dict[str, tuple[float, str]] = {}  # tenant -> (read at, version)
        self._ttl = version_ttl_s
        self._clock = clock
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

    def _active_version(self, session: Session, tenant: str) -> str | None:
        now = self._clock()
        cached = self._active.get(tenant)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        version = active_policy_version(session, tenant)
        if version is not None:
            self._active[tenant] = (now, version)
        return version

    def for_tenant(self, session: Session, tenant: str) -> Matcher:
        version = self._active_version(session, tenant)
        if version is None:
            # Not the caller's fault and not permanent: an operator must activate a policy.
            raise ServiceUnavailable("no matching policy is active for this tenant")
        return self.for_version(session, version)
