"""The CapabilityStatement served at GET /fhir/metadata (pure): what this FHIR endpoint does, from
the operations the app mounts and how a client gets a token.

The operations come from the route table (identity/fhir/metadata_endpoints.py), each with the
scope its route declares; the security section from the SMART discovery document, so the two never
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from identity.fhir.operations import Operation

FHIR_VERSION = "4.0.1"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


@dataclass(frozen=True, slots=True)
class Mounted:
    """An operation the app serves, with the scope its route requires."""

    operation: Operation
    scope: str


def _security(smart: Mapping[str, Any], discovery_url: str) -> dict[str, Any]:
    grants = ", ".join(smart["grant_types_supported"])
    methods = ", ".join(smart["token_endpoint_auth_methods_supported"])
    algorithms = ", ".join(smart["token_endpoint_auth_signing_alg_values_supported"])
    # SMART's oauth-uris extension names the token endpoint. Its `authorize` is left out: this
    # server has no user-facing authorisation (Backend Services only), and SMART 2 makes the
    # discovery document, which says so, the primary source.
    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": "token", "valueUri": smart["token_endpoint"]}],
            }
        ],
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": SECURITY_SERVICE,
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ],
                "text": "SMART Backend Services",
            }
        ],
        "description": (
            f"SMART Backend Services. Token endpoint {smart['token_endpoint']}; grant types: "
            f"{grants}; client authentication: {methods} (a signed assertion, {algorithms}); "
            f"discovery: {discovery_url}. Each operation names the scope it needs. Register a "
            "client's public key set with the operator first."
        ),
    }


def capability_statement(
    mounted: Sequence[Mounted],
    *,
    base_url: str,
    software_version: str,
    smart: Mapping[str, Any],
    today: date,
) -> dict[str, Any]:
    """A CapabilityStatement (FHIR R4, instance) listing `mounted` by resource type."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for item in mounted:
        op = item.operation
        by_type.setdefault(op.resource, []).append(
            {
                "name": op.code,
                "definition": base_url + op.path,
                "documentation": f"{op.title}; scope `{item.scope}`.",
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "id": "identity",
        "url": f"{base_url}/fhir/metadata",
        "version": software_version,
        "name": "IdentityMemberMatch",
        "title": "identity: member identity resolution for payers",
        "status": "active",
        "experimental": False,
        "date": today.isoformat(),
        "kind": "instance",
        "software": {"name": "identity", "version": software_version},
        "implementation": {
            "description": "Member identity resolution (HRex $member-match, PDex "
            "$bulk-member-match, Patient/$match)",
            "url": f"{base_url}/fhir",
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Operations only: member records are not read or searched here "
                "(a FHIR server behind the gate serves them to holders of a match token).",
                "security": _security(smart, f"{base_url}/.well-known/smart-configuration"),
                "resource": [
                    {"type": resource_type, "operation": operations}
                    for resource_type, operations in sorted(by_type.items())
                ],
            }
        ],
    }
