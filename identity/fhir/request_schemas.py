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
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Patient"]},
        "identifier": {"type": "array", "items": _IDENTIFIER},
        "name": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "use": _STRING,
                    "family": _STRING,
                    "given": {"type": "array", "items": _STRING},
                },
            },
        },
        "gender": {"type": "string", "enum": ["male", "female", "other", "unknown"]},
        "birthDate": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
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


def request_body(schema: dict[str, Any], *, fhir: bool) -> dict[str, Any]:
    """`openapi_extra` for a route reading a raw JSON body: its schema under each accepted type."""
    types = [FHIR_JSON, "application/json"] if fhir else ["application/json"]
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": schema} for media_type in types},
        }
    }


FHIR_PARAMETERS_BODY = request_body(PARAMETERS, fhir=True)
MATCH_REQUEST_BODY = request_body(MATCH_REQUEST, fhir=False)
