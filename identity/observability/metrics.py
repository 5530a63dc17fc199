"""Prometheus metrics: HTTP requests and latency by route template, decisions, the review queue
(depth by status and by age, its oldest item), settlements by kind and time to settle, webhook
deliveries by result; from the audit events as they commit: tokens issued and revoked, consent
and guard refusals, bulk jobs; and the service-level indicators read from the database
(identity/observability/sli.py).

Each Metrics owns its registry (no process-global one): tests build many apps in one process, and
two apps must not count into each other's series. Labels are closed vocabularies (method, route
template, status, outcome, stage, tenant, item status): never a concrete path, id or member datum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.logging_setup import get_logger
from identity.observability import audited
from identity.observability.sli import (
    SliCollector,
    SliWindow,
    TenantSli,
    known_tenants,
    read_all,
    utc_now,
)
from identity.review.repository import review_queue_depth
from identity.review.stats import AGE_BUCKETS, OpenAge, open_age_by_tenant
from identity.webhooks.service import KINDS, forget_at_end, settled_in

log = get_logger("identity.metrics")

# (tenant, status, count) rows, read at scrape time.
QueueDepth = Callable[[], list[tuple[str, str, int]]]
# The unsettled queue per tenant by age bucket, with its oldest item's age; read at scrape time.
QueueAge = Callable[[], list[OpenAge]]

# A match takes milliseconds; a slow one on a cold cache or a busy database up to a second or two.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

# Any other method a client invents would otherwise become a new series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REVIEW_STATUSES = ("open", "escalated", "resolved")
# A review waits minutes to weeks for a person.
RESOLUTION_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)
WEBHOOK_RESULTS = ("delivered", "retry", "failed")

# Committed audit events that the named counters count: (action, outcome) -> (counter, labels).
# A $member-match answer carries its match token (its own event names it); a revocation sweep
# counts each token it revoked (the event's objects).
TOKENS_ISSUED, TOKENS_REVOKED, CONSENT_REFUSED, GUARD_REFUSED, BULK_JOBS = (
    "tokens_issued",
    "tokens_revoked",
    "consent_refused",
    "guard_refused",
    "bulk_jobs",
)
AUDITED_COUNTS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("token.issue", "success"): (TOKENS_ISSUED, ()),
    ("member-match.matched", "success"): (TOKENS_ISSUED, ()),
    ("token.revoke", "success"): (TOKENS_REVOKED, ()),
    ("member-match.consent-invalid", "success"): (CONSENT_REFUSED, ()),
    ("member-match.too-many-attempts", "success"): (GUARD_REFUSED, ("member-match-attempts",)),
    ("member-match.too-many-attempts", "rate-limited"): (GUARD_REFUSED, ("member-match-attempts",)),
    ("bulk-match.start", "success"): (BULK_JOBS, ("started",)),
    ("bulk-match.complete", "success"): (BULK_JOBS, ("completed",)),
    ("bulk-match.fail", "success"): (BULK_JOBS, ("failed",)),
    ("bulk-match.expire", "success"): (BULK_JOBS, ("expired",)),
}


class _QueueDepthCollector(Collector):
    """Asks the database at scrape time: a gauge kept in memory would drift across workers."""

    def __init__(self, depth: QueueDepth) -> None:
        self._depth = depth

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        try:
            rows = self._depth()
        except Exception as exc:  # noqa: BLE001 - a down database must not break the scrape
            log.warning("review_queue_depth_unavailable", error=type(exc).__name__)
            return [family]
        counts: dict[tuple[str, str], int] = {}
        for tenant in {tenant for tenant, _, _ in rows}:
            # Zero rows for a status is a zero, not a missing series (alerts on absent() misfire).
            counts.update({(tenant, status): 0 for status in REVIEW_STATUSES})
        for tenant, status, count in rows:
            counts[(tenant, status)] = count
        for (tenant, status), count in sorted(counts.items()):
            family.add_metric([tenant, status], count)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "identity_review_queue_depth",
            "Review items by tenant and status, counted at scrape time",
            labels=["tenant", "status"],
        )


class _QueueAgeCollector(Collector):
    """The unsettled items by age bucket and the oldest one's age, per tenant, at scrape time:
    one grouped query over the open items (an index range, not the settled history)."""

    def __init__(self, age: QueueAge) -> None:
        self._age = age

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        by_age, oldest = families = self._families()
        try:
            rows = self._age()
        except Exception as exc:  # noqa: BLE001 - a down database must not break the scrape
            log.warning("review_queue_age_unavailable", error=type(exc).__name__)
            return families
        for row in sorted(rows, key=lambda r: r.tenant):
            for label, _ in AGE_BUCKETS:
                by_age.add_metric([row.tenant, label], row.counts.get(label, 0))
            oldest.add_metric([row.tenant], row.oldest_age_s)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "identity_review_open_items",
                "Unsettled review items by tenant and age bucket, counted at scrape time",
                labels=["tenant", "age"],
            ),
            GaugeMetricFamily(
                "identity_review_oldest_open_age_seconds",
                "Age of the tenant's oldest unsettled review item (absent: none open)",
                labels=["tenant"],
            ),
        ]


class Metrics:
    def __init__(
        self, queue_depth: QueueDepth | None = None, queue_age: QueueAge | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._decisions = Counter(
            "identity_decisions_total",
            "Match decisions by outcome and the stage that settled them",
            ("outcome", "stage"),
            registry=self.registry,
        )
        self._resolutions = Counter(
            "identity_review_resolutions_total",
            "Review settlements (and changes of one) by kind, counted when committed",
            ("kind",),
            registry=self.registry,
        )
        self._time_to_resolution = Histogram(
            "identity_review_time_to_resolution_seconds",
            "From a review item's opening to its settlement, by settlement",
            buckets=RESOLUTION_BUCKETS,
            registry=self.registry,
        )
        self._webhooks = Counter(
            "identity_webhook_deliveries_total",
            "Webhook delivery attempts by result: delivered, retry (will try again), failed",
            ("result",),
            registry=self.registry,
        )
        self._audit_events = Counter(
            "identity_audit_events_total",
            "Audit events committed, by action and outcome (names from code, never input)",
            ("action", "outcome"),
            registry=self.registry,
        )
        self._named: dict[str, Counter] = {
            TOKENS_ISSUED: Counter(
                "identity_tokens_issued_total",
                "Match tokens issued",
                registry=self.registry,
            ),
            TOKENS_REVOKED: Counter(
                "identity_tokens_revoked_total",
                "Match tokens revoked (by their holder, the tenant, a reissue or a withdrawal)",
                registry=self.registry,
            ),
            CONSENT_REFUSED: Counter(
                "identity_consent_refusals_total",
                "$member-match answers refused because the consent cannot be honoured",
                registry=self.registry,
            ),
            GUARD_REFUSED: Counter(
                "identity_guard_refusals_total",
                "Requests refused by an anti-probing guard, by guard",
                ("guard",),
                registry=self.registry,
            ),
            BULK_JOBS: Counter(
                "identity_bulk_jobs_total",
                "$bulk-member-match jobs by event: started, completed, failed, expired",
                ("event",),
                registry=self.registry,
            ),
        }
        if queue_depth is not None:
            self.registry.register(_QueueDepthCollector(queue_depth))
        if queue_age is not None:
            self.registry.register(_QueueAgeCollector(queue_age))

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """`route` is the route template ('/v1/matches/{match_id}') or 'unmatched'."""
        method = method if method in _METHODS else "other"
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(duration_s)

    def observe_decision(self, outcome: str, stage: str) -> None:
        self._decisions.labels(outcome, stage).inc()

    def observe_settled(self, kind: str, waited_s: float | None) -> None:
        self._resolutions.labels(kind if kind in KINDS else "other").inc()
        if waited_s is not None:
            self._time_to_resolution.observe(max(0.0, waited_s))

    def observe_audited(self, action: str, outcome: str, objects: int = 1) -> None:
        """One committed audit event; the named counters take the ones they count."""
        self._audit_events.labels(action, outcome).inc()
        named = AUDITED_COUNTS.get((action, outcome))
        if named is None:
            return
        counter, labels = named
        amount = max(1, objects) if counter == TOKENS_REVOKED else 1
        target = self._named[counter]
        (target.labels(*labels) if labels else target).inc(amount)

    def observe_webhook(self, result: str) -> None:
        self._webhooks.labels(result if result in WEBHOOK_RESULTS else "other").inc()

    def watch(self, session_factory: sessionmaker[Session]) -> None:
        """Count the settlements of every session of `session_factory` once its transaction
        commits (the review service notes them on the session); a rollback counts nothing."""

        def committed(session: Session) -> None:
            for settled in settled_in(session):
                self.observe_settled(settled.kind, settled.waited_s)
            for seen in audited.noted_in(session):
                self.observe_audited(seen.action, seen.outcome, seen.objects)

        event.listen(session_factory, "after_commit", committed)
        forget_at_end(session_factory)
        audited.forget_at_end(session_factory)

    def watch_sli(self, collector: SliCollector) -> None:
        self.registry.register(collector)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format: (payload, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def build_metrics(
    session_factory: sessionmaker[Session], settings: Settings | None = None
) -> Metrics:
    """Metrics whose queue depth and age are read through a short session of their own at each
    scrape, and which count the settlements and audit events committed through
    `session_factory`; with `settings`, the service-level indicators too (the tenants with
    clients or review items, and the default tenant)."""

    def queue_depth() -> list[tuple[str, str, int]]:
        with session_factory() as session:
            return review_queue_depth(session)

    def queue_age() -> list[OpenAge]:
        with session_factory() as session:
            return open_age_by_tenant(session, now=datetime.now(UTC))

    metrics = Metrics(queue_depth=queue_depth, queue_age=queue_age)
    metrics.watch(session_factory)
    if settings is not None:
        window = SliWindow(settings.sli_window_hours, settings.sli_overturn_days)

        def indicators() -> list[TenantSli]:
            queued = [tenant for tenant, _, _ in queue_depth()]
            tenants = known_tenants(session_factory, [settings.default_tenant, *queued])
            return read_all(session_factory, tenants, window, utc_now())

        metrics.watch_sli(SliCollector(indicators, settings.sli_refresh_s))
    return metrics
