"""A client's organisation identifier: given at registration (`--organization SYSTEM|VALUE`),
read back for the consent check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.clients import service as clients_service
from identity.clients.organization import OrgIdentifier, parse_org_identifier
from identity.config import Settings
from identity.db import transaction
from tests.auth.forge import ClientKey
from tests.test_cli import run

NPI = "http://hl7.org/fhir/sid/us-npi"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (f"{NPI}|0123456789", OrgIdentifier(NPI, "0123456789")),
        (f" {NPI} | 0123456789 ", OrgIdentifier(NPI, "0123456789")),
        (
            "urn:oid:2.16.840.1.113883.4.4|12-3456789",
            OrgIdentifier("urn:oid:2.16.840.1.113883.4.4", "12-3456789"),
        ),
    ],
)
def test_parse(text: str, parsed: OrgIdentifier) -> None:
    assert parse_org_identifier(text) == parsed
    assert str(parsed) == f"{parsed.system}|{parsed.value}"


@pytest.mark.parametrize("text", ["0123456789", f"{NPI}|", "|0123", f"{NPI}|1|2", "x" * 300 + "|1"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="SYSTEM|VALUE|at most"):
        parse_org_identifier(text)


def test_registered_organisation_is_read_back(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        with_org = clients_service.register(
            session,
            tenant="t",
            name="New Payer",
            jwks=ClientKey().jwks(),
            scopes="match",
            organization=OrgIdentifier(NPI, "0123456789"),
        )
        without = clients_service.register(
            session, tenant="t", name="FHIR", jwks=ClientKey().jwks(), scopes="tokens:introspect"
        )
    with transaction(sessions) as session:
        assert clients_service.organization(session, with_org.client_id) == OrgIdentifier(
            NPI, "0123456789"
        )
        assert clients_service.organization(session, without.client_id) is None
        assert clients_service.organization(session, "unregistered") is None
        clients_service.disable(session, with_org.client_id)
    with transaction(sessions) as session:
        assert clients_service.organization(session, with_org.client_id) is None


def test_cli_add_with_organization(settings: Settings, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(ClientKey().jwks()))
    added = run(
        settings,
        "clients", "add", "--tenant", "cli-payer", "--name", "New Plan", "--jwks", str(jwks),
        "--scopes", "match", "--organization", f"{NPI}|0123456789",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert f"organisation {NPI}|0123456789" in added.stdout
    listed = run(settings, "clients", "list")
    assert f"{NPI}|0123456789" in listed.stdout
    refused = run(
        settings,
        "clients", "add", "--tenant", "cli-payer", "--name", "X", "--jwks", str(jwks),
        "--scopes", "match", "--organization", "0123456789",
    )  # fmt: skip
    assert refused.returncode == 1
    assert "SYSTEM|VALUE" in refused.stderr
