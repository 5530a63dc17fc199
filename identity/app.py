"""create_app(): the one place routers are mounted and error handlers installed.

Engines and caches are built in the lifespan, not at import, so tests and benchmarks can point the
app at any database. The app refuses to start on a schema it does not know.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from identity import __version__, sqlite_checkpoint
from identity.audit.endpoints import router as audit_router
from identity.audit.http import DENIAL_OUTCOMES, audit_denial, counted_only
from identity.auth.endpoints import OAuthError
from identity.auth.endpoints import router as auth_router
from identity.auth.keys import load_or_create_signing_key
from identity.auth.source_limit import SourceLimit
from identity.auth.trust import build_validator
from identity.bulkmatch.endpoints import router as bulk_match_router
from identity.bulkmatch.worker import BulkMatchWorker
from identity.config import Settings, load_settings
from identity.consent.endpoints import router as consent_router
from identity.db import check_schema, make_engine, make_session_factory
from identity.errors import (
    FieldError,
    IdentityError,
    InvalidInput,
    ServiceUnavailable,
    error_response,
)
from identity.exchange.endpoints import router as exchange_router
from identity.fhir.metadata_endpoints import router as fhir_metadata_router
from identity.gate.endpoints import router as gate_router
from identity.health.endpoints import router as health_router
from identity.http_body import BodyGuard
from identity.idempotency.sealing import load_or_create_sealer
from identity.logging_setup import configure_logging, get_logger
from identity.member import store as member_store
from identity.member.admin_endpoints import router as member_admin_router
from identity.observability.endpoints import router as metrics_router
from identity.observability.metrics import build_metrics
from identity.policy.cache import MatcherCache
from identity.policy.published_endpoints import router as policy_router
from identity.ratelimit_store import choose_rate_limiter
from identity.request_context import RequestContext
from identity.resolution.endpoints import router as resolution_router
from identity.resolution.fhir_endpoints import router as fhir_match_router
from identity.review.endpoints import remembered_router
from identity.review.endpoints import router as review_router
from identity.review_ui.pages import router as review_ui_router
from identity.review_ui.policy_page import router as review_policy_router
from identity.review_ui.sign_in_pages import router as review_sign_in_router
from identity.tokens.endpoints import router as tokens_router
from identity.webhooks.worker import start_webhook_worker

log = get_logger("identity.http")


def _render(request: Request, err: IdentityError) -> Response:
    request_id = str(getattr(request.state, "request_id", ""))
    return error_response(err, path=request.url.path, request_id=request_id)


class _HttpError(IdentityError):
    """A framework-level HTTP error (unknown route, wrong method) in our shape."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
        self.title = detail


async def _audit_refusal(request: Request, status: int) -> None:
    """A refusal of a caller that never authenticated is counted in memory, on the event loop;
    an authenticated caller's is an audit event, written in a worker thread."""
    if counted_only(request):
        audit_denial(request, status)
    else:
        await run_in_threadpool(audit_denial, request, status)


def _install_error_handlers(app: FastAPI) -> None:
    async def identity_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IdentityError)
        if exc.status in DENIAL_OUTCOMES:
            await _audit_refusal(request, exc.status)
        return _render(request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        # FastAPI's default body echoes the submitted input; ours names the field only.
        assert isinstance(exc, RequestValidationError)
        errors = [
            FieldError("/" + "/".join(str(p) for p in e.get("loc", ())), str(e.get("type")))
            for e in exc.errors()
        ]
        return _render(request, InvalidInput("the request is not valid", errors=errors))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _render(request, _HttpError(exc.status_code, str(exc.detail)))

    async def database_down(request: Request, exc: Exception) -> Response:
        log.warning("database_unavailable", error=type(exc).__name__)
        retry = request.app.state.settings.retry_after_s
        return _render(
            request, ServiceUnavailable("the database is unavailable", retry_after_s=retry)
        )

    async def unstorable(request: Request, exc: Exception) -> Response:
        # A value the database refuses (one that got past the checks at the boundary): the
        # caller's input, not an outage; neither the value nor the driver's message is logged.
        log.warning("value_refused_by_database", error=type(exc).__name__)
        return _render(request, InvalidInput("a value in the request cannot be stored"))

    async def unexpected(request: Request, exc: Exception) -> Response:
        # The type, the route's template, the errno of an OSError and where it was raised (code,
        # never data): an exception's text can carry submitted values, a raw path a member id.
        route = request.scope.get("route")
        log.error(
            "unhandled_error",
            error=type(exc).__name__,
            errno=getattr(exc, "errno", None),
            route=getattr(route, "path", None),
            raised_at=_raised_at(exc),
        )
        err = IdentityError("an unexpected error occurred; it has been logged")
        err.status, err.code, err.title = 500, "internal", "Internal error"
        return _render(request, err)

    async def oauth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthError)
        if exc.status == 401:  # a client that failed to authenticate is a refusal like any other
            await _audit_refusal(request, 401)
        return exc.response()

    app.add_exception_handler(IdentityError, identity_error)
    app.add_exception_handler(OAuthError, oauth_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_down)
    app.add_exception_handler(PoolTimeout, database_down)
    app.add_exception_handler(DBAPIError, database_down)
    app.add_exception_handler(DataError, unstorable)
    app.add_exception_handler(Exception, unexpected)


def _raised_at(exc: BaseException) -> str | None:
    """`module:function:line` of the frame that raised: where to look, without any value."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    module = tb.tb_frame.f_globals.get("__name__", "?")
    return f"{module}:{code.co_name}:{tb.tb_lineno}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        engine = make_engine(settings, checkpoints_elsewhere=True)
        check_schema(engine)
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        app.state.matchers = MatcherCache()
        app.state.signing_key = load_or_create_signing_key(settings.signing_key_file)
        app.state.token_validator = build_validator(settings, app.state.signing_key)
        app.state.metrics = build_metrics(app.state.session_factory, settings)
        app.state.rate_limiter = choose_rate_limiter(settings)
        app.state.sealer = load_or_create_sealer(settings.data_key_file)
        app.state.match_limiter = CapacityLimiter(settings.match_threads)  # in_match_thread
        app.state.checkpointer = sqlite_checkpoint.start_for(engine)
        app.state.member_stores = member_store.start_for(
            engine, app.state.session_factory, settings
        )
        app.state.bulk_worker = None
        if settings.bulk_match_worker:
            worker = BulkMatchWorker(app.state.session_factory, app.state.matchers, settings)
            worker.start()
            app.state.bulk_worker = worker
        app.state.webhook_worker = start_webhook_worker(app.state, settings)
        log.info("started", version=__version__, database=engine.dialect.name)
        yield
        if app.state.bulk_worker is not None:
            # Its batch in hand is committed and its job handed back before the engine goes.
            await run_in_threadpool(app.state.bulk_worker.stop)
        if app.state.webhook_worker is not None:
            await run_in_threadpool(app.state.webhook_worker.stop)
        await run_in_threadpool(member_store.stop_for, engine, app.state.member_stores)
        app.state.rate_limiter.close()
        if app.state.checkpointer is not None:
            await run_in_threadpool(app.state.checkpointer.stop)
        engine.dispose()

    app = FastAPI(
        title="identity",
        version=__version__,
        summary="Member identity resolution for US health payers",
        lifespan=lifespan,
        # The API description is public only on a development install: it is not secret, but
        # production exposes nothing unauthenticated beyond health, discovery and keys.
        openapi_url="/openapi.json" if settings.dev_auth else None,
        docs_url="/docs" if settings.dev_auth else None,
        redoc_url=None,
    )
    _install_error_handlers(app)
    # Inside RequestContext: the guard's refusals get a request id and an access-log line.
    app.add_middleware(BodyGuard)
    app.add_middleware(SourceLimit, settings=settings)  # before authentication, inside the log
    app.add_middleware(RequestContext)  # also the workbench's security headers
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(resolution_router)
    app.include_router(exchange_router)
    app.include_router(consent_router)
    app.include_router(bulk_match_router)
    app.include_router(fhir_match_router)
    app.include_router(fhir_metadata_router)
    app.include_router(policy_router)
    app.include_router(member_admin_router)
    app.include_router(review_router)
    app.include_router(remembered_router)
    app.include_router(metrics_router)
    app.include_router(audit_router)
    app.include_router(tokens_router)
    app.include_router(gate_router)
    app.include_router(review_sign_in_router)
    app.include_router(review_ui_router)
    app.include_router(review_policy_router)
    return app


# The collector's youngest generation runs every 700 net allocations by default: several times per
# request here (FHIR models, evidence dicts), each pass walking every young object. A server
# process raises that, and freezes what it has imported so collections never walk it again.
GC_THRESHOLDS = (20_000, 20, 20)


def app_factory() -> Any:
    """For `uvicorn --factory identity.app:app_factory` (`identity serve`): the served process's
    app, with the collector tuned for a long-lived server."""
    app = create_app()
    settle_collector()
    return app


def settle_collector() -> None:
    """Freeze what the process holds so far and raise the collector's thresholds (a served
    process; a benchmark that runs the app in-process does the same to measure it as served)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
