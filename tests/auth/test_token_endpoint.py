"""The SMART Backend Services token endpoint over real HTTP, on both databases: a registered
client's private_key_jwt assertion buys a short-lived access token that the API then honours."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.endpoints import CLIENT_REFUSED
from identity.clients import service as clients_service
from identity.db import transaction
from identity.models import AuditEvent
from tests.auth.forge import ClientKey
from tests.conftest import PUBLIC_URL, TENANT, LiveServer

TOKEN_URL = f"{PUBLIC_URL}/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def register(sessions: sessionmaker[Session], key: ClientKey, scopes: str = "match review") -> str:
    with transaction(sessions) as session:
        client = clients_service.register(
            session, tenant=TENANT, name="New Payer", jwks=key.jwks(), scopes=scopes
        )
        return client.client_id


def ask(http: httpx.Client, assertion: str, scope: str = "review", **extra: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
    return http.post("/oauth/token", data=form)


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_an_assertion_buys_a_token_the_api_honours(
    live_server: LiveServer, sessions: sessionmaker[Session], alg: str
) -> None:
    key = ClientKey(alg)
    client_id = register(sessions, key)
    with live_server.client() as http:
        r = ask(http, key.assertion(client_id, TOKEN_URL))
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert (body["token_type"], body["scope"]) == ("bearer", "review")
        assert 0 < body["expires_in"] <= 300
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] <= 300
        assert (claims["client_id"], claims["tenant"], claims["iss"]) == (
            client_id,
            TENANT,
            PUBLIC_URL,
        )
        assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert http.get("/v1/review-items", headers=headers).status_code == 200
        # Granted `review` only: matching is refused.
        assert http.post("/v1/match", json={}, headers=headers).status_code == 403


def test_a_replayed_assertion_is_refused(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    key = ClientKey()
    client_id = register(sessions, key)
    assertion = key.assertion(client_id, TOKEN_URL)
    with live_server.client() as http:
        assert ask(http, assertion).status_code == 200
        again = ask(http, assertion)
        assert again.status_code == 401
        assert again.json()["error"] == "invalid_client"
        assert again.json()["error_description"] == CLIENT_REFUSED
    # A client that failed to authenticate is counted, not written row by row (the aggregate is
    # written when its window ends: tests/audit/test_denial_aggregation.py).
    with sessions() as session:
        assert session.scalars(select(AuditEvent)).all() == []


def _refusals(key: ClientKey, client_id: str, other: ClientKey) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    return {
        "exp more than five minutes ahead": (
            key.assertion(client_id, TOKEN_URL, exp=now + 600),
            "invalid_client",
        ),
        "expired": (key.assertion(client_id, TOKEN_URL, exp=now - 120), "invalid_client"),
        "wrong audience": (
            key.assertion(client_id, "https://elsewhere.test/token"),
            "invalid_client",
        ),
        "RS256 is not an assertion algorithm": (
            key.assertion(client_id, TOKEN_URL, alg="RS256"),
            "invalid_client",
        ),
        "signed by an unregistered key": (
            other.assertion(client_id, TOKEN_URL),
            "invalid_client",
        ),
        "unknown client": (key.assertion("nobody", TOKEN_URL), "invalid_client"),
        "missing jti": (key.assertion(client_id, TOKEN_URL, jti=None), "invalid_client"),
        "iss differs from sub": (
            key.assertion(client_id, TOKEN_URL, sub="someone-else"),
            "invalid_client",
        ),
    }


def test_bad_assertions_are_refused(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    key, other = ClientKey(), ClientKey(kid="same-kid-other-key")
    client_id = register(sessions, key)
    other.kid = key.kid  # a forger who knows the kid but not the key
    wrong: list[str] = []
    with live_server.client() as http:
        for name, (assertion, error) in _refusals(key, client_id, other).items():
            r = ask(http, assertion)
            if r.status_code not in (400, 401) or r.json().get("error") != error:
                wrong.append(f"{name}: {r.status_code} {r.text}")
    assert not wrong, wrong


def test_scopes_beyond_the_registration_and_other_grants_are_refused(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    key = ClientKey()
    client_id = register(sessions, key, scopes="match")
    with live_server.client() as http:
        r = ask(http, key.assertion(client_id, TOKEN_URL), scope="match admin")
        assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
        r = ask(http, key.assertion(client_id, TOKEN_URL), grant_type="password")
        assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
        r = http.post("/oauth/token", json={"grant_type": "client_credentials"})
        assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def test_a_disabled_client_gets_no_token(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    key = ClientKey()
    client_id = register(sessions, key)
    with transaction(sessions) as session:
        clients_service.disable(session, client_id)
    with live_server.client() as http:
        r = ask(http, key.assertion(client_id, TOKEN_URL))
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


def test_discovery_and_key_set_are_public(live_server: LiveServer) -> None:
    with live_server.client() as http:
        config: dict[str, Any] = http.get("/.well-known/smart-configuration").json()
        assert config["token_endpoint"] == TOKEN_URL
        assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {
            "RS384",
            "ES384",
        }
        keys = http.get("/.well-known/jwks.json").json()["keys"]
        assert keys
        assert all("d" not in k for k in keys)


def test_registration_refuses_private_keys_and_unknown_scopes(
    sessions: sessionmaker[Session],
) -> None:
    from identity.errors import InvalidInput

    key = ClientKey()
    private_jwk = {**key.public_jwk, "d": "AAAA"}
    with transaction(sessions) as session, pytest.raises(InvalidInput) as caught:
        clients_service.register(
            session,
            tenant=TENANT,
            name="x",
            jwks={"keys": [private_jwk]},
            scopes="match everything",
        )
    assert {e.pointer for e in caught.value.errors} == {"/jwks", "/scopes"}
