"""Liveness and readiness, for orchestrators and load balancers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from identity.db import bind_tenant, current_revision, head_revision
from identity.policy.service import active_policy_version

router = APIRouter(tags=["health"])


_UP = b'{"status":"ok"}'


@router.get("/healthz", summary="The process is up", response_model=dict[str, str])
async def healthz() -> Response:
    # On the event loop, its body made once: a probe's answer costs no thread and no encoding.
    # (A comment, not a docstring: that would become the route's description in openapi.json.)
    return Response(_UP, media_type="application/json")


@router.get("/readyz", summary="Database reachable, schema at head, a policy active")
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, Any] = {"database": False, "schema": False, "policy": False}
    try:
        with state.session_factory() as session:
            bind_tenant(session, state.settings.default_tenant)
            session.execute(text("SELECT 1"))
            checks["database"] = True
            checks["schema"] = current_revision(state.engine) == head_revision()
            checks["policy"] = (
                active_policy_version(session, state.settings.default_tenant) is not None
            )
    except Exception:  # noqa: BLE001 - any failure here means "not ready", which is the answer
        pass
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not-ready", "checks": checks},
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": str(state.settings.retry_after_s)},
    )
