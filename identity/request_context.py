"""Request id, one JSON access-log line per request and the response headers every request
needs (its id, a dependency's rate-limit fields, the workbench's security headers), as plain ASGI
middleware: the one place a response's headers are rewritten, once.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: the latter wraps every response body in a
stream and costs a noticeable share of a short request. The log line and the metrics name the route
template ('/v1/matches/{match_id}'), never the concrete path, so no identifier reaches either.
The caller's client id comes from the principal the auth dependency leaves on request.state.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity.review_ui.headers import is_review_path, with_review_headers

log = structlog.get_logger("identity.http")


def _client_id(scope: Scope) -> str | None:
    """The authenticated client, if the auth dependency ran (request.state lives in scope)."""
    state = scope.get("state") or {}
    client_id = getattr(state.get("principal"), "client_id", None)
    return client_id if isinstance(client_id, str) else None


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a short token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if 0 < len(given) <= 64 and given.replace("-", "").isalnum():
                return given
    return str(uuid.uuid4())


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        # On request.state too, so the audit trail records the id the caller sees.
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        review = is_review_path(scope["path"])
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers: list[Any] = list(message.get("headers", ()))
                headers.append(id_header)
                # Headers a dependency asked for (the rate-limit fields), whatever the endpoint
                # returned: FastAPI drops a dependency's response headers when the endpoint
                # returns a Response of its own.
                extra = state.get("response_headers")
                if extra:
                    headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
                if review:  # no-store, CSP and friends on every workbench response
                    headers = with_review_headers(headers)
                message = {**message, "headers": headers}
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            structlog.contextvars.clear_contextvars()
            method = str(scope.get("method"))
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            metrics = getattr(getattr(scope.get("app"), "state", None), "metrics", None)
            if metrics is not None:
                metrics.observe_request(method, route, status, duration)
            log.info(
                "request",
                request_id=request_id,
                client_id=_client_id(scope),
                method=method,
                route=route,
                status=status,
                duration_ms=round(duration * 1000, 2),
            )
