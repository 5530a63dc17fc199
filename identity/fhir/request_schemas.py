"""Request-body schemas for the routes that read their body as raw JSON (FHIR Parameters and the
/v1/match envelope), for the OpenAPI description.

Those routes parse the body themselves (identity/fhir/*) so that every problem is reported at once
as a pointer, never a value; the schemas here only describe the shape, so a client (or a fuzzer
such as schemathesis) knows what to send. They are deliberately loose where FHIR is open: a
resource is an object with a `resourceType`, its other elements are checked by the parsers.
"""

from __future__ import annotations

from typing import Any

FHIR_JSON = "application/fhir+json"

_STRING: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
_IDENTIFIER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "system": _STRING,
        "value": _STRING,
        "type": {
            "type": "object",
            "properties": {
                "coding": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"system": _STRING, "code": _STRING},
                    },
                }
            },
        },
    },
}
PATIENT: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "name", "birthDate"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Patient"]},
        "identifier": {"type": "array", "items": _IDENTIFIER},
        "name": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["family", "given"],
                "properties": {
                    "use": _STRING,
                    "family": _STRING,
                    "given": {"type": "array", "minItems": 1, "items": _STRING},
                },
            },
        },
        "gender": {"type": "string", "enum": ["male", "female", "other", "unknown"]},
        "birthDate": {"type": "string", "format": "date"},
        "telecom": {
            "type": "array",
            "items": {"type": "object", "properties": {"system": _STRING, "value": _STRING}},
        },
        "address": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "array", "items": _STRING},
                    "city": _STRING,
                    "state": _STRING,
                    "postalCode": _STRING,
                },
            },
        },
    },
}
COVERAGE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Coverage"]},
        "status": _STRING,
        "subscriberId": _STRING,
        "identifier": {"type": "array", "items": _IDENTIFIER},
        "beneficiary": {"type": "object", "properties": {"reference": _STRING}},
        "payor": {"type": "array", "items": {"type": "object"}},
    },
}
_RESOURCE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": _STRING},
}
_PARAMETER: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _STRING,
        "resource": _RESOURCE,
        "valueBoolean": {"type": "boolean"},
        "valueInteger": {"type": "integer"},
        "valueString": _STRING,
        "part": {"type": "array", "items": {"type": "object"}},
    },
}
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "parameter"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Parameters"]},
        "parameter": {"type": "array", "items": _PARAMETER},
    },
}
MATCH_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["patient"],
    "properties": {"patient": PATIENT, "coverage": COVERAGE},
}


def request_body(
    schema: dict[str, Any], *, fhir: bool, example: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`openapi_extra` for a route reading a raw JSON body: its schema (and a synthetic example,
    which a fuzzer sends first) under each accepted media type."""
    types = [FHIR_JSON, "application/json"] if fhir else ["application/json"]
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"requestBody": {"required": True, "content": dict.fromkeys(types, media)}}


# Synthetic examples (the README's showcase member, the HRex example's shape).
_EXAMPLE_PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"family": "Garcia Lopez", "given": ["Maria"]}],
    "gender": "female",
    "birthDate": "1984-03-12",
}
_MB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}
_EXAMPLE_COVERAGE: dict[str, Any] = {
    "resourceType": "Coverage",
    "status": "active",
    "subscriberId": "S9000000001",
    "identifier": [{"type": _MB, "system": "http://example.org/old-payer", "value": "M900000001"}],
    "beneficiary": {"reference": "Patient/1"},
    "payor": [{"display": "Old Health Plan"}],
}
_EXAMPLE_CONSENT: dict[str, Any] = {
    "resourceType": "Consent",
    "status": "active",
    "scope": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy",
            }
        ]
    },
    "category": [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}
            ]
        }
    ],
    "patient": {"reference": "Patient/1"},
    "performer": [{"reference": "Patient/1"}],
    "policy": [
        {"uri": "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular"}
    ],
    "provision": {
        "type": "permit",
        "period": {"start": "2026-01-01", "end": "2027-12-31"},
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "performer",
                        }
                    ]
                },
                "reference": {
                    "identifier": {
                        "system": "http://hl7.org/fhir/sid/us-npi",
                        "value": "0123456789",
                    }
                },
            }
        ],
    },
}
_MEMBER_PARTS: list[dict[str, Any]] = [
    {"name": "MemberPatient", "resource": _EXAMPLE_PATIENT},
    {"name": "CoverageToMatch", "resource": _EXAMPLE_COVERAGE},
    {"name": "CoverageToLink", "resource": _EXAMPLE_COVERAGE},
    {"name": "Consent", "resource": _EXAMPLE_CONSENT},
]

MATCH_REQUEST_BODY = request_body(
    MATCH_REQUEST,
    fhir=False,
    example={"patient": _EXAMPLE_PATIENT, "coverage": _EXAMPLE_COVERAGE},
)
PATIENT_MATCH_BODY = request_body(
    PARAMETERS,
    fhir=True,
    example={
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": _EXAMPLE_PATIENT},
            {"name": "count", "valueInteger": 5},
        ],
    },
)
MEMBER_MATCH_BODY = request_body(
    PARAMETERS, fhir=True, example={"resourceType": "Parameters", "parameter": _MEMBER_PARTS}
)
BULK_MEMBER_MATCH_BODY = request_body(
    PARAMETERS,
    fhir=True,
    example={
        "resourceType": "Parameters",
        "parameter": [{"name": "MemberBundle", "part": _MEMBER_PARTS}],
    },
)
