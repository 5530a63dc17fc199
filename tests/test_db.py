"""Schema and availability: migrations on both databases, refusing unknown schemas, 503s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import current_revision, downgrade, head_revision, make_engine, upgrade
from tests.conftest import TENANT, LiveServer, PostgresServer, service_settings
from tests.factories import fhir_patient

TABLES = {
    "member",
    "coverage",
    "blocking_key",
    "policy_version",
    "policy_activation",
    "match_decision",
}


def test_migrations_build_the_whole_schema(settings: Settings) -> None:
    engine = make_engine(settings)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    pk = inspect(engine).get_pk_constraint("blocking_key")
    assert pk["constrained_columns"] == ["tenant_id", "key", "member_pk"]


def test_migrations_go_down_and_up_again(settings: Settings) -> None:
    downgrade(settings.database_url, "base")
    engine = make_engine(settings)
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(settings.database_url)
    assert current_revision(engine) == head_revision()


def _identity(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_serve_refuses_an_unknown_schema(tmp_path: Path) -> None:
    env = {"IDENTITY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = _identity("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "identity db upgrade" in result.stderr


def test_readyz_wants_a_policy(settings: Settings) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="t")
    with LiveServer(settings) as server, server.client(token) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": True, "schema": True, "policy": False}
        assert "Retry-After" in r.headers
        m = client.post("/v1/match", json={"patient": fhir_patient()})
        assert m.status_code == 503
        assert m.headers["content-type"] == "application/problem+json"
        assert "Retry-After" in m.headers


@pytest.mark.usefixtures("active_policy")
def test_readyz_ready(client: httpx.Client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


def test_database_gone_is_503_with_retry_after(
    postgres: PostgresServer, tmp_path: Path, key_dir: Path
) -> None:
    postgres.execute("CREATE DATABASE doomed TEMPLATE identity_template")
    settings = service_settings(postgres.url("doomed"), key_dir)
    token = mint_dev_token(settings, tenant=TENANT, client_id="t")
    with LiveServer(settings) as server, server.client(token) as client:
        postgres.execute("DROP DATABASE doomed WITH (FORCE)")
        r = client.post("/v1/match", json={"patient": fhir_patient()})
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["Retry-After"]) > 0
        assert client.get("/readyz").status_code == 503
