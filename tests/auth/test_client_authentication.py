"""The token endpoint answers every failed client authentication alike (status, error and
description), so it cannot be used to learn which client ids are registered; over real HTTP on
both databases."""

from __future__ import annotations

import time

import httpx
from sqlalchemy.orm import Session, sessionmaker

from identity.clients import service as clients_service
from identity.db import transaction
from tests.auth.forge import ClientKey
from tests.auth.test_token_endpoint import TOKEN_URL, ask, register
from tests.conftest import LiveServer


def _answer(r: httpx.Response) -> tuple[int, str, str]:
    body = r.json()
    return r.status_code, body["error"], body["error_description"]


def test_unknown_client_and_bad_signature_get_the_same_answer(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    key = ClientKey()
    client_id = register(sessions, key)
    disabled_key = ClientKey("ES384")
    disabled = register(sessions, disabled_key)
    with transaction(sessions) as session:
        clients_service.disable(session, disabled)
    forger = ClientKey(kid=key.kid)  # knows the kid, not the key
    now = int(time.time())
    replayed = key.assertion(client_id, TOKEN_URL)
    cases = {
        "unknown client": key.assertion("no-such-client", TOKEN_URL),
        "unknown client, EC": disabled_key.assertion("no-such-client", TOKEN_URL),
        "bad signature": forger.assertion(client_id, TOKEN_URL),
        "disabled client": disabled_key.assertion(disabled, TOKEN_URL),
        "expired": key.assertion(client_id, TOKEN_URL, exp=now - 120),
        "wrong audience": key.assertion(client_id, "https://elsewhere.test/token"),
    }
    with live_server.client() as http:
        assert ask(http, replayed).status_code == 200
        answers = {name: _answer(ask(http, assertion)) for name, assertion in cases.items()}
        answers["replayed"] = _answer(ask(http, replayed))
    assert len(set(answers.values())) == 1, answers
    status, error, description = answers["unknown client"]
    assert (status, error) == (401, "invalid_client")
    assert "registered" not in description
    assert "signature" not in description
