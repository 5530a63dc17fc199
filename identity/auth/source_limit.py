"""Limits per source address, applied before authentication, as plain ASGI middleware.

Two token buckets per source (identity.ratelimit's limiter, with limits of their own):
- `source`: every request takes a token; a source sending faster than the rate is refused;
- `source-failures`: every 401 the source earns takes a token; while the bucket is empty, every
  request of that source is refused at once, even one with a good token, until it refills.
A refusal here is 429 with Retry-After and the RateLimit fields, decided from memory alone: no
token is parsed, no route runs, nothing is read from or written to the database. It is counted for
the aggregate audit (identity/audit/denials.py), as are the 401s of callers that never
authenticated, whose counter this middleware hands down on `request.state`.

The source is the peer address of the connection as the server reports it. Behind a reverse
proxy every request comes from the proxy, so all callers would share one budget: uvicorn replaces
the peer with the X-Forwarded-For address only when the peer is one of its FORWARDED_ALLOW_IPS
(default 127.0.0.1 and ::1; `uvicorn --forwarded-allow-ips`), and this module never reads the
header itself, so a caller cannot choose its own source. An IPv6 source is its /64 network: one host
usually holds a whole /64 and would otherwise have 2^64 fresh budgets.

These buckets stay in each process, unlike the client and tenant ones (identity/ratelimit_store.py):
they stop a flood before it costs anything, and a database round trip per unauthenticated request
would pass the flood on to the database every instance shares. With n instances a source may send
up to n times the rate: generous flood guards, not quotas, so that is safe.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity.audit.denials import DenialAudit, DenialTally, write_window
from identity.config import Settings
from identity.errors import RateLimited, operation_outcome, problem_details
from identity.ratelimit import LimitDecision, RateLimiter

SOURCE = "source"
FAILURES = "source-failures"


def source_of(scope: Scope) -> str:
    """The peer address (an IPv6 one as its /64 network); "unknown" without one."""
    client = scope.get("client")
    host = client[0] if client else None
    if not host:
        return "unknown"
    return _source(str(host))


@functools.lru_cache(maxsize=4096)
def _source(host: str) -> str:
    """Parsed once per address: a caller sends many requests from one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return str(host)[:64]  # a unix socket's name, say
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


def _refusal(scope: Scope, decision: LimitDecision) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    err = RateLimited(decision.retry_after_s, headers=decision.headers())
    if str(scope.get("path", "")).startswith("/fhir"):
        body, media = operation_outcome(err), "application/fhir+json"
    else:
        body, media = problem_details(err), "application/problem+json"
    headers = [(b"content-type", media.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    return err.status, headers, orjson.dumps(body)


class SourceLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.requests = RateLimiter.of(
            [(SOURCE, settings.source_rate_per_s, settings.source_burst)]
        )
        self.failures = RateLimiter.of(
            [(FAILURES, settings.source_failures_per_s, settings.source_failure_burst)]
        )
        self.window_s = settings.denial_audit_window_s
        self.denials: DenialAudit | None = None

    def _denials(self, app: Any) -> DenialAudit:
        """Made on first use: its writer reads the engine and the data key the app's lifespan
        set up, when it writes."""
        if self.denials is None:

            def write(window: Any) -> None:
                state = app.state
                write_window(state.session_factory, state.sealer.fingerprint, window)

            self.denials = DenialAudit(DenialTally(self.window_s), write)
        return self.denials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._at_shutdown(scope, receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        source = source_of(scope)
        denials = self._denials(scope.get("app"))
        state = scope.setdefault("state", {})
        state["source"], state["denials"] = source, denials
        decision = self.failures.take({FAILURES: source}, consume=False)
        if decision.allowed:
            decision = self.requests.take({SOURCE: source})
        if not decision.allowed:
            denials.add(source, 429)
            status, headers, body = _refusal(scope, decision)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failures.take({FAILURES: source})
            await send(message)

        await self.app(scope, receive, send_watching)

    def _at_shutdown(self, scope: Scope, receive: Receive) -> Receive:
        """The app's own receive, writing the counted refusals before the app shuts down (and
        disposes of its engine)."""

        async def receive_then_flush() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.denials is not None:
                await run_in_threadpool(self.denials.close)
            return message

        return receive_then_flush
