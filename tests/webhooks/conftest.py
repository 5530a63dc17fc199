"""Webhook fixtures: a receiving HTTP server on loopback, registered clients, review decisions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.keys import load_or_create_signing_key
from identity.clients import service as clients_service
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction
from identity.member.service import load_members
from identity.models import ApiClient
from identity.policy.cache import MatcherCache
from identity.resolution import service as resolution
from identity.webhooks import service as webhooks
from tests.conftest import TENANT, as_app_role
from tests.factories import fhir_coverage, fhir_patient

OTHER_TENANT = "other-payer"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: records every request and answers the scripted statuses in turn
    (then 200); `delay_s` holds each answer back."""

    base_url: str
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.received.append(Received(self.path, dict(self.headers), body))
            if state.delay_s:
                time.sleep(state.delay_s)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"{state.base_url}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions as the service's own database role (row-level security applies on PostgreSQL)."""
    engine = make_engine(as_app_role(settings))
    yield make_session_factory(engine)
    engine.dispose()


def register_client(sessions: sessionmaker[Session], settings: Settings, tenant: str) -> str:
    jwk = load_or_create_signing_key(settings.dev_key_file).public_jwk()
    with transaction(sessions) as session:
        client: ApiClient = clients_service.register(
            session, tenant=tenant, name=f"{tenant} backend", jwks={"keys": [jwk]}, scopes="match"
        )
        return client.client_id


def set_webhook(sessions: sessionmaker[Session], client_id: str, url: str) -> None:
    with transaction(sessions) as session:
        webhooks.set_webhook(session, client_id, url, now=datetime.now(UTC))


@pytest.fixture
def enrolled_twice(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """One synthetic person under two member ids: matching them answers `review`."""
    resources = [
        fhir_patient("William", "Chen", "1958-11-02", member_id="M3", resource_id="p3"),
        fhir_coverage("S200", "Patient/p3"),
        fhir_patient("William", "Chen", "1958-11-02", member_id="M4", resource_id="p4"),
        fhir_coverage("S200", "Patient/p4"),
    ]
    path = tmp_path / "members.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()


def review_decision(sessions: sessionmaker[Session], client_id: str) -> tuple[str, str]:
    """(match id, review item id) of a `review` decision asked for by `client_id`."""
    body = {
        "patient": fhir_patient("William", "Chen", "1958-11-02"),
        "coverage": fhir_coverage("S200"),
    }
    today = date.today()
    with transaction(sessions) as session:
        raw = resolution.parse_match_request(body, today)
        result = resolution.match(
            session, TENANT, MatcherCache(), raw, today=today, requester=client_id
        )
        assert result.decision.outcome == "review", result.decision.reason
        assert result.review_item_id is not None
        return result.decision.id, result.review_item_id
