"""HRex $member-match Parameters in and out (1.0.0, 1.1.0 and 1.2.0 shapes).

In: MemberPatient (Patient), CoverageToMatch (the old payer's coverage: ours), CoverageToLink
(the new payer's, optional, kept as given) and Consent (optional in HRex 1.1; 1.0.0 has none).
Unknown parameters and extensions are tolerated, as FHIR asks; beneficiary references may be
local (`Patient/1`) or absolute.

What the profiles require is checked here and reported all at once as
`insufficient-demographics`: a family and given name, a birth date, a gender or birth sex, and a
member or subscriber id on CoverageToMatch (a purely demographic member match is not offered).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from identity.errors import FieldError
from identity.fhir.demographics import (
    SSN_SYSTEM,
    check_limits,
    check_required,
    parse_coverage,
    parse_patient,
    to_raw,
)
from identity.matching.record import RawDemographics

UMB = {"system": "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp", "code": "UMB"}
BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
_BIRTH_SEX_GENDER = {"F": "female", "M": "male"}
MAX_PARAMETERS = 20


@dataclass(frozen=True, slots=True)
class MemberMatchRequest:
    raw: RawDemographics
    consent: dict[str, Any] | None
    coverage_to_link: dict[str, Any] | None
    card_ids: tuple[str, ...]  # the coverage ids offered, for the brute-force guard

    @property
    def card_key(self) -> str:
        return hashlib.sha256("\x1f".join(sorted(self.card_ids)).encode()).hexdigest()


def _named(body: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[FieldError]]:
    params = body.get("parameter")
    if not isinstance(params, list) or not params:
        return {}, [FieldError("/parameter", "a Parameters resource with parameters is required")]
    if len(params) > MAX_PARAMETERS:
        return {}, [FieldError("/parameter", f"at most {MAX_PARAMETERS} parameters")]
    named: dict[str, dict[str, Any]] = {}
    errors: list[FieldError] = []
    for index, param in enumerate(params):
        name = param.get("name") if isinstance(param, dict) else None
        if not isinstance(name, str):
            errors.append(FieldError(f"/parameter/{index}/name", "every parameter needs a name"))
        elif name in named:
            errors.append(FieldError(f"/parameter/{index}", "a parameter is repeated"))
        else:
            named[name] = param
    return named, errors


def _resource(
    named: dict[str, dict[str, Any]], name: str, kind: str
) -> tuple[Any, str, FieldError | None]:
    param = named.get(name)
    pointer = f"/parameter/{name}/resource"
    if param is None:
        return None, pointer, None
    resource = param.get("resource")
    if not isinstance(resource, dict) or resource.get("resourceType") != kind:
        return None, pointer, FieldError(pointer, f"must be a {kind}")
    return resource, pointer, None


def _coverage_ids(coverage: Any) -> tuple[str | None, tuple[str, ...]]:
    """(member id, every id) from CoverageToMatch: an MB-typed identifier is the member id; an
    untyped one (HRex 1.0.0's examples) counts as the member id when no typed one exists."""
    typed: list[str] = []
    untyped: list[str] = []
    for ident in coverage.identifier or ():
        if not ident.value:
            continue
        codes = {c.code for c in (ident.type.coding or ())} if ident.type else set()
        if "MB" in codes:
            typed.append(ident.value)
        elif not codes:
            untyped.append(ident.value)
    member_id = next(iter(typed + untyped), None)
    ids = tuple(typed + untyped + ([coverage.subscriberId] if coverage.subscriberId else []))
    return member_id, ids


def _gender(patient: dict[str, Any]) -> str | None:
    gender = patient.get("gender")
    if isinstance(gender, str):
        return gender
    for ext in patient.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == BIRTH_SEX:
            return _BIRTH_SEX_GENDER.get(str(ext.get("valueCode")), "unknown")
    return None


def parse_member_match(
    body: Any, today: date
) -> tuple[MemberMatchRequest | None, list[FieldError]]:
    """The request, or every problem with it (pointers name parameters, never values)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return None, [FieldError("", "the body must be a FHIR Parameters resource")]
    named, errors = _named(body)
    patient_json, p_ptr, p_err = _resource(named, "MemberPatient", "Patient")
    coverage_json, c_ptr, c_err = _resource(named, "CoverageToMatch", "Coverage")
    link_json, _, l_err = _resource(named, "CoverageToLink", "Coverage")
    consent_json, _, k_err = _resource(named, "Consent", "Consent")
    errors += [e for e in (p_err, c_err, l_err, k_err) if e is not None]
    if patient_json is None and p_err is None:
        errors.append(FieldError("/parameter/MemberPatient", "MemberPatient is required"))
    if coverage_json is None and c_err is None:
        errors.append(FieldError("/parameter/CoverageToMatch", "CoverageToMatch is required"))
    patient = coverage = None
    if patient_json is not None:
        gender = _gender(patient_json)
        patient, problems = parse_patient({**patient_json, "gender": gender}, p_ptr)
        errors += problems
        if gender is None:
            errors.append(FieldError(f"{p_ptr}/gender", "a gender or birth sex is required"))
        if patient is not None:
            errors += check_limits(patient, p_ptr) + check_required(patient, today, p_ptr)
    member_id: str | None = None
    card_ids: tuple[str, ...] = ()
    if coverage_json is not None:
        coverage, problems = parse_coverage(coverage_json, c_ptr)
        errors += problems
        if coverage is not None:
            member_id, card_ids = _coverage_ids(coverage)
            if not card_ids:
                errors.append(FieldError(c_ptr, "a member id or subscriber id is required"))
    if errors or patient is None or coverage is None:
        return None, errors
    raw = to_raw(patient, coverage)
    # The Patient's own identifiers are the requester's (the new payer's) except an SSN; the
    # ids that name one of our members are those on CoverageToMatch.
    ssn = next(
        (i.value for i in patient.identifier or () if i.system == SSN_SYSTEM and i.value), None
    )
    raw = RawDemographics(
        names=raw.names,
        birth_date=raw.birth_date,
        gender=raw.gender,
        phones=raw.phones,
        emails=raw.emails,
        addresses=raw.addresses,
        ssn=ssn,
        member_id=member_id,
        subscriber_ids=raw.subscriber_ids,
    )
    return MemberMatchRequest(raw, consent_json, link_json, card_ids), []


def member_identifier(token: str, system: str, assigner: str) -> dict[str, Any]:
    """The UMB identifier: the match token, opaque to its holder."""
    return {
        "type": {"coding": [UMB]},
        "system": system,
        "value": token,
        "assigner": {"display": assigner},
    }


COVERAGE_STATUS_URL = "urn:identity:coverage-status"  # our extension's url (not a profile's)


def member_match_parameters(
    identifier: dict[str, Any], coverage_status: str | None = None
) -> dict[str, Any]:
    """The answer; with the matched member's coverage status (current, ended within the
    look-back...) as an extension on the MemberIdentifier part when known."""
    status = (
        {"extension": [{"url": COVERAGE_STATUS_URL, "valueCode": coverage_status}]}
        if coverage_status
        else {}
    )
    return {
        "resourceType": "Parameters",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-parameters-member-match-out"
            ]
        },
        "parameter": [
            {"name": "MemberIdentifier", **status, "valueIdentifier": identifier},
            {"name": "MemberId", "valueReference": {"type": "Patient", "identifier": identifier}},
        ],
    }
