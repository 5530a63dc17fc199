"""Which retrievals stay within one member's compartment. Pure.

Allowed, for the patient a match token names, and nothing else:
    GET Patient/{id}
    GET Patient/{id}/$everything
    GET {Type}?patient={id}            (or subject=; the value `{id}` or `Patient/{id}`)

Refused besides: every other method and path; searches of Patient itself (a Patient search with
an unknown `patient` parameter would, on a lenient server, return everyone); OR lists (a comma in
the value); modifiers and chains on patient/subject; and parameters that reach beyond the
compartment (`_include`, `_revinclude`, `_has`, …) or hide what the label check reads
(`_elements`, `_summary` may drop `meta.security`; `_format` may ask for XML the gate cannot read).

The upstream request is rebuilt from what was checked here, never forwarded raw: the FHIR server
sees exactly the path and parameters that were approved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from identity.gate.schemas import Interaction

RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
PATIENT_PARAMETERS = ("patient", "subject")
REFUSED_PARAMETERS = frozenset(
    {
        "_include",
        "_revinclude",
        "_has",
        "_contained",
        "_containedType",
        "_query",
        "_filter",
        "_list",
        "_elements",
        "_summary",
        "_format",
    }
)
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([^/]+)")
# Elements through which a resource names the patient it is about.
_SUBJECT_ELEMENTS = ("subject", "patient", "beneficiary")


class Refused(Exception):
    """The request leaves the compartment; `reason` is a code, the message safe to return."""

    def __init__(self, reason: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


@dataclass(frozen=True, slots=True)
class Access:
    interaction: Interaction
    path: str  # relative to the FHIR base, percent-encoded: "Patient/p1", "Observation"
    params: tuple[tuple[str, str], ...]


def interaction_of(method: str, path: str) -> Interaction:
    """What a request attempts, for the audit trail, before anything is checked."""
    parts = path.strip("/").split("/")
    if method == "GET" and len(parts) == 2 and parts[0] == "Patient":
        return "read"
    if (
        method == "GET"
        and len(parts) == 3
        and parts[:1] == ["Patient"]
        and parts[2] == ("$everything")
    ):
        return "everything"
    if method == "GET" and len(parts) == 1 and RESOURCE_TYPE.match(parts[0]):
        return "search"
    return "other"


def authorize(method: str, path: str, params: Sequence[tuple[str, str]], patient_id: str) -> Access:
    """The approved upstream request, or Refused."""
    if method != "GET":
        raise Refused("method-not-allowed", "the gate allows retrievals (GET) only", 405)
    _check_parameters(params)
    parts = path.strip("/").split("/")
    kind = interaction_of(method, path)
    if kind in ("read", "everything"):
        if parts[1] != patient_id:
            raise Refused("outside-compartment", "the match token is for another patient")
        base = f"Patient/{quote(patient_id, safe='')}"
        upstream = base if kind == "read" else f"{base}/$everything"
        return Access(kind, upstream, tuple(params))
    if kind == "search":
        if parts[0] == "Patient":
            raise Refused("outside-compartment", "search Patient by reading Patient/{id} instead")
        _check_patient_parameters(params, patient_id)
        return Access(kind, parts[0], tuple(params))
    raise Refused(
        "outside-compartment",
        "only Patient/{id}, Patient/{id}/$everything and searches by patient or subject pass",
    )


def _check_parameters(params: Sequence[tuple[str, str]]) -> None:
    for name, _ in params:
        base = name.split(":", 1)[0]
        if base in REFUSED_PARAMETERS:
            raise Refused("unsupported-parameter", f"the parameter {base} is not allowed")
        if "." in name:
            raise Refused("unsupported-parameter", "chained parameters are not allowed")
        if base in PATIENT_PARAMETERS and base != name:
            raise Refused("unsupported-parameter", f"modifiers on {base} are not allowed")


def _check_patient_parameters(params: Sequence[tuple[str, str]], patient_id: str) -> None:
    allowed = {patient_id, f"Patient/{patient_id}"}
    values = [value for name, value in params if name in PATIENT_PARAMETERS]
    if not values:
        raise Refused("outside-compartment", "a search needs patient= or subject=")
    if any(value not in allowed for value in values):
        raise Refused("outside-compartment", "the search names another patient")


def patient_references(resource: Mapping[str, Any]) -> set[str]:
    """The ids of the patients a resource names through its subject, patient or beneficiary."""
    found: set[str] = set()
    for element in _SUBJECT_ELEMENTS:
        value = resource.get(element)
        for ref in value if isinstance(value, list) else [value]:
            text = ref.get("reference") if isinstance(ref, Mapping) else None
            if isinstance(text, str):
                match = _PATIENT_REFERENCE.search(text)
                if match:
                    found.add(match.group(1))
    return found


def within(resource: Mapping[str, Any], patient_id: str) -> bool:
    """Defence in depth on the answer: a Patient must be ours, and nothing may name another
    patient as its subject. (The request was already confined; this catches a server that
    ignored a parameter.)"""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") == patient_id
    return patient_references(resource) <= {patient_id}
