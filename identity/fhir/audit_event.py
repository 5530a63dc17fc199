"""Audit events as FHIR R4 AuditEvent resources, and a page of them as a searchset Bundle.

Identifiers only, like the table: the client, the tenant, the objects' ids, the request id and
the policy version. Codes come from the standard value sets where one fits (DICOM for "a patient
record was used", HL7's rest type otherwise); our own action name rides along as the subtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from identity.audit.chain import utc_iso
from identity.models import AuditEvent

OUR_SYSTEMS = "https://identity.example/fhir/"
ACTION_SYSTEM = OUR_SYSTEMS + "audit-action"
CLIENT_SYSTEM = OUR_SYSTEMS + "client"
PERSON_SYSTEM = OUR_SYSTEMS + "person"  # a signed-in person's user name (the workbench)
SERVICE_SYSTEM = OUR_SYSTEMS + "service"
SERVICE_NAME = "identity"

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

PATIENT_RECORD = {"system": DCM, "code": "110110", "display": "Patient Record"}
REST = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
# Actions on these nouns use a member's record; the rest (audit export, denials) are plain REST.
MEMBER_DATA = frozenset(
    {"match", "decision", "review", "remembered", "token", "member", "patient", "gate"}
)

# The verb of an action → FHIR audit-event-action: Create, Read, Update, Delete, Execute.
# Searches and exports are Execute, as the value set says for queries.
ACTION_CODE = {
    "create": "C",
    "issue": "C",
    "read": "R",
    "update": "U",
    "claim": "U",
    "release": "U",
    "assign": "U",
    "decide": "U",
    "undo": "U",
    "resolve": "U",
    "view": "R",
    "history": "R",
    "revoke": "U",
    "delete": "D",
}
# FHIR audit-event-outcome: 0 success, 4 minor failure (refused, as expected), 8 serious failure.
OUTCOME_CODE = {"success": "0", "error": "8"}

# object_type → audit-entity-type: a member is a Person (1), anything of ours a System Object (2).
PERSON = {"system": ENTITY_TYPE, "code": "1", "display": "Person"}
SYSTEM_OBJECT = {"system": ENTITY_TYPE, "code": "2", "display": "System Object"}


def audit_event_resource(event: AuditEvent) -> dict[str, Any]:
    noun, _, verb = event.action.partition(".")
    outcome_desc = (
        event.outcome
        if event.http_status is None
        else (f"{event.outcome} (HTTP {event.http_status})")
    )
    return {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": PATIENT_RECORD if noun in MEMBER_DATA else REST,
        "subtype": [{"system": ACTION_SYSTEM, "code": event.action}],
        "action": ACTION_CODE.get(verb, "E"),
        "recorded": utc_iso(event.occurred_at),
        "outcome": OUTCOME_CODE.get(event.outcome, "4"),
        "outcomeDesc": outcome_desc,
        "agent": _agents(event),
        "source": {
            "site": event.tenant_id,
            "observer": {
                "identifier": {"system": SERVICE_SYSTEM, "value": SERVICE_NAME},
                "display": SERVICE_NAME,
            },
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        **_entities(event),
    }


def _agents(event: AuditEvent) -> list[dict[str, Any]]:
    """The requestor: the signed-in person when one acted (the client they came through, if
    any, beside them), else the client."""
    if event.person is None:
        return [_agent(event.client_id)]
    person = {
        "requestor": True,
        "who": {"identifier": {"system": PERSON_SYSTEM, "value": event.person}},
    }
    if event.client_id is None:
        return [person]
    return [person, {**_agent(event.client_id), "requestor": False}]


def _agent(client_id: str | None) -> dict[str, Any]:
    if client_id is None:  # refused before a token named the caller
        return {"requestor": True, "who": {"display": "unauthenticated caller"}}
    return {"requestor": True, "who": {"identifier": {"system": CLIENT_SYSTEM, "value": client_id}}}


def _entities(event: AuditEvent) -> dict[str, Any]:
    """One entity per object id, each carrying the request id and policy version as details;
    with no objects (a list, a denial), one entity with the details alone."""
    details = [
        {"type": name, "valueString": value}
        for name, value in (
            ("request-id", event.request_id),
            ("policy-version", event.policy_version),
        )
        if value
    ]
    kind = PERSON if event.object_type == "member" else SYSTEM_OBJECT
    entities: list[dict[str, Any]] = [
        {
            "what": {
                "identifier": {
                    "system": OUR_SYSTEMS + (event.object_type or "object"),
                    "value": oid,
                }
            },
            "type": kind,
            **({"detail": details} if details else {}),
        }
        for oid in event.object_ids
    ]
    if not entities and details:
        entities = [{"detail": details}]
    return {"entity": entities} if entities else {}


def audit_bundle(
    events: Sequence[AuditEvent], *, self_url: str, next_url: str | None
) -> dict[str, Any]:
    """A searchset Bundle of one page, with the link to the next page when there is one."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {"resource": audit_event_resource(e), "search": {"mode": "match"}} for e in events
        ],
    }
