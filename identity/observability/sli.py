"""The service-level indicators a payer's review board watches, per tenant, read from the
database (they are state shared by every replica, not one process's counters): match rate,
manual review rate, the stewards' overturn rate of automatic matches (the observable proxy for
false matches), median time to resolution, and the share of decisions named by an audit event.

Read at scrape time through short per-tenant transactions (row-level security admits one tenant
at a time), at most once per `refresh_s` per process; a failed read keeps nothing stale: the
gauges are simply absent until the next good one."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from identity.db import bind_tenant
from identity.logging_setup import get_logger
from identity.observability import sli_repository as repo

log = get_logger("identity.metrics")

# The audit-trace share looks at the last hour only (or the window, if shorter): a decision and its
# audit event commit together, so a gap shows at once, and reading every event of a busy day back
# (their id lists) is the one costly read here (about 1.2 s per 67,000 events on SQLite).
AUDIT_TRACE_WINDOW = timedelta(hours=1)

# Bulk job states the gauge always reports (zero included, so an alert's absent() never fires).
BULK_STATUSES = ("queued", "running", "completed", "failed")


@dataclass(frozen=True)
class TenantSli:
    tenant: str
    decisions: int
    match_rate: float | None  # None: no decision in the window
    review_rate: float | None
    automatic_matches: int
    overturned: int
    resolved: int
    median_resolution_s: float | None
    audited_share: float | None  # over the last hour (AUDIT_TRACE_WINDOW)
    bulk_jobs: dict[str, int]


@dataclass(frozen=True)
class SliWindow:
    hours: float
    overturn_days: int


def read_tenant(session: Session, tenant: str, window: SliWindow, now: datetime) -> TenantSli:
    since = now - timedelta(hours=window.hours)
    outcomes = repo.decisions_by_outcome(session, tenant, since)
    total = sum(outcomes.values())
    auto, overturned = repo.automatic_matches_overturned(
        session, tenant, now - timedelta(days=window.overturn_days)
    )
    waits = [
        max(0.0, (_utc(settled) - _utc(opened)).total_seconds())
        for opened, settled in repo.resolution_waits(session, tenant, since)
    ]
    traced_since = max(since, now - AUDIT_TRACE_WINDOW)
    ids = repo.decision_ids(session, tenant, traced_since)
    audited = len(ids & repo.audited_ids(session, tenant, traced_since)) if ids else 0
    return TenantSli(
        tenant=tenant,
        decisions=total,
        match_rate=outcomes.get("match", 0) / total if total else None,
        review_rate=outcomes.get("review", 0) / total if total else None,
        automatic_matches=auto,
        overturned=overturned,
        resolved=len(waits),
        median_resolution_s=statistics.median(waits) if waits else None,
        audited_share=audited / len(ids) if ids else None,
        bulk_jobs=repo.bulk_jobs_by_status(session, tenant),
    )


def read_all(
    factory: sessionmaker[Session], tenants: Iterable[str], window: SliWindow, now: datetime
) -> list[TenantSli]:
    """Each tenant in a read-only transaction of its own, bound to it."""
    found = []
    for tenant in sorted(set(tenants)):
        with factory() as session:
            bind_tenant(session, tenant)
            found.append(read_tenant(session, tenant, window, now))
            session.rollback()
    return found


def known_tenants(factory: sessionmaker[Session], also: Iterable[str]) -> list[str]:
    with factory() as session:
        return sorted({*repo.client_tenants(session), *also})


class SliCollector(Collector):
    """Gauges from `read` (all tenants' indicators), cached for `refresh_s` seconds."""

    def __init__(self, read: Callable[[], list[TenantSli]], refresh_s: float) -> None:
        self._read = read
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[TenantSli]] | None = None

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())

    def _readings(self) -> list[TenantSli]:
        with self._lock:  # one reader at a time; the others wait and share its reading
            at = time.monotonic()
            if self._cached is not None and at - self._cached[0] < self._refresh_s:
                return self._cached[1]
            try:
                rows = self._read()
            except Exception as exc:  # noqa: BLE001 - a down database must not break the scrape
                log.warning("sli_unavailable", error=type(exc).__name__)
                self._cached = None
                return []
            self._cached = (at, rows)
            return rows

    def collect(self) -> Iterable[Metric]:
        f = _families()
        for row in self._readings():
            t = [row.tenant]
            f["decisions"].add_metric(t, row.decisions)
            f["auto"].add_metric(t, row.automatic_matches)
            f["overturned"].add_metric(t, row.overturned)
            f["resolved"].add_metric(t, row.resolved)
            overturn = row.overturned / row.automatic_matches if row.automatic_matches else None
            # A rate over nothing is not zero: left out, so an alert does not see a false calm.
            for key, rate in (
                ("match", row.match_rate),
                ("review", row.review_rate),
                ("overturn", overturn),
                ("median", row.median_resolution_s),
                ("audited", row.audited_share),
            ):
                if rate is not None:
                    f[key].add_metric(t, rate)
            for status in sorted({*BULK_STATUSES, *row.bulk_jobs}):
                f["bulk"].add_metric([row.tenant, status], row.bulk_jobs.get(status, 0))
        return list(f.values())


def _families() -> dict[str, GaugeMetricFamily]:
    def gauge(name: str, doc: str, *extra: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=["tenant", *extra])

    return {
        "decisions": gauge("identity_sli_decisions", "Match decisions in the SLI window"),
        "match": gauge(
            "identity_sli_match_rate", "Share of the window's decisions that matched a member"
        ),
        "review": gauge(
            "identity_sli_manual_review_rate",
            "Share of the window's decisions sent to a steward for review",
        ),
        "auto": gauge(
            "identity_sli_automatic_matches",
            "Automatic matches (no person involved) in the overturn window",
        ),
        "overturned": gauge(
            "identity_sli_overturned_matches",
            "Of those, matches a steward later kept apart or linked to another member",
        ),
        "overturn": gauge(
            "identity_sli_overturn_rate",
            "Stewards' overturn rate of automatic matches (the observable proxy for false matches)",
        ),
        "resolved": gauge(
            "identity_sli_reviews_resolved", "Review items first settled in the window"
        ),
        "median": gauge(
            "identity_sli_median_time_to_resolution_seconds",
            "Median time from a review item's opening to its first settlement, in the window",
        ),
        "audited": gauge(
            "identity_sli_audited_decision_share",
            "Share of the last hour's decisions named by an audit event (a complete trace)",
        ),
        "bulk": gauge(
            "identity_bulk_jobs_by_status", "$bulk-member-match jobs by status", "status"
        ),
    }


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)
