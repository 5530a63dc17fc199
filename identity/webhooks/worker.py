"""The webhook worker: one background thread per service process, started and stopped by the
app's lifespan (like the bulk-match worker), sending the outbox's due deliveries.

It looks every `webhook_poll_s`, and at once after a commit in its own process that queued one.
Each attempt is taken under a lease (a short transaction), sent outside any transaction, and its
result written in another: a worker that dies mid-attempt leaves the delivery due again when the
lease lapses, so an event is sent at least once (receivers drop repeats by its `jti`). Attempts
are logged by ids and HTTP status only.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.keys import SigningKey
from identity.auth.trust import token_issuer
from identity.config import Settings
from identity.db import tenant_transaction, transaction
from identity.logging_setup import get_logger
from identity.polling import poll_until_stopped
from identity.webhooks import delivery, repository
from identity.webhooks.service import forget_at_end, settled_in

log = get_logger("identity.webhooks")


class DeliveryMetrics(Protocol):
    def observe_webhook(self, result: str) -> None: ...


class WebhookWorker:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        key: SigningKey,
        *,
        issuer: str,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self._sessions = session_factory
        self._settings = settings
        self._key = key
        self._issuer = issuer
        self._metrics = metrics
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = delivery.http_client(settings.webhook_timeout_s)

    def start(self) -> None:
        event.listen(self._sessions, "after_commit", self._after_commit)
        forget_at_end(self._sessions)
        self._thread = threading.Thread(target=self._loop, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the worker to stop after the attempt in hand, and wait for it."""
        self._stop.set()
        self._wake.set()
        if event.contains(self._sessions, "after_commit", self._after_commit):
            event.remove(self._sessions, "after_commit", self._after_commit)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("webhook_worker_still_running")
        self._http.close()

    def _after_commit(self, session: Session) -> None:
        if any(s.queued_delivery for s in settled_in(session)):
            self._wake.set()

    def _loop(self) -> None:
        poll_until_stopped(
            stop=self._stop,
            wake=self._wake,
            run_once=self.run_once,
            poll_s=self._settings.webhook_poll_s,
            log=log,
            error_event="webhook_worker_error",
        )

    def _tenant_session(self, tenant: str) -> AbstractContextManager[Session]:
        return tenant_transaction(self._sessions, tenant)

    def run_once(self, now: datetime | None = None) -> bool:
        """Make one attempt at each due delivery. True when any was attempted."""
        now = now or datetime.now(UTC)
        with transaction(self._sessions) as session:
            due = repository.due_deliveries(session, now)
        attempted = False
        for delivery_id, tenant in due:
            if self._stop.is_set():
                break
            attempted = self._attempt(tenant, delivery_id, now) or attempted
        return attempted

    def _attempt(self, tenant: str, delivery_id: str, now: datetime) -> bool:
        settings = self._settings
        lease = now + timedelta(seconds=settings.webhook_timeout_s * 3 + 5)
        with self._tenant_session(tenant) as session:
            taken = repository.claim(session, tenant, delivery_id, now=now, lease_until=lease)
            if taken is None:
                return False  # another worker has it
            webhook = repository.get_webhook(session, tenant, taken.client_id)
            url = webhook.url if webhook is not None else None
            body = delivery.sign(taken, self._key, issuer=self._issuer)
        if url is None:
            result = delivery.Attempt(False, None, "no-webhook")
        else:
            result = delivery.send(self._http, url, body)
        self._record(tenant, delivery_id, result, final=url is None)
        return True

    def _record(
        self, tenant: str, delivery_id: str, result: delivery.Attempt, *, final: bool
    ) -> None:
        settings = self._settings
        now = datetime.now(UTC)
        with self._tenant_session(tenant) as session:
            row = repository.get_delivery(session, tenant, delivery_id)
            if row is None:
                return
            row.attempts += 1
            row.last_http_status = result.http_status
            row.last_error = result.error
            if result.ok:
                row.status, row.finished_at, outcome = "delivered", now, "delivered"
            elif final or row.attempts >= settings.webhook_max_attempts:
                row.status, row.finished_at, outcome = "failed", now, "failed"
            else:
                row.next_attempt_at = delivery.next_attempt(
                    now,
                    row.attempts,
                    base_s=settings.webhook_backoff_s,
                    max_s=settings.webhook_backoff_max_s,
                )
                outcome = "retry"
            attempts = row.attempts
        fields: dict[str, Any] = {
            "delivery_id": delivery_id,
            "attempt": attempts,
            "http_status": result.http_status,
            "error": result.error,
        }
        (log.info if result.ok else log.warning)("webhook_" + outcome, **fields)
        if self._metrics is not None:
            self._metrics.observe_webhook(outcome)


def start_webhook_worker(state: Any, settings: Settings) -> WebhookWorker | None:
    """The app's worker, started (None when `webhook_worker` is off), from the lifespan's state:
    its sessions, the service's signing key and the metrics."""
    if not settings.webhook_worker:
        return None
    worker = WebhookWorker(
        state.session_factory,
        settings,
        state.signing_key,
        issuer=token_issuer(settings),
        metrics=state.metrics,
    )
    worker.start()
    return worker
