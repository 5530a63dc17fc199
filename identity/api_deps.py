"""Request dependencies shared by every router: the session (the transaction's edge) and the JSON
body. The caller and its tenant come from identity.auth.dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from identity import group_commit
from identity.auth.dependencies import authenticate
from identity.db import STAGED_ROWS, bind_tenant, finish
from identity.errors import FieldError, InvalidInput, Unauthorized
from identity.http_body import PARSED, WITHHELD
from identity.idempotency.service import IdempotentRequest, fingerprint, parse_key

T = TypeVar("T")


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed if the endpoint returns, rolled back otherwise.

    Async, so opening it costs no hop to a worker thread (a session connects lazily, in the
    endpoint's thread); the commit or rollback, which talk to the database, run in one, shielded
    from cancellation so a transaction is never left open."""
    app_state = request.app.state
    session = app_state.session_factory()
    state = request.state
    bind_tenant(session, lambda: getattr(getattr(state, "principal", None), "tenant", None))
    grouped = app_state.settings.group_commit
    if grouped:
        committer = group_commit.committer_for(app_state.session_factory)
        group_commit.allow(session)
    try:
        yield session
    except BaseException:
        if grouped:
            group_commit.discard(session)
        if _untouched(session):  # a refused request (401, 403, 429): nothing to end
            session.close()
            raise
        with CancelScope(shield=True):
            await run_in_threadpool(finish, session, commit=False)
        raise
    if grouped:
        unit = group_commit.released(session)
        if unit is not None:  # `in_match_thread` ended its transaction in the match's thread
            if not _untouched(session):  # used again since: a bug; that use is rolled back
                with CancelScope(shield=True):
                    await run_in_threadpool(finish, session, commit=False)
                raise RuntimeError("the request's session was used after its unit was released")
            with CancelScope(shield=True):
                await _committed(request, committer, unit)
            return
    if _untouched(session):
        session.close()
        return
    with CancelScope(shield=True):
        if not grouped:
            await run_in_threadpool(finish, session, commit=True)
            return
        unit = await run_in_threadpool(group_commit.hand_over, session)
        if unit is not None:
            await _committed(request, committer, unit)


async def _committed(
    request: Request, committer: group_commit.GroupCommitter, unit: group_commit.Unit
) -> None:
    """Staged writes are committed with other requests' by the engine's one writer; the request
    is answered once that commit returned (no worker thread held meanwhile)."""
    if not unit.submitted:
        committer.submit(unit)
    if unit.done.done():  # committed in the match's thread: no wake-up of the loop to wait for
        unit.done.result()
    else:
        await asyncio.wrap_future(unit.done)
    group_commit.observe(unit, request.app.state.metrics.observe_audited)


def _untouched(session: Session) -> bool:
    """No transaction begun (so no connection checked out) and nothing staged: closing the
    session is no I/O, and costs no hop to a worker thread."""
    return session.get_transaction() is None and STAGED_ROWS not in session.info


async def in_match_thread(
    request: Request, session: Session, work: Callable[[], T], *, commit: bool = False
) -> T:
    """`work` in a worker thread, at most `match_threads` at once (the lifespan's
    `app.state.match_limiter`; the others wait, queued, on the event loop). A match is CPU-bound
    Python: eight threads taking turns with the GIL did the same work as two, more slowly and
    with the switching on top.

    The endpoint returns what this returns, leaving `session` (the request's) alone: when the
    work's writes are all staged, its read-only transaction ends in the same thread
    (`group_commit.release`) and `db_session` only submits the unit once the endpoint returned,
    with no second hop to a worker thread. With `commit`, for an endpoint that returns this
    result as it comes (nothing after it can fail), a request matching alone has its unit
    committed here too when the writer is idle (`group_commit.commit_released`): on a quiet
    service that saves the hops to the writer thread and back; the answer still waits for the
    commit. Under concurrency the writer thread groups units as before."""
    app_state = request.app.state
    limiter: CapacityLimiter = app_state.match_limiter
    committer = (
        group_commit.committer_for(app_state.session_factory)
        if commit and app_state.settings.group_commit
        else None
    )

    def run() -> T:
        result = work()
        if committer is not None and _matching_alone(limiter):
            group_commit.commit_released(session, committer)
        else:
            group_commit.release(session)
        return result

    return await to_thread.run_sync(run, limiter=limiter)


def _matching_alone(limiter: CapacityLimiter) -> bool:
    """No other request matching or waiting to (read from the worker thread: two lengths, each
    read whole under the GIL; a stale answer only chooses the other, equally correct path)."""
    return limiter.borrowed_tokens <= 1 and limiter.statistics().tasks_waiting == 0


async def json_body(request: Request) -> Any:
    """The body as JSON, already bounded and checked by the body guard (identity/http_body.py)
    before any route ran. A body withheld from an unauthenticated caller is never read: whatever
    the order of a route's dependencies, the answer is the authentication's 401."""
    state = request.state
    if hasattr(state, PARSED):
        return getattr(state, PARSED)
    if getattr(state, WITHHELD, False):
        await run_in_threadpool(authenticate, request)  # raises the 401 with its reason
        raise Unauthorized("a bearer access token is required")
    raise InvalidInput("a JSON body is required", errors=[FieldError("", "missing")])


async def idempotent_request(request: Request) -> IdempotentRequest | None:
    """The Idempotency-Key with a fingerprint of the request it names (method, path, body)."""
    key = parse_key(request.headers.get("idempotency-key"))
    if key is None:
        return None
    body = await request.body()
    sealer = request.app.state.sealer
    return IdempotentRequest(key, fingerprint(request.method, request.url.path, body), sealer)


# scope="function": commit before the response is sent, so a client never sees a 200 for a
# decision that was not stored (with the default scope the commit would run after sending).
DbSession = Annotated[Session, Depends(db_session, scope="function")]
JsonBody = Annotated[Any, Depends(json_body)]
Idempotency = Annotated[IdempotentRequest | None, Depends(idempotent_request)]

# OpenAPI: error responses are problem details.
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
