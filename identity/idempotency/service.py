"""Idempotent execution of a state-changing request.

`run()` claims the caller's key in the request's own transaction, produces the response, and
stores its exact bytes beside the change, so the change and its remembered answer commit together
or not at all. A retry (same key, same request) gets those bytes back and writes nothing; the
same key with a different request is refused. Only successful answers are remembered: a failed
request rolled back, so its retry simply runs again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from identity.errors import Conflict, FieldError, InvalidInput
from identity.idempotency import repository
from identity.idempotency.sealing import Sealer

RETENTION = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key: str
    request_hash: str
    sealer: Sealer


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes
    replayed: bool


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def parse_key(value: str | None) -> str | None:
    """The Idempotency-Key header: absent, or 1–255 visible ASCII characters."""
    if value is None:
        return None
    if not 0 < len(value) <= 255 or not all(33 <= ord(c) <= 126 for c in value):
        raise InvalidInput(
            "the Idempotency-Key must be 1 to 255 visible ASCII characters",
            errors=[FieldError("/headers/Idempotency-Key", "invalid key")],
        )
    return value


def run(
    session: Session,
    *,
    tenant: str,
    client_id: str,
    request: IdempotentRequest,
    produce: Callable[[], tuple[int, str, bytes]],
    now: datetime | None = None,
) -> StoredResponse:
    now = now or datetime.now(UTC)
    repository.forget_expired(session, tenant, client_id, now)
    claimed = repository.claim(
        session,
        tenant=tenant,
        client_id=client_id,
        key=request.key,
        request_hash=request.request_hash,
        now=now,
        expires_at=now + RETENTION,
    )
    if not claimed:
        return _previous(session, tenant, client_id, request)
    status, content_type, body = produce()
    context = _context(tenant, client_id, request.key)
    record = repository.find_held(session, tenant, client_id, request.key)
    assert record is not None  # claimed just above, in this transaction
    record.status_code, record.content_type = status, content_type
    record.body = request.sealer.seal(body, context)
    session.flush()
    return StoredResponse(status, content_type, body, replayed=False)


def _previous(
    session: Session, tenant: str, client_id: str, request: IdempotentRequest
) -> StoredResponse:
    held = repository.find_held(session, tenant, client_id, request.key)
    if held is None or held.status_code is None or held.body is None:
        raise Conflict("a request with this Idempotency-Key is still being processed; retry")
    if held.request_hash != request.request_hash:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request",
            errors=[FieldError("/headers/Idempotency-Key", "reused with a different request")],
        )
    body = request.sealer.open(held.body, _context(tenant, client_id, request.key))
    if body is None:  # sealed under another key (rotated): the answer cannot be given again
        raise Conflict("this Idempotency-Key's answer can no longer be read; use a new key")
    return StoredResponse(
        held.status_code, held.content_type or "application/json", body, replayed=True
    )


def _context(tenant: str, client_id: str, key: str) -> str:
    return f"{tenant}\x1f{client_id}\x1f{key}"
