"""Prometheus metrics: HTTP requests and latency by route template, decisions, the review queue
(depth by status and by age, its oldest item), settlements by kind and time to settle, webhook
deliveries by result.

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

from identity.logging_setup import get_logger
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

    def observe_webhook(self, result: str) -> None:
        self._webhooks.labels(result if result in WEBHOOK_RESULTS else "other").inc()

    def watch(self, session_factory: sessionmaker[Session]) -> None:
        """Count the settlements of every session of `session_factory` once its transaction
        commits (the review service notes them on the session); a rollback counts nothing."""

        def committed(session: Session) -> None:
            for settled in settled_in(session):
                self.observe_settled(settled.kind, settled.waited_s)

        event.listen(session_factory, "after_commit", committed)
        forget_at_end(session_factory)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format: (payload, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def build_metrics(session_factory: sessionmaker[Session]) -> Metrics:
    """Metrics whose queue depth and age are read through a short session of their own at each
    scrape, and which count the settlements committed through `session_factory`."""

    def queue_depth() -> list[tuple[str, str, int]]:
        with session_factory() as session:
            return review_queue_depth(session)

    def queue_age() -> list[OpenAge]:
        with session_factory() as session:
            return open_age_by_tenant(session, now=datetime.now(UTC))

    metrics = Metrics(queue_depth=queue_depth, queue_age=queue_age)
    metrics.watch(session_factory)
    return metrics
