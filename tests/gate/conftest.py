"""The gate end to end over real HTTP: identity (LiveServer, as the PostgreSQL application role on
PostgreSQL), a small FHIR server, and the gate between them, each under uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session, sessionmaker

from identity.clients import service as clients_service
from identity.db import transaction
from identity.gate.identity_client import load_gate_key
from identity.gate.proxy import MATCH_TOKEN_HEADER, GateConfig, create_gate
from tests.auth.forge import ClientKey
from tests.conftest import PUBLIC_URL, TENANT, LiveServer, ServerThread
from tests.gate.fhir_fixture import Seen, fhir_app

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def register(sessions: sessionmaker[Session], name: str, jwks: dict[str, Any], scopes: str) -> str:
    with transaction(sessions) as session:
        return clients_service.register(
            session, tenant=TENANT, name=name, jwks=jwks, scopes=scopes
        ).client_id


@dataclass
class World:
    identity: LiveServer
    gate: ServerThread
    fhir: Seen
    sessions: sessionmaker[Session]
    keys: dict[str, ClientKey]  # by client id
    clients: dict[str, str]  # client id by name: payer-a, payer-b, gate

    def access_token(self, client_id: str, scope: str = "match") -> str:
        """A real access token from identity's token endpoint (SMART Backend Services)."""
        assertion = self.keys[client_id].assertion(client_id, f"{PUBLIC_URL}/oauth/token")
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        with self.identity.client() as http:
            r = http.post("/oauth/token", data=form)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def get(
        self, path: str, *, bearer: str | None = None, match_token: str | None = None
    ) -> httpx.Response:
        headers = {}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if match_token is not None:
            headers[MATCH_TOKEN_HEADER] = match_token
        with httpx.Client(base_url=self.gate.base_url, timeout=30) as http:
            return http.get(path, headers=headers)


@pytest.fixture
def world(
    live_server: LiveServer, sessions: sessionmaker[Session], tmp_path: Path
) -> Iterator[World]:
    keys: dict[str, ClientKey] = {}
    clients: dict[str, str] = {}
    for name, scopes in (("payer-a", "match tokens:revoke"), ("payer-b", "match")):
        key = ClientKey("RS384")
        clients[name] = register(sessions, name, key.jwks(), scopes)
        keys[clients[name]] = key
    # The gate signs with EC P-384 from a PEM file; it registers what `identity gate-jwks` prints.
    gate_pem = tmp_path / "gate-key.pem"
    gate_pem.write_bytes(
        ClientKey("ES384").private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    gate_jwks = load_gate_key(gate_pem).jwks()
    clients["gate"] = register(sessions, "FHIR gate", gate_jwks, "tokens:introspect")
    seen = Seen()
    with ServerThread(fhir_app(seen)) as fhir:
        config = GateConfig(
            upstream=f"{fhir.base_url}/fhir",
            identity_url=live_server.base_url,
            client_id=clients["gate"],
            key_file=gate_pem,
        )
        with ServerThread(create_gate(config)) as gate:
            yield World(live_server, gate, seen, sessions, keys, clients)
