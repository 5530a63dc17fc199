"""Prometheus metrics: HTTP requests and latency by route template, decisions, review queue depth.

Each Metrics owns its registry (no process-global one): tests build many apps in one process, and
two apps must not count into each other's series. Labels are closed vocabularies (method, route
template, status, outcome, stage, tenant, item status): never a concrete path, id or member datum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from identity.logging_setup import get_logger
from identity.review.repository import review_queue_depth

log = get_logger("identity.metrics")

# (tenant, status, count) rows, read at scrape time.
QueueDepth = Callable[[], list[tuple[str, str, int]]]

# A match takes milliseconds; a slow one on a cold cache or a busy database up to a second or two.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

# Any other method a client invents would otherwise become a new series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REVIEW_STATUSES = ("open", "claimed", "resolved")


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


class Metrics:
    def __init__(self, queue_depth: QueueDepth | None = None) -> None:
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
        if queue_depth is not None:
            self.registry.register(_QueueDepthCollector(queue_depth))

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """`route` is the route template ('/v1/matches/{match_id}') or 'unmatched'."""
        method = method if method in _METHODS else "other"
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(duration_s)

    def observe_decision(self, outcome: str, stage: str) -> None:
        self._decisions.labels(outcome, stage).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition format: (payload, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def build_metrics(session_factory: sessionmaker[Session]) -> Metrics:
    """Metrics whose queue depth is read through a short session of its own at each scrape."""

    def queue_depth() -> list[tuple[str, str, int]]:
        with session_factory() as session:
            return review_queue_depth(session)

    return Metrics(queue_depth=queue_depth)
