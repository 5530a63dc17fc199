"""The matcher cache: an activation is seen within the version TTL, absence is never cached."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.db import transaction
from identity.errors import ServiceUnavailable
from identity.matching.policy import parse_policy
from identity.policy import service as policy_service
from identity.policy.cache import MatcherCache
from tests.conftest import RULES_DIR, TENANT

OTHER = parse_policy(
    (RULES_DIR / "default.yaml").read_text().replace('label: "1.5.0"', 'label: "cache-test"')
)


def test_activation_is_seen_within_the_ttl(
    sessions: sessionmaker[Session], active_policy: str
) -> None:
    now = [100.0]
    cache = MatcherCache(version_ttl_s=1.0, clock=lambda: now[0])
    with sessions() as session:
        assert cache.for_tenant(session, TENANT).policy.version == active_policy
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, OTHER)
    with sessions() as session:
        now[0] += 0.5  # within the TTL: still the version read before
        assert cache.for_tenant(session, TENANT).policy.version == active_policy
        now[0] += 0.6  # past it: the new activation
        assert cache.for_tenant(session, TENANT).policy.version == OTHER.version


def test_no_policy_is_never_cached(sessions: sessionmaker[Session]) -> None:
    cache = MatcherCache(version_ttl_s=60.0, clock=lambda: 0.0)
    with sessions() as session, pytest.raises(ServiceUnavailable):
        cache.for_tenant(session, TENANT)
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, OTHER)
    with sessions() as session:
        assert cache.for_tenant(session, TENANT).policy.version == OTHER.version
