"""The FHIR operations this service implements, described once as data, and rendered as the
OperationDefinitions it serves at /fhir/OperationDefinition/{id} (pure).

Each operation names the route that implements it, so the CapabilityStatement lists only what the
app actually mounts (identity/fhir/metadata_endpoints.py walks the route table), and the IG
definition it implements as its `base`. Parameters say what this server accepts, which is at times
stricter than the IG (a Consent is required unless IDENTITY_REQUIRE_CONSENT is off), so the limits
that come from settings are passed in, not written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from identity.fhir.patient_match import MAX_COUNT

HREX_MEMBER_MATCH = "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
PDEX_BULK_MEMBER_MATCH = "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/BulkMemberMatch"
CORE_PATIENT_MATCH = "http://hl7.org/fhir/OperationDefinition/Patient-match"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    use: str  # "in" or "out"
    min: int
    max: str
    type: str | None  # None for a parameter made of parts
    documentation: str
    parts: tuple[Param, ...] = ()

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "use": self.use,
            "min": self.min,
            "max": self.max,
            "documentation": self.documentation,
        }
        if self.type is not None:
            out["type"] = self.type
        if self.parts:
            out["part"] = [p.render() for p in self.parts]
        return out


@dataclass(frozen=True, slots=True)
class Operation:
    id: str  # served at /fhir/OperationDefinition/{id}
    code: str  # the name after `$`
    name: str  # a computer-friendly name (FHIR's OperationDefinition.name)
    title: str
    resource: str
    route: str  # the app's route that implements it
    base: str  # the definition it implements
    affects_state: bool
    description: str

    @property
    def path(self) -> str:
        return f"/fhir/OperationDefinition/{self.id}"


@dataclass(frozen=True, slots=True)
class Limits:
    """What settings decide about the operations' parameters."""

    require_consent: bool
    bulk_max_members: int


MEMBER_MATCH = Operation(
    id="member-match",
    code="member-match",
    name="MemberMatch",
    title="Member match (Da Vinci HRex)",
    resource="Patient",
    route="/fhir/Patient/$member-match",
    base=HREX_MEMBER_MATCH,
    affects_state=True,
    description=(
        "The old payer's side of payer-to-payer exchange: one confident match of the member's "
        "demographics and coverage, with a consent that can be honoured, answers a match token "
        "as MemberIdentifier (type UMB), never the member id. Anything else is a 422 "
        "OperationOutcome whose code says why (no-match, multiple-matches, pending-review, "
        "consent-invalid, insufficient-demographics), or 429 too-many-attempts."
    ),
)
BULK_MEMBER_MATCH = Operation(
    id="bulk-member-match",
    code="bulk-member-match",
    name="BulkMemberMatch",
    title="Bulk member match (Da Vinci PDex)",
    resource="Group",
    route="/fhir/Group/$bulk-member-match",
    base=PDEX_BULK_MEMBER_MATCH,
    affects_state=True,
    description=(
        "Many $member-match requests at once, in FHIR's asynchronous pattern: the kick-off answers "
        "202 with the job's status URL in Content-Location; the completed job's outputs are the "
        "result Parameters below. Each member is matched exactly as a single $member-match."
    ),
)
PATIENT_MATCH = Operation(
    id="Patient-match",
    code="match",
    name="PatientMatch",
    title="Patient match (FHIR R4)",
    resource="Patient",
    route="/fhir/Patient/$match",
    base=CORE_PATIENT_MATCH,
    affects_state=True,  # the decision is stored, and a review item opened when one is due
    description=(
        "Members who may be the Patient given, graded with the match-grade extension (certain, "
        "probable, possible, certainly-not) under the tenant's active matching policy. For "
        "internal callers: the answer carries the members' own demographics."
    ),
)
OPERATIONS: tuple[Operation, ...] = (MEMBER_MATCH, BULK_MEMBER_MATCH, PATIENT_MATCH)


def _member_match_inputs(limits: Limits) -> tuple[Param, ...]:
    consent = "required by this server" if limits.require_consent else "optional"
    return (
        Param(
            "MemberPatient",
            "in",
            1,
            "1",
            "Patient",
            "The member: given and family name, birth date, and gender or US Core birth sex.",
        ),
        Param(
            "CoverageToMatch",
            "in",
            1,
            "1",
            "Coverage",
            "The coverage this payer issued: its MB identifier (the member id) or subscriberId.",
        ),
        Param(
            "CoverageToLink",
            "in",
            0,
            "1",
            "Coverage",
            "The requesting payer's coverage; kept as sent.",
        ),
        Param(
            "Consent",
            "in",
            1 if limits.require_consent else 0,
            "1",
            "Consent",
            f"The member's HRex consent to disclosure ({consent}): active, category IDSCL, the "
            "requester named as recipient by its registered organisation identifier.",
        ),
    )


def parameters(operation: Operation, limits: Limits) -> tuple[Param, ...]:
    if operation is MEMBER_MATCH:
        return (
            *_member_match_inputs(limits),
            Param(
                "MemberIdentifier",
                "out",
                1,
                "1",
                "Identifier",
                "The match token (type UMB): opaque, bound to the requester, the member, the "
                "consent and the decision; present it to the FHIR server's gate.",
            ),
            Param("MemberId", "out", 0, "1", "Reference", "The Patient, by that identifier."),
        )
    if operation is BULK_MEMBER_MATCH:
        return (
            Param(
                "MemberBundle",
                "in",
                1,
                "*",
                None,
                f"One member's $member-match parts; at most {limits.bulk_max_members:,} a request.",
                parts=_member_match_inputs(limits),
            ),
            Param("MatchedMembers", "out", 1, "1", "Group", "Members matched, with match tokens."),
            Param("NonMatchedMembers", "out", 0, "1", "Group", "Members not matched."),
            Param(
                "ConsentConstrainedMembers",
                "out",
                0,
                "1",
                "Group",
                "Members matched whose consent cannot be honoured.",
            ),
        )
    return (
        Param("resource", "in", 1, "1", "Resource", "A Patient: name, birth date, identifiers."),
        Param(
            "onlyCertainMatches",
            "in",
            0,
            "1",
            "boolean",
            "true: the certain match alone, if there is one.",
        ),
        Param("count", "in", 0, "1", "integer", f"Most entries returned, 1 to {MAX_COUNT}."),
        Param(
            "return",
            "out",
            1,
            "1",
            "Bundle",
            "A searchset of the candidates' Patients, best first, with search.score and the "
            "match-grade extension.",
        ),
    )


def operation_definition(
    operation: Operation, *, base_url: str, version: str, limits: Limits
) -> dict[str, Any]:
    """The OperationDefinition resource (FHIR R4) this server serves for `operation`."""
    return {
        "resourceType": "OperationDefinition",
        "id": operation.id,
        "url": base_url + operation.path,
        "version": version,
        "name": operation.name,
        "title": operation.title,
        "status": "active",
        "kind": "operation",
        "description": operation.description,
        "affectsState": operation.affects_state,
        "code": operation.code,
        "base": operation.base,
        "resource": [operation.resource],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [p.render() for p in parameters(operation, limits)],
    }


def find_operation(operation_id: str) -> Operation | None:
    return next((op for op in OPERATIONS if op.id == operation_id), None)
