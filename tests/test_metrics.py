"""Prometheus metrics: requests by route template and status, decisions, review queue depth."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import MatchDecision, ReviewItem
from identity.observability.endpoints import metrics_response
from identity.observability.metrics import LATENCY_BUCKETS, Metrics, build_metrics
from identity.review.repository import review_queue_depth
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_patient

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
    assert value(found, depth, tenant="payer-a", status="escalated") == 0
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


def test_metrics_response_is_the_exposition_format_uncached() -> None:
    metrics = Metrics()
    metrics.observe_decision("no_match", "blocking")
    response = metrics_response(metrics)
    assert response.media_type == metrics.render()[1]
    assert response.headers["cache-control"] == "no-store"
    assert b'identity_decisions_total{outcome="no_match",stage="blocking"} 1.0' in response.body


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
                stored_evidence={},
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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_endpoint_needs_the_metrics_scope(
    live_server: LiveServer, settings: Settings
) -> None:
    scraper = mint_dev_token(
        settings, tenant=TENANT, client_id="prometheus", scopes=["metrics:read"]
    )
    matcher = mint_dev_token(settings, tenant=TENANT, client_id="payer-app", scopes=["match"])
    with live_server.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with live_server.client(matcher) as client:
        assert client.get("/metrics").status_code == 403
    with live_server.client(scraper) as client:
        got = client.get("/metrics")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["cache-control"] == "no-store"
    assert "# TYPE http_requests_total counter" in got.text
    assert "# TYPE identity_review_queue_depth gauge" in got.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_decisions_are_counted_when_made(live_server: LiveServer, client: httpx.Client) -> None:
    for given in ("Zqxcanary", "Vwbcanary"):
        assert client.post("/v1/match", json={"patient": fhir_patient(given)}).status_code == 200
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    name = "identity_decisions_total"
    assert value(found, name, outcome="no_match", stage="blocking") == 2
    assert "CANARY" not in scraped.text.upper()  # no member datum in any label


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_access_log_carries_the_client_id(
    live_server: LiveServer, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="payer-app-7")
    with live_server.client(token) as client:
        known = client.get("/v1/matches/abc-123", headers={"X-Request-ID": "with-client"})
    with live_server.client() as client:
        anonymous = client.get("/healthz", headers={"X-Request-ID": "without-client"})
    assert (known.status_code, anonymous.status_code) == (404, 200)

    by_id: dict[str, dict[str, object]] = {}

    def both() -> bool:
        for line in capsys.readouterr().err.splitlines():
            if line.startswith("{") and '"request"' in line:
                entry = json.loads(line)
                if entry.get("event") == "request":
                    by_id[entry["request_id"]] = entry
        return {"with-client", "without-client"} <= by_id.keys()

    eventually(both)
    assert by_id["with-client"]["client_id"] == "payer-app-7"
    assert by_id["with-client"]["route"] == "/v1/matches/{match_id}"
    assert by_id["without-client"]["client_id"] is None
