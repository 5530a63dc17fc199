"""Readable builders for test people and FHIR payloads (all synthetic)."""

from __future__ import annotations

from typing import Any

from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.standardize import standardize

MB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}


def person(
    given: str | None = "Jordan",
    family: str | None = "Okafor",
    born: str | None = "1980-04-02",
    *,
    sex: str | None = "male",
    suffix: str | None = None,
    street: str | None = "48 Orchard Street",
    zip_code: str | None = "02143",
    phone: str | None = None,
    email: str | None = None,
    ssn: str | None = None,
    member_id: str | None = None,
    subscriber_id: str | None = None,
    maiden: str | None = None,
) -> StandardRecord:
    names = [
        RawName(
            given=(given,) if given else (),
            family=family,
            suffix=(suffix,) if suffix else (),
            use="official",
        )
    ]
    if maiden:
        names.append(RawName(given=(given,) if given else (), family=maiden, use="maiden"))
    address = RawAddress(
        lines=(street,) if street else (),
        city="Somerville",
        state="MA",
        postal_code=zip_code,
        use="home",
    )
    raw = RawDemographics(
        names=tuple(names),
        birth_date=born,
        gender=sex,
        phones=(phone,) if phone else (),
        emails=(email,) if email else (),
        addresses=(address,) if street or zip_code else (),
        ssn=ssn,
        member_id=member_id,
        subscriber_ids=(subscriber_id,) if subscriber_id else (),
    )
    return standardize(raw)


def fhir_patient(
    given: str = "Jordan",
    family: str = "Okafor",
    born: str = "1980-04-02",
    *,
    gender: str = "male",
    member_id: str | None = None,
    ssn: str | None = None,
    phone: str | None = None,
    street: str | None = None,
    zip_code: str | None = None,
    suffix: str | None = None,
    maiden: str | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": born,
    }
    if resource_id:
        patient["id"] = resource_id
    if suffix:
        patient["name"][0]["suffix"] = [suffix]
    if maiden:
        patient["name"].append({"use": "maiden", "family": maiden, "given": [given]})
    identifiers = []
    if member_id:
        identifiers.append({"type": MB, "system": "urn:test:member-id", "value": member_id})
    if ssn:
        identifiers.append({"system": "http://hl7.org/fhir/sid/us-ssn", "value": ssn})
    if identifiers:
        patient["identifier"] = identifiers
    if phone:
        patient["telecom"] = [{"system": "phone", "value": phone, "use": "home"}]
    if street or zip_code:
        patient["address"] = [
            {
                "use": "home",
                "line": [street] if street else [],
                "city": "Somerville",
                "state": "MA",
                "postalCode": zip_code,
            }
        ]
    return patient


def fhir_coverage(
    subscriber_id: str, patient_ref: str = "Patient/1", relationship: str = "self"
) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": subscriber_id,
        "beneficiary": {"reference": patient_ref},
        "relationship": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                    "code": relationship,
                }
            ]
        },
        "payor": [{"display": "Test Health Plan"}],
    }
