"""An HRex consent to vary, one rule at a time: the HRex 1.1.0 example's shape, with dates and
organisations of our own."""

from __future__ import annotations

import copy
from typing import Any

from identity.clients.organization import OrgIdentifier

NPI = "http://hl7.org/fhir/sid/us-npi"
OLD_PLAN = OrgIdentifier(NPI, "9876543210")  # the payer holding the data (source)
NEW_PLAN = OrgIdentifier(NPI, "0123456789")  # the payer asking for it (recipient)
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDSCL = {"system": ACT_CODE, "code": "IDSCL"}
POLICY = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html"

_BASE: dict[str, Any] = {
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
    "category": [{"coding": [IDSCL]}],
    "patient": {"reference": "http://example.org/Patient/example"},
    "performer": [{"reference": "http://example.org/Patient/example"}],
    "policy": [{"uri": f"{POLICY}#regular"}],
    "provision": {
        "type": "permit",
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
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
                    "identifier": {"system": NPI, "value": OLD_PLAN.value},
                    "display": "Old Health Plan",
                },
            },
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": {
                    "identifier": {"system": NPI, "value": NEW_PLAN.value},
                    "display": "New Health Plan",
                },
            },
        ],
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": "disclose",
                    }
                ]
            }
        ],
    },
}


def hrex_consent(**changes: Any) -> dict[str, Any]:
    """The example with `changes` applied; a key like `provision__period` reaches into nested
    objects, and the value `None` removes the element."""
    consent = copy.deepcopy(_BASE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = consent
        for name in parents:
            node = node[name]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return consent


def recipient_actor(system: str = NPI, value: str = NEW_PLAN.value) -> dict[str, Any]:
    return copy.deepcopy(_BASE["provision"]["actor"][1]) | {
        "reference": {"identifier": {"system": system, "value": value}}
    }


def source_actor() -> dict[str, Any]:
    return copy.deepcopy(_BASE["provision"]["actor"][0])
