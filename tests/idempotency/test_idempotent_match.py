"""Idempotency-Key on POST /v1/match over real HTTP, on both databases: retries replay the stored
bytes, write nothing; a key reused with another body is refused; concurrent twins write once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import IdempotencyRecord, MatchDecision
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

BILL = {"patient": fhir_patient("Bill", "Chen", "1958-11-02"), "coverage": fhir_coverage("S200")}
ANA = {"patient": fhir_patient("Ana", "Ruiz", "1990-05-06", gender="female")}


def _decisions(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MatchDecision)) or 0)


@pytest.mark.usefixtures("household")
def test_a_retry_replays_the_stored_bytes_and_writes_nothing(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    key = {"Idempotency-Key": "retry-1"}
    first = client.post("/v1/match", json=BILL, headers=key)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    count = _decisions(sessions)
    again = client.post("/v1/match", json=BILL, headers=key)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert _decisions(sessions) == count
    # Without a key, the same body is a new decision.
    assert client.post("/v1/match", json=BILL).json()["match_id"] != first.json()["match_id"]
    assert _decisions(sessions) == count + 1


@pytest.mark.usefixtures("household")
def test_the_same_key_with_another_body_is_refused(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    key = {"Idempotency-Key": "reused"}
    assert client.post("/v1/match", json=BILL, headers=key).status_code == 200
    count = _decisions(sessions)
    r = client.post("/v1/match", json=ANA, headers=key)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"pointer": "/headers/Idempotency-Key", "detail": "reused with a different request"}
    ]
    assert _decisions(sessions) == count


@pytest.mark.usefixtures("household")
def test_keys_belong_to_their_client(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    tokens = [mint_dev_token(settings, tenant=TENANT, client_id=c) for c in ("a", "b")]
    bodies = []
    for token, body in zip(tokens, (BILL, ANA), strict=True):
        with live_server.client(token) as http:
            r = http.post("/v1/match", json=body, headers={"Idempotency-Key": "shared-name"})
            assert r.status_code == 200
            bodies.append(r.json()["match_id"])
    assert bodies[0] != bodies[1]


@pytest.mark.usefixtures("household")
def test_concurrent_duplicates_write_once(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="racer")
    before = _decisions(sessions)

    def send(_: int) -> httpx.Response:
        with live_server.client(token) as http:
            return http.post("/v1/match", json=BILL, headers={"Idempotency-Key": "race"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {200, 409}, statuses
    ok = {r.content for r in answers if r.status_code == 200}
    assert len(ok) == 1
    assert _decisions(sessions) == before + 1


@pytest.mark.usefixtures("household")
def test_failures_are_not_remembered_and_keys_expire(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    key = {"Idempotency-Key": "will-expire"}
    bad = client.post("/v1/match", json={"patient": {"resourceType": "Patient"}}, headers=key)
    assert bad.status_code == 422
    first = client.post("/v1/match", json=BILL, headers=key)
    assert first.status_code == 200
    with sessions() as session:
        session.execute(
            update(IdempotencyRecord).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    later = client.post("/v1/match", json=BILL, headers=key)
    assert later.status_code == 200
    assert "idempotent-replayed" not in later.headers
    assert later.json()["match_id"] != first.json()["match_id"]


def test_a_malformed_key_is_refused(client: httpx.Client) -> None:
    r = client.post("/v1/match", json=BILL, headers={"Idempotency-Key": "x" * 256})
    assert r.status_code == 422
