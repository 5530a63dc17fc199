"""FHIR R4 renderings: a member's Patient and Coverage, and the Patient/Coverage of a query.

Master Patients carry the member id (identifier type MB, system MEMBER_ID_SYSTEM) and the SSN
(system US_SSN_SYSTEM); query Patients never carry the member id. Coverages follow R4 (status,
subscriberId, beneficiary, relationship, period, payor) and validate with fhir.resources' R4B
model, which is what the loader parses them with.
"""

from __future__ import annotations

from typing import Any

from identity.synthetic.model import Address, CoverageInfo, Person, SyntheticMember

MEMBER_ID_SYSTEM = "urn:identity:sample-payer:member-id"
US_SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"

# How a query writes a phone number: E.164 (as the master has it) or as people type them.
PHONE_STYLES = ("e164", "parens", "dashes", "dots", "digits")

Json = dict[str, Any]

_MB_TYPE: Json = {"coding": [{"system": V2_0203, "code": "MB"}]}
_SS_TYPE: Json = {"coding": [{"system": V2_0203, "code": "SS"}]}


def patient_id(member_id: str) -> str:
    return f"pat-{member_id}"


def format_phone(e164: str, style: str) -> str:
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    if style == "parens":
        return f"({area}) {exchange}-{line}"
    if style == "dashes":
        return f"{area}-{exchange}-{line}"
    if style == "dots":
        return f"{area}.{exchange}.{line}"
    if style == "digits":
        return f"{area}{exchange}{line}"
    return e164


def _names(person: Person, *, with_previous: bool) -> list[Json]:
    given = [person.given] if person.middle is None else [person.given, person.middle]
    official: Json = {"use": "official", "family": person.family, "given": given}
    if person.suffix:
        official["suffix"] = [person.suffix]
    names = [official]
    if with_previous and person.previous_family:
        use = "maiden" if person.sex == "female" else "old"
        names.append({"use": use, "family": person.previous_family, "given": given})
    return names


def _address(address: Address) -> Json:
    lines = [address.line1] if address.line2 is None else [address.line1, address.line2]
    return {
        "use": "home",
        "type": "physical",
        "line": lines,
        "city": address.city,
        "state": address.state,
        "postalCode": address.zip,
        "country": "US",
    }


def _telecom(person: Person, phone_style: str) -> list[Json]:
    telecom: list[Json] = []
    if person.phone:
        telecom.append(
            {"system": "phone", "value": format_phone(person.phone, phone_style), "use": "home"}
        )
    if person.email:
        telecom.append({"system": "email", "value": person.email, "use": "home"})
    return telecom


def _ssn_identifier(ssn: str, dashes: bool) -> Json:
    value = f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}" if dashes else ssn
    return {"use": "official", "type": _SS_TYPE, "system": US_SSN_SYSTEM, "value": value}


def _patient(
    person: Person,
    resource_id: str,
    identifiers: list[Json],
    *,
    with_previous: bool,
    phone_style: str = "e164",
) -> Json:
    patient: Json = {"resourceType": "Patient", "id": resource_id}
    if identifiers:
        patient["identifier"] = identifiers
    patient["name"] = _names(person, with_previous=with_previous)
    patient["gender"] = person.sex
    patient["birthDate"] = person.birth_date.isoformat()
    telecom = _telecom(person, phone_style)
    if telecom:
        patient["telecom"] = telecom
    patient["address"] = [_address(person.address)]
    return patient


def member_patient(member: SyntheticMember) -> Json:
    identifiers: list[Json] = [
        {"use": "usual", "type": _MB_TYPE, "system": MEMBER_ID_SYSTEM, "value": member.member_id}
    ]
    if member.person.ssn:
        identifiers.append(_ssn_identifier(member.person.ssn, dashes=False))
    return _patient(member.person, patient_id(member.member_id), identifiers, with_previous=True)


def _coverage(
    coverage: CoverageInfo, resource_id: str | None, beneficiary: str, *, period: bool
) -> Json:
    resource: Json = {"resourceType": "Coverage"}
    if resource_id is not None:
        resource["id"] = resource_id
    resource["status"] = "active"
    resource["subscriberId"] = coverage.subscriber_id
    resource["beneficiary"] = {"reference": f"Patient/{beneficiary}"}
    resource["relationship"] = {
        "coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": coverage.relationship}]
    }
    if period:
        span: Json = {"start": coverage.start.isoformat()}
        if coverage.end is not None:
            span["end"] = coverage.end.isoformat()
        resource["period"] = span
    resource["payor"] = [{"display": coverage.payor}]
    return resource


def member_coverage(member: SyntheticMember) -> Json:
    return _coverage(
        member.coverage, f"cov-{member.member_id}", patient_id(member.member_id), period=True
    )


def query_patient(
    person: Person, query_id: str, *, phone_style: str = "e164", ssn_dashes: bool = False
) -> Json:
    """The Patient of a match request: what the person says, no member id."""
    identifiers = [_ssn_identifier(person.ssn, ssn_dashes)] if person.ssn else []
    return _patient(person, query_id, identifiers, with_previous=False, phone_style=phone_style)


def query_coverage(coverage: CoverageInfo, query_id: str) -> Json:
    """What the insurance card says: subscriber id, relationship, payor (no period)."""
    return _coverage(coverage, None, query_id, period=False)
