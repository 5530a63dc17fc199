"""GET /metrics: the Prometheus text exposition, for a scraper holding the metrics:read scope or
one of the deployment's static scrape tokens (identity/observability/scrape_token.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from identity.api_deps import PROBLEM
from identity.auth.dependencies import bearer_token, require
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.observability.metrics import Metrics
from identity.observability.scrape_token import accepted, digests

router = APIRouter(tags=["operations"])

_metrics_reader = require(Scope.METRICS_READ)


async def scraper(request: Request) -> Principal | None:
    """A static scrape token (None: no principal, it reads metrics only) or an access token
    granting metrics:read. A token that is neither goes on to the access-token check, so a wrong
    one is a 401 counted against its source like any other failed authentication."""
    allowed = digests(request.app.state.settings.metrics_token_sha256)
    if allowed and accepted(bearer_token(request), allowed):
        return None
    return await _metrics_reader(request)


scraper.required_scope = Scope.METRICS_READ  # type: ignore[attr-defined]  # the route-table test


def metrics_response(metrics: Metrics) -> Response:
    payload, content_type = metrics.render()
    # Scrapes are live readings: a cached one would hide a growing queue.
    return Response(payload, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get(
    "/metrics",
    responses={401: PROBLEM, 403: PROBLEM},
    summary="Operational metrics in the Prometheus text format (no member data)",
)
def get_metrics(
    request: Request, caller: Annotated[Principal | None, Depends(scraper)]
) -> Response:
    return metrics_response(request.app.state.metrics)
