"""The FHIR front door over real HTTP: GET /fhir/metadata answers without a token with a
CapabilityStatement (validated with fhir.resources) listing the three operations, each defined by an
OperationDefinition the server serves, and the SMART security section agreeing with the discovery
document. The operations come from the route table: an app without a route does not list it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition

from identity.exchange.endpoints import router as exchange_router
from identity.fhir.capability import OAUTH_URIS
from identity.fhir.metadata_endpoints import mounted_operations
from identity.fhir.operations import (
    BULK_MEMBER_MATCH,
    MEMBER_MATCH,
    PATIENT_MATCH,
    Limits,
    operation_definition,
)
from identity.resolution.fhir_endpoints import router as patient_match_router
from tests.conftest import PUBLIC_URL, LiveServer

# operation code -> (resource type, the IG or core definition it implements, the scope it needs)
EXPECTED = {
    "member-match": (
        "Patient",
        "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match",
        "match",
    ),
    "bulk-member-match": (
        "Group",
        "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/BulkMemberMatch",
        "match",
    ),
    "match": ("Patient", "http://hl7.org/fhir/OperationDefinition/Patient-match", "members:search"),
}


def _local(url: str) -> str:
    """A canonical URL of this server (under IDENTITY_PUBLIC_URL) as a path to ask the live one."""
    assert url.startswith(PUBLIC_URL + "/fhir/"), url
    return urlsplit(url).path


@pytest.fixture
def anonymous(live_server: LiveServer) -> httpx.Client:
    return live_server.client()


def test_metadata_is_a_valid_r4_capability_statement_listing_the_operations(
    anonymous: httpx.Client,
) -> None:
    r = anonymous.get("/fhir/metadata")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    statement = CapabilityStatement.model_validate(body)
    assert statement.fhirVersion == "4.0.1"
    assert statement.kind == "instance"
    assert list(statement.format) == ["json"]
    (rest,) = body["rest"]
    assert rest["mode"] == "server"
    listed = {
        op["name"]: (resource["type"], op)
        for resource in rest["resource"]
        for op in resource["operation"]
    }
    assert set(listed) == set(EXPECTED)
    for code, (resource_type, op) in listed.items():
        expected_type, base, scope = EXPECTED[code]
        assert resource_type == expected_type
        assert f"scope `{scope}`" in op["documentation"]
        definition = anonymous.get(_local(op["definition"]))
        assert definition.status_code == 200, definition.text
        parsed = OperationDefinition.model_validate(definition.json())
        assert parsed.url == op["definition"]
        assert parsed.code == code
        assert parsed.base == base
        assert list(parsed.resource) == [resource_type]
        assert parsed.type is True
        assert parsed.instance is False


def test_security_names_smart_backend_services_as_discovery_does(
    anonymous: httpx.Client,
) -> None:
    smart = anonymous.get("/.well-known/smart-configuration").json()
    security = anonymous.get("/fhir/metadata").json()["rest"][0]["security"]
    codes = {c["code"] for s in security["service"] for c in s["coding"]}
    assert codes == {"SMART-on-FHIR"}
    (uris,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    assert {e["url"]: e["valueUri"] for e in uris["extension"]} == {
        "token": smart["token_endpoint"]
    }
    assert smart["token_endpoint"] == f"{PUBLIC_URL}/oauth/token"
    for said in ("client_credentials", "private_key_jwt", "/.well-known/smart-configuration"):
        assert said in security["description"]


def test_the_member_match_definition_has_the_parts_the_parser_reads(
    anonymous: httpx.Client,
) -> None:
    """HRex's parameter names, and the Consent required as this server requires it by default."""
    body = anonymous.get("/fhir/OperationDefinition/member-match").json()
    params = {(p["name"], p["use"]): p for p in body["parameter"]}
    assert set(params) == {
        ("MemberPatient", "in"),
        ("CoverageToMatch", "in"),
        ("CoverageToLink", "in"),
        ("Consent", "in"),
        ("MemberIdentifier", "out"),
        ("MemberId", "out"),
    }
    assert params[("Consent", "in")]["min"] == 1
    bulk = anonymous.get("/fhir/OperationDefinition/bulk-member-match").json()
    (member_bundle,) = [p for p in bulk["parameter"] if p["name"] == "MemberBundle"]
    assert [p["name"] for p in member_bundle["part"]] == [
        "MemberPatient",
        "CoverageToMatch",
        "CoverageToLink",
        "Consent",
    ]
    assert "10,000" in member_bundle["documentation"]  # IDENTITY_BULK_MATCH_MAX_MEMBERS


@pytest.mark.parametrize(
    ("require_consent", "minimum"), [(True, 1), (False, 0)], ids=["required", "optional"]
)
def test_the_consents_cardinality_follows_the_setting(require_consent: bool, minimum: int) -> None:
    limits = Limits(require_consent=require_consent, bulk_max_members=10)
    for operation in (MEMBER_MATCH, BULK_MEMBER_MATCH):
        body: dict[str, Any] = operation_definition(
            operation, base_url="https://x", version="1", limits=limits
        )
        OperationDefinition.model_validate(body)
        params = body["parameter"]
        flat = params + [q for p in params for q in p.get("part", [])]
        assert [p["min"] for p in flat if p["name"] == "Consent"] == [minimum]


def test_only_mounted_operations_are_listed() -> None:
    app = FastAPI()
    app.include_router(exchange_router)
    app.include_router(patient_match_router)
    listed = {(m.operation, m.scope) for m in mounted_operations(app.routes)}
    assert listed == {(MEMBER_MATCH, "match"), (PATIENT_MATCH, "members:search")}


@pytest.mark.parametrize("operation_id", ["nope", "Patient", "member-match%00"])
def test_an_unknown_definition_is_a_404_operation_outcome(
    anonymous: httpx.Client, operation_id: str
) -> None:
    r = anonymous.get(f"/fhir/OperationDefinition/{operation_id}")
    assert r.status_code in (404, 422), r.text
    assert r.json()["resourceType"] == "OperationOutcome"
