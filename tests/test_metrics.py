"""Prometheus metrics: requests by route template and status, decisions, review queue depth."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.principal import Principal
from identity.config import Settings
from identity.models import MatchDecision, ReviewItem
from identity.observability.endpoints import metrics_response
from identity.observability.endpoints import router as metrics_router
from identity.observability.metrics import LATENCY_BUCKETS, Metrics, build_metrics
from identity.review.repository import review_queue_depth
from tests.conftest import TENANT, LiveServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: Metrics) -> Samples:
    payload, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(payload.decode())
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """The middleware records a request just after its last byte is sent: allow it a moment."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the metrics did not show the requests"
        time.sleep(0.01)


def app_metrics(server: LiveServer) -> Metrics:
    metrics: Metrics = server.server.config.app.state.metrics
    return metrics


# -- the Metrics object on its own ------------------------------------------------------------


def test_requests_are_counted_by_method_route_and_status() -> None:
    metrics = Metrics()
    metrics.observe_request("GET", "/v1/matches/{match_id}", 200, 0.004)
    metrics.observe_request("GET", "/v1/matches/{match_id}", 404, 0.002)
    metrics.observe_request("GET", "/v1/matches/{match_id}", 404, 3.0)
    metrics.observe_request("BREW", "unmatched", 405, 0.001)  # invented methods are one label
    found = samples(metrics)
    route = "/v1/matches/{match_id}"
    total = "http_requests_total"
    assert value(found, total, method="GET", route=route, status="200") == 1
    assert value(found, total, method="GET", route=route, status="404") == 2
    assert value(found, total, method="other", route="unmatched", status="405") == 1
    hist = "http_request_duration_seconds"
    assert value(found, f"{hist}_count", method="GET", route=route) == 3
    assert value(found, f"{hist}_bucket", method="GET", route=route, le="0.005") == 2
    assert value(found, f"{hist}_bucket", method="GET", route=route, le="2.0") == 2
    assert value(found, f"{hist}_bucket", method="GET", route=route, le="+Inf") == 3
    assert LATENCY_BUCKETS[0] == 0.001
    assert LATENCY_BUCKETS[-1] == 2.0


def test_decisions_are_counted_by_outcome_and_stage() -> None:
    metrics = Metrics()
    metrics.observe_decision("match", "deterministic")
    metrics.observe_decision("match", "deterministic")
    metrics.observe_decision("review", "probabilistic")
    found = samples(metrics)
    name = "identity_decisions_total"
    assert value(found, name, outcome="match", stage="deterministic") == 2
    assert value(found, name, outcome="review", stage="probabilistic") == 1


def test_each_metrics_object_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.observe_decision("match", "deterministic")
    assert (
        value(samples(two), "identity_decisions_total", outcome="match", stage="deterministic")
        is None
    )


def test_queue_depth_is_read_at_scrape_time_with_zeros_filled_in() -> None:
    rows = [("payer-a", "open", 3)]
    metrics = Metrics(queue_depth=lambda: list(rows))
    found = samples(metrics)
    depth = "identity_review_queue_depth"
    assert value(found, depth, tenant="payer-a", status="open") == 3
    assert value(found, depth, tenant="payer-a", status="claimed") == 0
    assert value(found, depth, tenant="payer-a", status="resolved") == 0
    rows[:] = [("payer-a", "open", 1), ("payer-b", "claimed", 2)]
    found = samples(metrics)
    assert value(found, depth, tenant="payer-a", status="open") == 1
    assert value(found, depth, tenant="payer-b", status="claimed") == 2


def test_a_failing_queue_depth_does_not_break_the_scrape() -> None:
    def down() -> list[tuple[str, str, int]]:
        raise OSError("connection refused")

    metrics = Metrics(queue_depth=down)
    metrics.observe_decision("match", "deterministic")
    found = samples(metrics)
    assert not [k for k in found if k[0] == "identity_review_queue_depth"]
    assert value(found, "identity_decisions_total", outcome="match", stage="deterministic") == 1


def test_metrics_router_serves_the_exposition_format() -> None:
    # Function level: the route is mounted (behind metrics:read) once the auth dependency exists.
    app = FastAPI()
    app.state.metrics = Metrics()
    app.state.metrics.observe_decision("no_match", "blocking")
    app.include_router(metrics_router)

    async def scrape() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/metrics")

    got = asyncio.run(scrape())
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["cache-control"] == "no-store"
    assert 'identity_decisions_total{outcome="no_match",stage="blocking"} 1.0' in got.text
    direct = metrics_response(app.state.metrics)
    assert direct.body == app.state.metrics.render()[0]


# -- over real HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_live_requests_are_counted_by_route_template(
    live_server: LiveServer, client: httpx.Client
) -> None:
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/v1/matches/abc-123").status_code == 404
    assert client.get("/v1/matches/def-456").status_code == 404
    assert client.get("/no/such/path/ghi-789").status_code == 404
    assert client.post("/healthz").status_code == 405

    metrics = app_metrics(live_server)
    total = "http_requests_total"
    route = "/v1/matches/{match_id}"

    def shown() -> bool:
        found = samples(metrics)
        return value(found, total, method="POST", route="/healthz", status="405") == 1 and (
            value(found, total, method="GET", route="unmatched", status="404") == 1
        )

    eventually(shown)
    found = samples(metrics)
    assert value(found, total, method="GET", route="/healthz", status="200") == 3
    assert value(found, total, method="GET", route=route, status="404") == 2
    hist = "http_request_duration_seconds_count"
    assert value(found, hist, method="GET", route="/healthz") == 3
    assert value(found, hist, method="GET", route=route) == 2
    # Only templates in the labels: no concrete id or path.
    text = metrics.render()[0].decode()
    for concrete in ("abc-123", "def-456", "ghi-789", "/no/such"):
        assert concrete not in text


def _add_items(sessions: sessionmaker[Session], policy_version: str) -> None:
    """Review items in three states over two tenants (each needs its decision row)."""
    wanted = [(TENANT, "open"), (TENANT, "open"), (TENANT, "claimed"), ("other-payer", "resolved")]
    with sessions() as session:
        for tenant, status in wanted:
            decision = MatchDecision(
                id=str(uuid.uuid4()),
                tenant_id=tenant,
                input_fingerprint="0" * 64,
                policy_version=policy_version,
                outcome="review",
                stage="probabilistic",
                reason="review-band",
                candidates=[],
                evidence={},
                timings_ms={},
            )
            session.add(decision)
            session.flush()
            session.add(
                ReviewItem(
                    id=str(uuid.uuid4()),
                    tenant_id=tenant,
                    match_id=decision.id,
                    policy_version=policy_version,
                    reason="review-band",
                    status=status,
                    candidates=[],
                )
            )
        session.commit()


def test_review_queue_depth_by_tenant_and_status(
    sessions: sessionmaker[Session], active_policy: str
) -> None:
    with sessions() as session:
        assert review_queue_depth(session) == []
    _add_items(sessions, active_policy)
    with sessions() as session:
        assert review_queue_depth(session) == [
            ("other-payer", "resolved", 1),
            (TENANT, "claimed", 1),
            (TENANT, "open", 2),
        ]


def test_live_queue_depth_reflects_review_items(
    live_server: LiveServer, sessions: sessionmaker[Session], active_policy: str
) -> None:
    metrics = app_metrics(live_server)
    assert not [k for k in samples(metrics) if k[0] == "identity_review_queue_depth"]
    _add_items(sessions, active_policy)
    found = samples(metrics)
    depth = "identity_review_queue_depth"
    assert value(found, depth, tenant=TENANT, status="open") == 2
    assert value(found, depth, tenant=TENANT, status="claimed") == 1
    assert value(found, depth, tenant=TENANT, status="resolved") == 0
    assert value(found, depth, tenant="other-payer", status="resolved") == 1
    assert value(found, depth, tenant="other-payer", status="open") == 0


def test_build_metrics_reads_through_its_own_session(
    sessions: sessionmaker[Session], active_policy: str
) -> None:
    _add_items(sessions, active_policy)
    found = samples(build_metrics(sessions))
    assert value(found, "identity_review_queue_depth", tenant=TENANT, status="open") == 2


# -- the access log ---------------------------------------------------------------------------


@pytest.fixture
def server_with_principal(settings: Settings) -> Iterator[LiveServer]:
    """The real app plus one route that sets a principal as the auth dependency will."""
    server = LiveServer(settings)
    app: FastAPI = server.server.config.app

    def as_client(request: Request) -> dict[str, str]:
        request.state.principal = Principal(
            client_id="payer-app-7",
            tenant=TENANT,
            scopes=frozenset({"match"}),
            token_id="tok-1",
            issuer="https://issuer.example",
        )
        return {"ok": "yes"}

    app.add_api_route("/test/as-client", as_client)
    with server:
        yield server


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_access_log_carries_the_client_id(
    server_with_principal: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with server_with_principal.client() as client:
        known = client.get("/test/as-client", headers={"X-Request-ID": "with-client"})
        anonymous = client.get("/healthz", headers={"X-Request-ID": "without-client"})
    assert (known.status_code, anonymous.status_code) == (200, 200)

    def logged() -> dict[str, dict[str, object]]:
        lines = [
            json.loads(line)
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("{") and '"request"' in line
        ]
        return {e["request_id"]: e for e in lines if e.get("event") == "request"}

    by_id: dict[str, dict[str, object]] = {}

    def both() -> bool:
        by_id.update(logged())
        return {"with-client", "without-client"} <= by_id.keys()

    eventually(both)
    assert by_id["with-client"]["client_id"] == "payer-app-7"
    assert by_id["with-client"]["route"] == "/test/as-client"
    assert by_id["without-client"]["client_id"] is None
