"""FHIR R4 Patient (+ Coverage) -> RawDemographics, with the limits a request must respect.

Parsing uses the lean models of identity/fhir/lean.py (every R4 Patient and Coverage element
declared, validated in pydantic-core), so a body that is not a Patient is refused the same way
everywhere, and as fhir.resources refused it. Errors carry JSON pointers into the submitted
document and never the submitted values.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from identity.errors import FieldError
from identity.fhir import lean
from identity.fhir.lean import Coverage, Patient
from identity.matching.record import RawAddress, RawDemographics, RawName

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

# Absurd-input limits: far above any real person, far below what could hurt the service.
MAX_NAMES = 10
MAX_GIVEN = 10
MAX_NAME_CHARS = 100
MAX_TELECOM = 20
MAX_ADDRESSES = 10
MAX_TEXT_CHARS = 200
MAX_IDENTIFIERS = 20
GENDERS = frozenset({"male", "female", "other", "unknown"})  # FHIR administrative-gender


def _texts(values: list[str | None] | None) -> tuple[str, ...]:
    """A FHIR string list without its nulls (FHIR allows nulls in lists, for extensions)."""
    return tuple(v for v in values or () if v)


def _pointer(prefix: str, loc: tuple[Any, ...]) -> str:
    return prefix + "".join(f"/{p}" for p in loc)


def _safe_message(err: dict[str, Any]) -> str:
    """pydantic's message, unless it quotes the submitted value (some validators do)."""
    msg = str(err.get("msg", "invalid value"))
    value = err.get("input")
    if isinstance(value, str | int | float) and str(value) and str(value) in msg:
        return "invalid value"
    return msg


def validation_errors(prefix: str, errors: list[dict[str, Any]]) -> list[FieldError]:
    """pydantic's errors as pointers under `prefix`, without the submitted values."""
    return [FieldError(_pointer(prefix, tuple(e["loc"])), _safe_message(e)) for e in errors]


def parse_patient(obj: Any, pointer: str = "/patient") -> tuple[Patient | None, list[FieldError]]:
    if not isinstance(obj, dict) or obj.get("resourceType") != "Patient":
        return None, [FieldError(pointer, "must be a FHIR Patient resource")]
    try:
        return Patient.model_validate(obj), []
    except ValidationError as exc:
        return None, validation_errors(pointer, lean.errors(exc))


def parse_coverage(
    obj: Any, pointer: str = "/coverage"
) -> tuple[Coverage | None, list[FieldError]]:
    if not isinstance(obj, dict) or obj.get("resourceType") != "Coverage":
        return None, [FieldError(pointer, "must be a FHIR Coverage resource")]
    try:
        return Coverage.model_validate(obj), []
    except ValidationError as exc:
        return None, validation_errors(pointer, lean.errors(exc))


def _type_codes(identifier: Any) -> set[str]:
    if identifier.type is None or not identifier.type.coding:
        return set()
    return {c.code for c in identifier.type.coding if c.code}


def _is_ssn(identifier: Any) -> bool:
    return identifier.system == SSN_SYSTEM or "SS" in _type_codes(identifier)


def _is_member_id(identifier: Any) -> bool:
    return "MB" in _type_codes(identifier)


def check_limits(patient: Patient, pointer: str = "/patient") -> list[FieldError]:
    """Absurd sizes and values that the FHIR model accepts but no real member has."""
    errors: list[FieldError] = []
    if patient.gender is not None and patient.gender not in GENDERS:
        errors.append(FieldError(f"{pointer}/gender", "must be male, female, other or unknown"))
    names = patient.name or []
    if len(names) > MAX_NAMES:
        errors.append(FieldError(f"{pointer}/name", f"at most {MAX_NAMES} names"))
    for i, name in enumerate(names[:MAX_NAMES]):
        given = name.given or []
        if len(given) > MAX_GIVEN:
            errors.append(
                FieldError(f"{pointer}/name/{i}/given", f"at most {MAX_GIVEN} given names")
            )
        for j, part in enumerate(given[:MAX_GIVEN]):
            if len(part or "") > MAX_NAME_CHARS:
                errors.append(
                    FieldError(f"{pointer}/name/{i}/given/{j}", f"longer than {MAX_NAME_CHARS}")
                )
        if name.family and len(name.family) > MAX_NAME_CHARS:
            errors.append(FieldError(f"{pointer}/name/{i}/family", f"longer than {MAX_NAME_CHARS}"))
    if len(patient.telecom or []) > MAX_TELECOM:
        errors.append(FieldError(f"{pointer}/telecom", f"at most {MAX_TELECOM} entries"))
    for i, tel in enumerate((patient.telecom or [])[:MAX_TELECOM]):
        if tel.value and len(tel.value) > MAX_TEXT_CHARS:
            errors.append(FieldError(f"{pointer}/telecom/{i}/value", "too long"))
    if len(patient.address or []) > MAX_ADDRESSES:
        errors.append(FieldError(f"{pointer}/address", f"at most {MAX_ADDRESSES} addresses"))
    for i, addr in enumerate((patient.address or [])[:MAX_ADDRESSES]):
        parts = [*_texts(addr.line), addr.city or "", addr.state or "", addr.postalCode or ""]
        if any(len(p) > MAX_TEXT_CHARS for p in parts) or len(addr.line or []) > 5:
            errors.append(FieldError(f"{pointer}/address/{i}", "an address part is too long"))
    if len(patient.identifier or []) > MAX_IDENTIFIERS:
        errors.append(FieldError(f"{pointer}/identifier", f"at most {MAX_IDENTIFIERS}"))
    for i, ident in enumerate((patient.identifier or [])[:MAX_IDENTIFIERS]):
        if ident.value and len(ident.value) > 64:
            errors.append(FieldError(f"{pointer}/identifier/{i}/value", "longer than 64"))
    return errors


def check_required(patient: Patient, today: date, pointer: str = "/patient") -> list[FieldError]:
    """What a match request must carry: a given and family name and a plausible birth date."""
    errors: list[FieldError] = []
    names = patient.name or []
    if not any(n.family and n.family.strip() for n in names):
        errors.append(FieldError(f"{pointer}/name", "a family name is required"))
    if not any(any(g.strip() for g in _texts(n.given)) for n in names):
        errors.append(FieldError(f"{pointer}/name", "a given name is required"))
    born = patient.birthDate
    if born is None:
        errors.append(FieldError(f"{pointer}/birthDate", "a birth date is required"))
    elif not isinstance(born, date) or len(str(patient.birthDate)) != 10:
        errors.append(FieldError(f"{pointer}/birthDate", "a full date (YYYY-MM-DD) is required"))
    elif born > today:
        errors.append(FieldError(f"{pointer}/birthDate", "must not be in the future"))
    elif born.year < 1900:
        errors.append(FieldError(f"{pointer}/birthDate", "must not be before 1900"))
    return errors


def to_raw(patient: Patient, coverage: Coverage | None = None) -> RawDemographics:
    """Extract demographics as given; standardisation happens later, in the matching core."""
    names = tuple(
        RawName(
            given=_texts(n.given),
            family=n.family,
            suffix=_texts(n.suffix),
            prefix=_texts(n.prefix),
            use=n.use,
        )
        for n in (patient.name or ())
    )
    phones = tuple(t.value for t in patient.telecom or () if t.system == "phone" and t.value)
    emails = tuple(t.value for t in patient.telecom or () if t.system == "email" and t.value)
    addresses = tuple(
        RawAddress(
            lines=_texts(a.line),
            city=a.city,
            state=a.state,
            postal_code=a.postalCode,
            use=a.use,
        )
        for a in patient.address or ()
    )
    identifiers = list(patient.identifier or ())
    if coverage is not None:
        identifiers += list(coverage.identifier or ())
    ssn = next((i.value for i in identifiers if _is_ssn(i) and i.value), None)
    member_id = next((i.value for i in identifiers if _is_member_id(i) and i.value), None)
    subscriber_ids: tuple[str, ...] = ()
    if coverage is not None and coverage.subscriberId:
        subscriber_ids = (coverage.subscriberId,)
    return RawDemographics(
        names=names,
        birth_date=str(patient.birthDate) if patient.birthDate else None,
        gender=patient.gender,
        phones=phones,
        emails=emails,
        addresses=addresses,
        ssn=ssn,
        member_id=member_id,
        subscriber_ids=subscriber_ids,
    )
