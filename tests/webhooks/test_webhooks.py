"""Webhooks: a caller hears, signed and retried, that the review of its request settled; on
SQLite and PostgreSQL (the worker as the service's own role), against a real receiver on loopback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from jwt.api_jwk import PyJWK
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.keys import load_or_create_signing_key
from identity.config import Settings
from identity.db import transaction
from identity.errors import InvalidInput
from identity.models import WebhookDelivery
from identity.observability.metrics import Metrics
from identity.webhooks import service as webhooks
from identity.webhooks.delivery import CONTENT_TYPE, EVENT_URI, next_attempt
from identity.webhooks.worker import WebhookWorker
from tests.conftest import PUBLIC_URL, TENANT
from tests.webhooks.conftest import (
    OTHER_TENANT,
    Receiver,
    register_client,
    review_decision,
    set_webhook,
)

pytestmark = pytest.mark.usefixtures("active_policy", "enrolled_twice")


def _worker(
    app_sessions: sessionmaker[Session],
    settings: Settings,
    metrics: Metrics | None = None,
    **kw: Any,
) -> WebhookWorker:
    tuned = settings.model_copy(
        update={"webhook_backoff_s": 0.01, "webhook_backoff_max_s": 0.02, **kw}
    )
    key = load_or_create_signing_key(settings.signing_key_file)
    return WebhookWorker(app_sessions, tuned, key, issuer=PUBLIC_URL, metrics=metrics)


def _settle(
    sessions: sessionmaker[Session], match_id: str, item_id: str, *, commit: bool = True
) -> None:
    session = sessions()
    try:
        webhooks.review_settled(
            session,
            tenant=TENANT,
            item_id=item_id,
            match_id=match_id,
            kind="link",
            member_id="M3",
            now=datetime.now(UTC),
        )
        session.commit() if commit else session.rollback()
    finally:
        session.close()


def _drain(worker: WebhookWorker, rounds: int = 20) -> None:
    """Run the worker until nothing is due, letting the short back-offs pass."""
    for _ in range(rounds):
        worker.run_once(datetime.now(UTC) + timedelta(seconds=1))


def _deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery)))


def test_a_settled_review_is_delivered_signed_with_ids_only(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, client_id, f"{receiver.base_url}/hook")
    match_id, item_id = review_decision(sessions, client_id)
    _settle(sessions, match_id, item_id)

    metrics = Metrics()
    assert _worker(app_sessions, settings, metrics).run_once() is True
    [got] = receiver.received
    assert got.path == "/hook"
    assert got.headers["Content-Type"] == CONTENT_TYPE
    # Verifiable with the service's published JWKS, addressed to the client that asked.
    jwk = load_or_create_signing_key(settings.signing_key_file).public_jwk()
    claims = jwt.decode(
        got.body, PyJWK(jwk).key, algorithms=["RS256"], audience=client_id, issuer=PUBLIC_URL
    )
    assert jwt.get_unverified_header(got.body)["typ"] == "secevent+jwt"
    [delivery] = _deliveries(sessions)
    assert claims["jti"] == delivery.id
    event = claims["events"][EVENT_URI]
    assert set(event) == {"match_id", "review_item_id", "kind", "member_id", "settled_at"}
    assert (event["match_id"], event["review_item_id"]) == (match_id, item_id)
    assert (event["kind"], event["member_id"]) == ("link", "M3")
    # No demographics anywhere in the signed body.
    text = jwt.decode(got.body, options={"verify_signature": False}).__repr__().upper()
    for datum in ("CHEN", "WILLIAM", "1958", "S200"):
        assert datum not in text
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("delivered", 1, 200)
    # Delivered once: nothing more is sent.
    _drain(_worker(app_sessions, settings))
    assert len(receiver.received) == 1
    assert (
        metrics.registry.get_sample_value(
            "identity_webhook_deliveries_total", {"result": "delivered"}
        )
        == 1
    )


def test_a_receiver_answering_500_is_retried_until_it_takes_the_event(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, client_id, f"{receiver.base_url}/hook")
    _settle(sessions, *review_decision(sessions, client_id))
    receiver.statuses = [500, 503]

    metrics = Metrics()
    _drain(_worker(app_sessions, settings, metrics))
    assert len(receiver.received) == 3
    # The same event each time (a receiver drops repeats by jti).
    plain = {"verify_signature": False}
    jtis = {jwt.decode(r.body, options=plain)["jti"] for r in receiver.received}
    assert len(jtis) == 1
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    sample = metrics.registry.get_sample_value
    assert sample("identity_webhook_deliveries_total", {"result": "retry"}) == 2
    assert sample("identity_webhook_deliveries_total", {"result": "delivered"}) == 1


def test_a_delivery_is_given_up_after_the_attempt_limit(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, client_id, f"{receiver.base_url}/hook")
    _settle(sessions, *review_decision(sessions, client_id))
    receiver.statuses = [500] * 10

    _drain(_worker(app_sessions, settings, webhook_max_attempts=3))
    assert len(receiver.received) == 3
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("failed", 3, 500)
    assert delivery.last_error == "http-status"


def test_redirects_are_not_followed_and_slow_receivers_time_out(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, client_id, f"{receiver.base_url}/hook")
    _settle(sessions, *review_decision(sessions, client_id))
    receiver.statuses = [302]
    worker = _worker(app_sessions, settings, webhook_max_attempts=2, webhook_timeout_s=0.3)
    worker.run_once()
    assert [r.path for r in receiver.received] == ["/hook"]  # /elsewhere never asked
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.last_error, delivery.last_http_status) == (
        "pending",
        "redirect",
        302,
    )
    receiver.delay_s = 1.0
    _drain(worker, rounds=3)
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.last_error) == ("failed", "timeout")


def test_nothing_is_sent_for_a_settlement_that_rolled_back(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, client_id, f"{receiver.base_url}/hook")
    match_id, item_id = review_decision(sessions, client_id)
    _settle(sessions, match_id, item_id, commit=False)

    assert _deliveries(sessions) == []
    _drain(_worker(app_sessions, settings), rounds=2)
    assert receiver.received == []


def test_only_the_client_that_asked_hears_and_never_another_tenant(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    asker = register_client(sessions, settings, TENANT)
    bystander = register_client(sessions, settings, TENANT)
    stranger = register_client(sessions, settings, OTHER_TENANT)
    for client_id, path in ((asker, "/asker"), (bystander, "/bystander"), (stranger, "/other")):
        set_webhook(sessions, client_id, f"{receiver.base_url}{path}")
    _settle(sessions, *review_decision(sessions, asker))
    # A decision asked for by a client without a webhook queues nothing.
    silent = register_client(sessions, settings, TENANT)
    _settle(sessions, *review_decision(sessions, silent))

    _drain(_worker(app_sessions, settings))
    assert [r.path for r in receiver.received] == ["/asker"]
    assert [d.client_id for d in _deliveries(sessions)] == [asker]


def test_settlements_are_counted_when_committed_only(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    metrics = Metrics()
    metrics.watch(sessions)
    client_id = register_client(sessions, settings, TENANT)
    match_id, item_id = review_decision(sessions, client_id)
    _settle(sessions, match_id, item_id, commit=False)
    sample = metrics.registry.get_sample_value
    assert sample("identity_review_resolutions_total", {"kind": "link"}) is None
    _settle(sessions, match_id, item_id)
    assert sample("identity_review_resolutions_total", {"kind": "link"}) == 1
    assert sample("identity_review_time_to_resolution_seconds_count", {}) == 1


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://payer.example/hooks/identity", True),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://[::1]:9000/hook", True),
        ("http://payer.example/hook", False),
        ("ftp://payer.example/hook", False),
        ("https://user:secret@payer.example/hook", False),
        ("https://payer.example/hook#frag", False),
        ("/relative", False),
        ("https://" + "a" * 2050 + ".example/", False),
    ],
)
def test_webhook_urls_are_https_or_loopback(url: str, ok: bool) -> None:
    if ok:
        assert webhooks.check_url(url) == url
    else:
        with pytest.raises(InvalidInput):
            webhooks.check_url(url)


def test_back_off_grows_exponentially_with_jitter_and_a_cap() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    waits = [
        (next_attempt(now, n, base_s=10, max_s=300) - now).total_seconds() for n in (1, 2, 3, 9)
    ]
    assert 5 <= waits[0] < 10
    assert 10 <= waits[1] < 20
    assert 20 <= waits[2] < 40
    assert 150 <= waits[3] < 300


def test_a_removed_webhook_gives_its_queued_deliveries_up(
    sessions: sessionmaker[Session],
    app_sessions: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, client_id, f"{receiver.base_url}/hook")
    _settle(sessions, *review_decision(sessions, client_id))
    with transaction(sessions) as session:
        webhooks.remove_webhook(session, client_id)
    _drain(_worker(app_sessions, settings), rounds=2)
    assert receiver.received == []
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "no-webhook")
