"""POST /v1/tokens/introspect and /v1/tokens/revoke over real HTTP, on both databases."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.conftest import TENANT, LiveServer
from tests.tokens.factories import issue_token

OTHER = "other-payer"


def bearer(settings: Settings, client: str, *scopes: str, tenant: str = TENANT) -> dict[str, str]:
    token = mint_dev_token(settings, tenant=tenant, client_id=client, scopes=set(scopes))
    return {"Authorization": f"Bearer {token}"}


def introspect(http: httpx.Client, headers: dict[str, str], token: str) -> httpx.Response:
    return http.post("/v1/tokens/introspect", data={"token": token}, headers=headers)


def test_introspection(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    issued = issue_token(sessions, client_id="payer-a", category="sensitive")
    theirs = issue_token(sessions, client_id="payer-x", tenant=OTHER)
    fhir = bearer(settings, "fhir-server", "tokens:introspect")
    with live_server.client() as http:
        r = introspect(http, fhir, issued.token)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert (body["active"], body["client_id"], body["scope"], body["jti"]) == (
            True,
            "payer-a",
            "sensitive",
            issued.token_id,
        )
        assert introspect(http, fhir, theirs.token).json() == {"active": False}
        assert introspect(http, fhir, "mt_nope").json() == {"active": False}
        # The other tenant's resource server cannot read our token.
        their_fhir = bearer(settings, "their-fhir", "tokens:introspect", tenant=OTHER)
        assert introspect(http, their_fhir, issued.token).json() == {"active": False}
        assert introspect(http, their_fhir, theirs.token).json()["active"] is True
        # The holder itself is no resource server.
        holder = bearer(settings, "payer-a", "match", "tokens:revoke")
        assert introspect(http, holder, issued.token).status_code == 403
        assert introspect(http, {}, issued.token).status_code == 401
        # RFC 7662 is form-encoded; a token in JSON or a missing token is an OAuth error.
        as_json = http.post("/v1/tokens/introspect", json={"token": issued.token}, headers=fhir)
        assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
        missing = http.post("/v1/tokens/introspect", data={}, headers=fhir)
        assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
        # A token in the query string is ignored, not read.
        in_query = http.post(
            "/v1/tokens/introspect", params={"token": issued.token}, data={"x": "1"}, headers=fhir
        )
        assert in_query.status_code == 400


def test_revocation(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    own = issue_token(sessions, client_id="payer-a")
    not_theirs = issue_token(sessions, client_id="payer-a")
    by_server = issue_token(sessions, client_id="payer-a")
    fhir = bearer(settings, "fhir-server", "tokens:introspect")
    fhir_revoker = bearer(settings, "fhir-server", "tokens:introspect", "tokens:revoke")
    holder = bearer(settings, "payer-a", "match", "tokens:revoke")
    other_payer = bearer(settings, "payer-b", "match", "tokens:revoke")

    def revoke(headers: dict[str, str], token: str) -> httpx.Response:
        return http.post("/v1/tokens/revoke", data={"token": token}, headers=headers)

    def active(token: str) -> bool:
        return bool(introspect(http, fhir, token).json()["active"])

    with live_server.client() as http:
        r = revoke(holder, own.token)
        assert (r.status_code, r.content) == (200, b"")
        assert not active(own.token)
        # Another client's attempt answers the same 200 and changes nothing.
        assert revoke(other_payer, not_theirs.token).status_code == 200
        assert active(not_theirs.token)
        # Unknown and already-revoked tokens: 200 as well (RFC 7009 §2.2).
        assert revoke(holder, "mt_never-issued").status_code == 200
        assert revoke(holder, own.token).status_code == 200
        # A resource server with the revoke scope may revoke any of the tenant's tokens.
        assert revoke(fhir, by_server.token).status_code == 403
        assert revoke(fhir_revoker, by_server.token).status_code == 200
        assert not active(by_server.token)
        assert revoke({}, own.token).status_code == 401
        assert revoke(bearer(settings, "payer-a", "match"), own.token).status_code == 403
