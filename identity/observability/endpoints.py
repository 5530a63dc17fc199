"""GET /metrics: the Prometheus text exposition, for a scraper holding the metrics:read scope."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from identity.api_deps import PROBLEM
from identity.auth.dependencies import MetricsReader
from identity.observability.metrics import Metrics

router = APIRouter(tags=["operations"])


def metrics_response(metrics: Metrics) -> Response:
    payload, content_type = metrics.render()
    # Scrapes are live readings: a cached one would hide a growing queue.
    return Response(payload, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get(
    "/metrics",
    responses={401: PROBLEM, 403: PROBLEM},
    summary="Operational metrics in the Prometheus text format (no member data)",
)
def get_metrics(request: Request, caller: MetricsReader) -> Response:
    return metrics_response(request.app.state.metrics)
