"""The parser requests had before the lean models (identity/fhir/lean.py): fhir.resources' R4B
Patient and Coverage. Kept only as the oracle the lean parser is compared with."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from identity.errors import FieldError
from identity.fhir.demographics import validation_errors


def _errors(prefix: str, exc: ValidationError) -> list[FieldError]:
    return validation_errors(prefix, [dict(e) for e in exc.errors(include_input=True)])


def parse_patient(obj: Any, pointer: str = "/patient") -> tuple[Patient | None, list[FieldError]]:
    if not isinstance(obj, dict) or obj.get("resourceType") != "Patient":
        return None, [FieldError(pointer, "must be a FHIR Patient resource")]
    try:
        return Patient.model_validate(obj), []
    except ValidationError as exc:
        return None, _errors(pointer, exc)


def parse_coverage(
    obj: Any, pointer: str = "/coverage"
) -> tuple[Coverage | None, list[FieldError]]:
    if not isinstance(obj, dict) or obj.get("resourceType") != "Coverage":
        return None, [FieldError(pointer, "must be a FHIR Coverage resource")]
    try:
        return Coverage.model_validate(obj), []
    except ValidationError as exc:
        return None, _errors(pointer, exc)
