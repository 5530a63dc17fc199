"""PDex 2.2.0 $bulk-member-match Parameters in and out, and the Bulk Data completion manifest.

In: 1..N `MemberBundle` parameters, each with the parts of a single $member-match
(MemberPatient, CoverageToMatch, CoverageToLink, Consent). Only the envelope is checked here, at
kick-off: a MemberBundle must carry its parts and exactly one MemberPatient Patient, because a
member's result is reported by a copy of that Patient. Everything inside a member (its
demographics, coverage, consent) is judged when the member is matched, and a problem there is
that member's result, not a refused request.

Out: the PDex result Parameters, shaped as the IG's payer-multi-member-match-out example:
`MatchedMembers`, `NonMatchedMembers` and `ConsentConstrainedMembers` Groups (type person, actual,
`code` from PdexMultiMemberMatchResultCS), each member's entity pointing at a contained copy of
the submitted Patient through the base-ext-match-parameters extension. A matched member's entity
carries the UMB identifier (the match token), never our member id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from identity.clients.organization import OrgIdentifier
from identity.errors import FieldError
from identity.fhir.member_match import member_identifier

RESULT_CS = "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/PdexMultiMemberMatchResultCS"
MATCH_PARAMETERS_EXT = (
    "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/base-ext-match-parameters"
)
OUT_PROFILE = (
    "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/"
    "pdex-parameters-multi-member-match-bundle-out"
)
MEMBER_BUNDLE = "MemberBundle"
MAX_PARTS = 20  # a MemberBundle has four named parts; room for unknown ones, not for abuse
MAX_ERRORS = 20  # a malformed envelope is reported by its first problems, not all 10,000

MATCH, NOMATCH, CONSENT = "match", "nomatch", "consentconstraint"
# (result code, output parameter name, display, narrative)
GROUPS = (
    (MATCH, "MatchedMembers", "Matched", "Matched members group"),
    (NOMATCH, "NonMatchedMembers", "Not Matched", "Non-matched members group"),
    (
        CONSENT,
        "ConsentConstrainedMembers",
        "Consent Constraint",
        "Consent-constrained members group",
    ),
)
# Dropped from the contained copy: a contained resource carries no narrative, meta or contained
# resources of its own (FHIR dom-2, dom-4), and its id is ours.
_NOT_COPIED = frozenset({"id", "meta", "text", "contained"})


@dataclass(frozen=True, slots=True)
class MemberResult:
    """One member's row of a job's results, as the output needs it."""

    seq: int
    result: str  # MATCH | NOMATCH | CONSENT
    token: str | None
    patient: dict[str, Any]


def parse_envelope(body: Any, max_members: int) -> tuple[list[list[Any]], list[FieldError]]:
    """The MemberBundles' part lists, or the envelope's problems (pointers by position only:
    names and values a caller sent are never quoted)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return [], [FieldError("", "the body must be a FHIR Parameters resource")]
    params = body.get("parameter")
    if not isinstance(params, list) or not params:
        return [], [FieldError("/parameter", "at least one MemberBundle parameter is required")]
    bundles: list[list[Any]] = []
    errors: list[FieldError] = []
    for index, param in enumerate(params):
        # Unknown parameters are tolerated, as for $member-match.
        if not isinstance(param, dict) or param.get("name") != MEMBER_BUNDLE:
            continue
        if len(bundles) == max_members:
            return [], [FieldError("/parameter", f"at most {max_members} MemberBundle parameters")]
        problem = _bundle_problem(param.get("part"))
        if problem is not None:
            if len(errors) < MAX_ERRORS:
                errors.append(FieldError(f"/parameter/{index}/part", problem))
            continue
        bundles.append(param["part"])
    if not bundles and not errors:
        errors.append(FieldError("/parameter", "at least one MemberBundle parameter is required"))
    return (bundles, []) if not errors else ([], errors)


def _bundle_problem(parts: Any) -> str | None:
    if not isinstance(parts, list) or not parts:
        return "a MemberBundle needs its parts"
    if len(parts) > MAX_PARTS:
        return f"a MemberBundle has at most {MAX_PARTS} parts"
    if not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in parts):
        return "every part needs a name"
    patients = [p for p in parts if p["name"] == "MemberPatient"]
    if len(patients) != 1:
        return "a MemberBundle needs exactly one MemberPatient"
    resource = patients[0].get("resource")
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return "MemberPatient must be a Patient resource"
    return None


def as_parameters(parts: list[Any]) -> dict[str, Any]:
    """A MemberBundle's parts as the Parameters of a single $member-match (same part names)."""
    return {"resourceType": "Parameters", "parameter": parts}


def patient_copy(parts: list[Any], contained_id: str) -> dict[str, Any]:
    """The submitted MemberPatient, to be contained in the output under our id."""
    patient = next(p["resource"] for p in parts if p.get("name") == "MemberPatient")
    copy = {k: v for k, v in patient.items() if k not in _NOT_COPIED}
    return {"resourceType": "Patient", "id": contained_id, **copy}


def contained_id(seq: int) -> str:
    """Unique within a job, so a member keeps its id whichever group and output it lands in."""
    return str(seq + 1)


def result_parameters(
    members: Iterable[MemberResult],
    *,
    token_system: str,
    assigner: str,
    requester: OrgIdentifier | None,
) -> dict[str, Any]:
    """The PDex result Parameters for these members. MatchedMembers is always present (1..1);
    the other two groups only when they have members (0..1)."""
    by_group: dict[str, list[MemberResult]] = {MATCH: [], NOMATCH: [], CONSENT: []}
    for member in members:
        by_group[member.result].append(member)
    parameters = []
    for code, name, display, narrative in GROUPS:
        rows = by_group[code]
        if rows or code == MATCH:
            group = _group(rows, code, display, narrative, token_system, assigner, requester)
            parameters.append({"name": name, "resource": group})
    return {
        "resourceType": "Parameters",
        "meta": {"profile": [OUT_PROFILE]},
        "parameter": parameters,
    }


def _group(
    rows: Sequence[MemberResult],
    code: str,
    display: str,
    narrative: str,
    token_system: str,
    assigner: str,
    requester: OrgIdentifier | None,
) -> dict[str, Any]:
    group: dict[str, Any] = {
        "resourceType": "Group",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{narrative}</div>',
        },
    }
    if rows:
        group["contained"] = [r.patient for r in rows]
    if requester is not None:
        group["identifier"] = [{"system": requester.system, "value": requester.value}]
    group.update(
        {
            "type": "person",
            "actual": True,
            "code": {"coding": [{"system": RESULT_CS, "code": code, "display": display}]},
            "managingEntity": {"display": assigner},
        }
    )
    if rows:
        group["member"] = [_member(r, token_system, assigner) for r in rows]
    return group


def _member(row: MemberResult, token_system: str, assigner: str) -> dict[str, Any]:
    local = f"#{row.patient['id']}"
    entity: dict[str, Any] = {
        "extension": [{"url": MATCH_PARAMETERS_EXT, "valueReference": {"reference": local}}]
    }
    if row.result == MATCH and row.token:
        entity["type"] = "Patient"
        entity["identifier"] = member_identifier(row.token, system=token_system, assigner=assigner)
    else:
        entity["reference"] = local
    return {"entity": entity}


def manifest(
    *,
    transaction_time: datetime,
    request_url: str,
    output_urls: Sequence[str],
    counts: dict[str, int],
) -> dict[str, Any]:
    """The FHIR asynchronous (Bulk Data) completion manifest: each output is one result
    Parameters; the counts per group ride in the manifest's `extension` object."""
    return {
        "transactionTime": transaction_time.isoformat(),
        "request": request_url,
        "requiresAccessToken": True,
        "output": [{"type": "Parameters", "url": url} for url in output_urls],
        "error": [],
        "extension": {"https://identity.example/fhir/bulk-member-match-counts": counts},
    }
