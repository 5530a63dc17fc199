"""The service-level indicators read from the database, the counters taken from committed audit
events, and the static scrape token."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import make_engine, make_session_factory
from identity.dedupe import STAGE as DEDUPE_STAGE
from identity.models import MatchDecision, RememberedDecision, ReviewItem, ReviewResolution
from identity.observability.metrics import Metrics, build_metrics
from identity.observability.sli import SliCollector, TenantSli
from tests.conftest import TENANT, LiveServer, as_app_role, service_settings
from tests.factories import fhir_patient

OTHER = "other-payer"
HOUR = timedelta(hours=1)


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    payload, _ = metrics.render()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(payload.decode())
        for s in family.samples
    }


def _decision(
    session: Session, tenant: str, policy: str, outcome: str, at: datetime, **extra: str
) -> MatchDecision:
    row = MatchDecision(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        created_at=at,
        input_fingerprint=extra.get("fingerprint", uuid.uuid4().hex * 2),
        policy_version=policy,
        outcome=outcome,
        stage=extra.get("stage", "probabilistic"),
        reason="test",
        member_id=extra.get("member"),
        candidates=[],
        stored_evidence={},
        timings_ms={},
    )
    session.add(row)
    session.flush()
    return row


def _review(
    session: Session, decision: MatchDecision, opened: datetime, settled_after: timedelta | None
) -> ReviewResolution | None:
    item = ReviewItem(
        id=str(uuid.uuid4()),
        tenant_id=decision.tenant_id,
        match_id=decision.id,
        policy_version=decision.policy_version,
        reason="review-band",
        status="open" if settled_after is None else "resolved",
        candidates=[],
        created_at=opened,
    )
    session.add(item)
    session.flush()
    if settled_after is None:
        return None
    resolution = ReviewResolution(
        id=str(uuid.uuid4()),
        tenant_id=decision.tenant_id,
        item_id=item.id,
        version=1,
        kind="keep_apart",
        member_id="M-1",
        decided_by="steward-1",
        decided_by_role="steward",
        decided_at=opened + settled_after,
    )
    session.add(resolution)
    session.flush()
    return resolution


def seed(sessions: sessionmaker[Session], policy: str, now: datetime) -> None:
    """TENANT, in the last day: two automatic matches (one later kept apart by a steward), two
    reviews settled after 1 h and 3 h; an older decision outside the window. OTHER: one decision
    waiting in review."""
    with sessions() as session:
        _decision(
            session, TENANT, policy, "match", now - 5 * HOUR, fingerprint="f" * 64, member="M-1"
        )
        _decision(
            session, TENANT, policy, "match", now - 4 * HOUR, stage="deterministic", member="M-2"
        )
        first = _decision(session, TENANT, policy, "review", now - 6 * HOUR)
        second = _decision(session, TENANT, policy, "review", now - 6 * HOUR)
        _decision(session, TENANT, policy, "no_match", now - 72 * HOUR)
        # A duplicate-enrolment cluster `identity dedupe` wrote: no one's request, so neither a
        # decision nor a review of the request-based indicators.
        _decision(session, TENANT, policy, "review", now - 2 * HOUR, stage=DEDUPE_STAGE)
        settled = _review(session, first, now - 6 * HOUR, HOUR)
        _review(session, second, now - 6 * HOUR, 3 * HOUR)
        assert settled is not None
        session.add(
            RememberedDecision(
                id=str(uuid.uuid4()),
                tenant_id=TENANT,
                input_fingerprint="f" * 64,
                member_id="M-1",
                kind="keep_apart",
                resolution_id=settled.id,
                decided_by="steward-1",
                decided_at=now - 2 * HOUR,
            )
        )
        other = _decision(session, OTHER, policy, "review", now - HOUR)
        _review(session, other, now - HOUR, None)
        session.commit()


@pytest.fixture
def app_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions as the service connects: on PostgreSQL the application role, under row-level
    security, so each tenant's rows are read only inside that tenant's transaction."""
    engine = make_engine(as_app_role(settings))
    yield make_session_factory(engine)
    engine.dispose()


def test_indicators_are_read_per_tenant_from_the_database(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    active_policy: str,
) -> None:
    seed(sessions, active_policy, datetime.now(UTC))
    found = scrape(build_metrics(app_sessions, settings))

    def at(name: str, tenant: str = TENANT) -> float | None:
        return found.get((name, frozenset({("tenant", tenant)})))

    assert at("identity_sli_decisions") == 4  # the 72-hour-old one is outside the day
    assert at("identity_sli_match_rate") == 0.5
    assert at("identity_sli_manual_review_rate") == 0.5
    assert at("identity_sli_automatic_matches") == 2
    assert at("identity_sli_overturned_matches") == 1
    assert at("identity_sli_overturn_rate") == 0.5
    assert at("identity_sli_reviews_resolved") == 2
    assert at("identity_sli_median_time_to_resolution_seconds") == pytest.approx(2 * 3600)
    assert at("identity_sli_audited_decision_share") is None  # none in the last hour
    # The other tenant's numbers are its own; a rate over nothing is absent, not zero.
    assert at("identity_sli_decisions", OTHER) == 1
    assert at("identity_sli_manual_review_rate", OTHER) == 1.0
    assert at("identity_sli_median_time_to_resolution_seconds", OTHER) is None
    assert at("identity_sli_overturn_rate", OTHER) is None
    queued = ("identity_bulk_jobs_by_status", frozenset({("tenant", TENANT), ("status", "queued")}))
    assert found[queued] == 0


def test_a_shorter_window_leaves_older_decisions_out(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    active_policy: str,
) -> None:
    seed(sessions, active_policy, datetime.now(UTC))
    narrow = settings.model_copy(update={"sli_window_hours": 4.5})
    found = scrape(build_metrics(app_sessions, narrow))
    # Only the deterministic match (4 h ago) is inside 4.5 hours; no review settled in it.
    assert found[("identity_sli_decisions", frozenset({("tenant", TENANT)}))] == 1
    assert found[("identity_sli_match_rate", frozenset({("tenant", TENANT)}))] == 1.0
    assert found[("identity_sli_reviews_resolved", frozenset({("tenant", TENANT)}))] == 1


def test_audited_share_counts_the_last_hours_decisions_named_by_an_audit_event(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    active_policy: str,
) -> None:
    now = datetime.now(UTC)
    with sessions() as session:
        recent = [
            _decision(session, TENANT, active_policy, "no_match", now - timedelta(minutes=10))
            for _ in range(4)
        ]
        # Unaudited, but older than the hour the share looks at.
        _decision(session, TENANT, active_policy, "no_match", now - 2 * HOUR)
        audit.record(
            session,
            Actor(TENANT, "payer-app", None),
            action="match.create",
            outcome="success",
            object_type="match_decision",
            object_ids=[r.id for r in recent[:3]],
        )
        session.commit()
    found = scrape(build_metrics(app_sessions, settings))
    assert found[("identity_sli_audited_decision_share", frozenset({("tenant", TENANT)}))] == 0.75


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_audit_events_are_counted_when_committed(
    sessions: sessionmaker[Session], active_policy: str
) -> None:
    metrics = Metrics()
    metrics.watch(sessions)
    actor = Actor(TENANT, "payer-app", None)
    with sessions() as session:
        audit.record(session, actor, action="token.issue", outcome="success")
        audit.record(
            session, actor, action="token.revoke", outcome="success", object_ids=["a", "b"]
        )
        audit.record(session, actor, action="member-match.consent-invalid", outcome="success")
        audit.record(session, actor, action="member-match.too-many-attempts", outcome="success")
        audit.record(session, actor, action="bulk-match.fail", outcome="success")
        session.commit()
    with sessions() as session:  # rolled back: nothing happened, nothing is counted
        audit.record(session, actor, action="token.issue", outcome="success")
        session.rollback()
    with sessions() as session:  # and the rolled-back notes do not leak into the next commit
        session.commit()
    found = scrape(metrics)
    assert found[("identity_tokens_issued_total", frozenset())] == 1
    assert found[("identity_tokens_revoked_total", frozenset())] == 2  # one sweep, two tokens
    assert found[("identity_consent_refusals_total", frozenset())] == 1
    guard = frozenset({("guard", "member-match-attempts")})
    assert found[("identity_guard_refusals_total", guard)] == 1
    assert found[("identity_bulk_jobs_total", frozenset({("event", "failed")}))] == 1
    issued = frozenset({("action", "token.issue"), ("outcome", "success")})
    assert found[("identity_audit_events_total", issued)] == 1


def _reading(tenant: str) -> TenantSli:
    return TenantSli(tenant, 10, 0.5, 0.1, 4, 1, 2, 60.0, 1.0, {})


def test_indicators_are_cached_and_a_failed_read_shows_nothing_stale() -> None:
    calls: list[int] = []
    broken = False

    def read() -> list[TenantSli]:
        calls.append(1)
        if broken:
            raise ConnectionError("database down")
        return [_reading(TENANT)]

    cached = SliCollector(read, refresh_s=3600)
    for _ in range(3):
        assert [m.name for m in cached.collect() if m.samples]
    assert len(calls) == 1
    broken = True
    failing = SliCollector(read, refresh_s=0)
    assert not [m.name for m in failing.collect() if m.samples]  # absent, not the last reading


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_static_scrape_token_reads_metrics_only_and_is_revoked_by_removing_it(
    database_url: str, key_dir: Path, active_policy: str
) -> None:
    token, spare = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    spare_digest = hashlib.sha256(spare.encode()).hexdigest()
    base = service_settings(database_url, key_dir)
    listed = base.model_copy(update={"metrics_token_sha256": f"{spare_digest},{digest}"})
    with LiveServer(listed) as server:
        with server.client(token) as scraper:
            got = scraper.get("/metrics")
            assert got.status_code == 200
            assert "# TYPE identity_sli_match_rate gauge" in got.text
            # The scrape token is not an access token: every other route refuses it.
            assert scraper.get("/v1/matches/abc").status_code == 401
        with server.client("not-" + token) as guesser:
            assert guesser.get("/metrics").status_code == 401
        with server.client() as anonymous:
            assert anonymous.get("/metrics").status_code == 401
    revoked = base.model_copy(update={"metrics_token_sha256": spare_digest})
    with LiveServer(revoked) as server, server.client(token) as scraper:
        assert scraper.get("/metrics").status_code == 401


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_live_requests_audit_event_is_counted(
    live_server: LiveServer, settings: Settings
) -> None:
    """Through the real app: the request's session is the watched one."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="payer-app")
    created = frozenset({("action", "match.create"), ("outcome", "success")})
    with live_server.client(token) as client:
        for given in ("Zqxcanary", "Vwbcanary"):
            assert (
                client.post("/v1/match", json={"patient": fhir_patient(given)}).status_code == 200
            )
        scraped = client.get("/metrics")
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert found[("identity_audit_events_total", created)] == 2
    assert "CANARY" not in scraped.text.upper()
