"""FHIR R4 `Patient/$match`: Parameters in, a graded searchset Bundle out. Pure: no I/O.

In: a `Parameters` resource with `resource` (a Patient, 1..1), `onlyCertainMatches` (boolean,
0..1) and `count` (integer, 0..1, 1 to MAX_COUNT). A bare Patient body is refused: the operation
is defined on Parameters, and one accepted shape keeps the contract and its errors simple.

Out: the stored decision's candidates, graded with the match-grade extension from the decision
and the thresholds of the policy that made it:
  certain        the member the decision matched (by a positive rule, or by probability at or
                 above the match threshold, clear of the runner-up by the margin)
  probable       at or above the match threshold without being the match: the decision was
                 ambiguous (a close runner-up, or more than one candidate certain by a rule)
  possible       in the review band: review threshold <= probability < match threshold (and,
                 under a policy without a model, a candidate no rule settles, if the policy sends
                 those to review)
  certainly-not  removed by a negative rule; scored 0 whatever its weights, with the rule named
Open candidates below the review threshold are not returned: the policy calls them no match, and
neither grade fits them. They stay in the stored decision (GET /v1/matches/{id}).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from identity.errors import FieldError, InvalidInput
from identity.fhir.demographics import (
    GENDERS,
    SSN_SYSTEM,
    V2_0203,
    check_limits,
    check_required,
    parse_patient,
    to_raw,
)
from identity.matching.decision import Outcome, Status
from identity.matching.evidence_render import candidate_facts
from identity.matching.policy import DecisionSpec
from identity.matching.record import RawDemographics
from identity.models import MatchDecision

MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
OUR_FHIR = "https://identity.example/fhir/"
# The policy rule that graded a candidate certain or certainly-not (one extension per rule).
MATCH_RULE_URL = OUR_FHIR + "StructureDefinition/match-rule"
# Bundle.identifier.system: the value is the stored decision's id (GET /v1/matches/{id}).
DECISION_SYSTEM = OUR_FHIR + "match-decision"
# The member id on a Patient built from a CSV row (FHIR-loaded Patients carry the payer's own).
MEMBER_ID_SYSTEM = OUR_FHIR + "member-id"

MAX_COUNT = 50
MAX_PARAMETERS = 10
PARAMETERS = ("resource", "onlyCertainMatches", "count")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class Grade(StrEnum):
    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    CERTAINLY_NOT = "certainly-not"


_GRADE_ORDER = {g: i for i, g in enumerate(Grade)}


@dataclass(frozen=True, slots=True)
class PatientMatchRequest:
    demographics: RawDemographics
    only_certain: bool = False
    count: int = MAX_COUNT


@dataclass(frozen=True, slots=True)
class GradedCandidate:
    member_id: str
    grade: Grade
    score: float | None  # search.score; None for a candidate no model scored
    rules: tuple[str, ...] = ()  # the rules behind a certain / certainly-not grade


@dataclass(frozen=True, slots=True)
class Selection:
    entries: tuple[GradedCandidate, ...]  # what the Bundle returns, best first
    total: int  # candidates that qualified, before `count` cut them
    withheld: int  # graded candidates left out because only certain matches were asked for


# --- Parameters -> demographics -----------------------------------------------------------------


def parse_patient_match(body: Any, today: date) -> PatientMatchRequest:
    """The operation's input, or every error at once (JSON pointers, never the values)."""
    if not isinstance(body, dict):
        raise InvalidInput(
            "the body must be a FHIR Parameters resource",
            errors=[FieldError("", "not a JSON object")],
        )
    if body.get("resourceType") != "Parameters":
        raise InvalidInput(
            "the body must be a FHIR Parameters resource",
            errors=[
                FieldError(
                    "/resourceType",
                    "must be Parameters (a bare Patient is not accepted: send it as the "
                    "'resource' parameter)",
                )
            ],
        )
    params = body.get("parameter")
    if not isinstance(params, list) or not params:
        raise InvalidInput(
            "the Parameters carry no parameter",
            errors=[FieldError("/parameter", "a list with the 'resource' parameter is required")],
        )
    if len(params) > MAX_PARAMETERS:
        raise InvalidInput(
            "too many parameters",
            errors=[FieldError("/parameter", f"at most {MAX_PARAMETERS} parameters")],
        )
    errors: list[FieldError] = []
    found: dict[str, int] = {}
    for i, param in enumerate(params):
        where = f"/parameter/{i}"
        name = param.get("name") if isinstance(param, dict) else None
        if not isinstance(name, str):
            errors.append(FieldError(f"{where}/name", "a parameter name is required"))
        elif name not in PARAMETERS:
            errors.append(
                FieldError(f"{where}/name", f"unknown parameter; one of {', '.join(PARAMETERS)}")
            )
        elif name in found:
            errors.append(FieldError(where, f"{name} may be given once"))
        else:
            found[name] = i
    if "resource" not in found and not errors:
        errors.append(FieldError("/parameter", "the 'resource' parameter (a Patient) is required"))
    demographics, patient_errors = _resource(params, found.get("resource"), today)
    errors += patient_errors
    only_certain, flag_errors = _boolean(params, found.get("onlyCertainMatches"))
    errors += flag_errors
    count, count_errors = _count(params, found.get("count"))
    errors += count_errors
    if errors or demographics is None:
        raise InvalidInput("the $match Parameters are not valid", errors=errors)
    return PatientMatchRequest(demographics, only_certain, count)


def _resource(
    params: list[Any], index: int | None, today: date
) -> tuple[RawDemographics | None, list[FieldError]]:
    if index is None:
        return None, []
    pointer = f"/parameter/{index}/resource"
    patient, errors = parse_patient(params[index].get("resource"), pointer)
    if patient is None:
        return None, errors
    errors = check_limits(patient, pointer) + check_required(patient, today, pointer)
    return (None, errors) if errors else (to_raw(patient), [])


def _boolean(params: list[Any], index: int | None) -> tuple[bool, list[FieldError]]:
    if index is None:
        return False, []
    value = params[index].get("valueBoolean")
    if not isinstance(value, bool):
        return False, [FieldError(f"/parameter/{index}/valueBoolean", "a boolean is required")]
    return value, []


def _count(params: list[Any], index: int | None) -> tuple[int, list[FieldError]]:
    if index is None:
        return MAX_COUNT, []
    value = params[index].get("valueInteger")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        return MAX_COUNT, [
            FieldError(
                f"/parameter/{index}/valueInteger", f"an integer from 1 to {MAX_COUNT} is required"
            )
        ]
    return value, []


# --- grading -----------------------------------------------------------------------------------


def grade_candidates(decision: MatchDecision, spec: DecisionSpec) -> list[GradedCandidate]:
    """Every candidate of a stored decision that the operation returns, graded, best first.

    `spec` must be the decision's own policy's (the thresholds the decision was made under)."""
    graded = [
        g
        for c in candidate_facts(decision.stored_evidence)
        if (g := _grade(c, decision, spec)) is not None
    ]
    return sorted(graded, key=lambda g: (_GRADE_ORDER[g.grade], -(g.score or 0.0), g.member_id))


def _fired(candidate: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    return tuple(
        str(r["rule"]) for r in candidate.get("rules", []) if r["fired"] and r["kind"] == kind
    )


def _grade(
    candidate: Mapping[str, Any], decision: MatchDecision, spec: DecisionSpec
) -> GradedCandidate | None:
    member_id = str(candidate["member_id"])
    status = Status(candidate["status"])
    score = candidate.get("score")
    probability = None if score is None else float(score["probability"])
    if status is Status.EXCLUDED:
        return GradedCandidate(member_id, Grade.CERTAINLY_NOT, 0.0, _fired(candidate, "negative"))
    chosen = decision.outcome == Outcome.MATCH and decision.member_id == member_id
    if status is Status.CERTAIN:
        # Certain by a rule; alone it is the match, beside another certain one it is doubt.
        grade = Grade.CERTAIN if chosen else Grade.PROBABLE
        return GradedCandidate(member_id, grade, 1.0, _fired(candidate, "positive"))
    if chosen:
        return GradedCandidate(member_id, Grade.CERTAIN, probability)
    if probability is None:
        if spec.unscored_outcome == "review":
            return GradedCandidate(member_id, Grade.POSSIBLE, None)
        return None
    if probability >= spec.match_probability:
        return GradedCandidate(member_id, Grade.PROBABLE, probability)
    if probability >= spec.review_probability:
        return GradedCandidate(member_id, Grade.POSSIBLE, probability)
    return None


def select_entries(
    graded: Sequence[GradedCandidate], *, only_certain: bool, count: int
) -> Selection:
    """`onlyCertainMatches` keeps the certain entry alone (there is at most one: a decision
    with two certain candidates is ambiguous, and grades them probable); `count` cuts the rest."""
    kept = [g for g in graded if g.grade is Grade.CERTAIN] if only_certain else list(graded)
    return Selection(tuple(kept[:count]), total=len(kept), withheld=len(graded) - len(kept))


# --- the Bundle --------------------------------------------------------------------------------


def patient_id(member_id: str) -> str:
    """Patient.id for a member: the member id when it is a valid FHIR id, else a stable digest."""
    if _FHIR_ID.fullmatch(member_id):
        return member_id
    return "m-" + hashlib.sha256(member_id.encode()).hexdigest()[:40]


def _is_member_identifier(identifier: Any, member_id: str) -> bool:
    if not isinstance(identifier, dict) or identifier.get("value") != member_id:
        return False
    codings = (identifier.get("type") or {}).get("coding") or []
    return any(isinstance(c, dict) and c.get("code") == "MB" for c in codings)


def _member_identifier(member_id: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": V2_0203, "code": "MB"}]},
        "system": MEMBER_ID_SYSTEM,
        "value": member_id,
    }


def patient_resource(member_id: str, source: Mapping[str, Any]) -> dict[str, Any]:
    """The member's Patient as loaded, with `id` set to ours and the member id as an identifier.

    A member loaded from FHIR NDJSON is its stored Patient; one loaded from CSV is rebuilt from
    the stored row (the same facts, in FHIR's shape)."""
    is_fhir = source.get("resourceType") == "Patient"
    patient = dict(source) if is_fhir else _patient_from_row(source)
    patient["id"] = patient_id(member_id)
    identifiers = list(patient.get("identifier") or [])
    if not any(_is_member_identifier(i, member_id) for i in identifiers):
        identifiers.append(_member_identifier(member_id))
    patient["identifier"] = identifiers
    return patient


def _patient_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Patient from the CSV columns the loader keeps (identity/member/sources.py)."""
    patient: dict[str, Any] = {"resourceType": "Patient"}
    given = [row[k] for k in ("given", "middle") if row.get(k)]
    name: dict[str, Any] = {"use": "official"}
    if row.get("family"):
        name["family"] = row["family"]
    if given:
        name["given"] = given
    if row.get("suffix"):
        name["suffix"] = [row["suffix"]]
    names = [name] if len(name) > 1 else []
    if row.get("previous_family"):
        names.append({"use": "old", "family": row["previous_family"], **_given(given)})
    if names:
        patient["name"] = names
    if row.get("ssn"):
        patient["identifier"] = [{"system": SSN_SYSTEM, "value": row["ssn"]}]
    telecom = [
        {"system": system, "value": row[column]}
        for system, column in (("phone", "phone"), ("email", "email"))
        if row.get(column)
    ]
    if telecom:
        patient["telecom"] = telecom
    if row.get("sex") in GENDERS:
        patient["gender"] = row["sex"]
    if _is_date(row.get("birth_date")):
        patient["birthDate"] = row["birth_date"]
    address: dict[str, Any] = {"use": "home"}
    lines = [row[k] for k in ("address_line1", "address_line2") if row.get(k)]
    if lines:
        address["line"] = lines
    for field, column in (("city", "city"), ("state", "state"), ("postalCode", "zip")):
        if row.get(column):
            address[field] = row[column]
    if len(address) > 1:
        patient["address"] = [address]
    return patient


def _given(given: list[str]) -> dict[str, Any]:
    return {"given": given} if given else {}


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _search(entry: GradedCandidate) -> dict[str, Any]:
    extensions = [{"url": MATCH_GRADE_URL, "valueCode": entry.grade.value}]
    extensions += [{"url": MATCH_RULE_URL, "valueCode": rule} for rule in entry.rules]
    search: dict[str, Any] = {"extension": extensions, "mode": "match"}
    if entry.score is not None:
        search["score"] = entry.score
    return search


def _outcome_entry(selection: Selection) -> dict[str, Any] | None:
    """Information (counts only) about candidates the caller's parameters left out."""
    notes = []
    if selection.withheld:
        notes.append(
            f"{selection.withheld} graded candidate(s) not returned: onlyCertainMatches is true"
        )
    if selection.total > len(selection.entries):
        notes.append(
            f"{selection.total - len(selection.entries)} candidate(s) not returned: count reached"
        )
    if not notes:
        return None
    issues = [{"severity": "information", "code": "informational", "diagnostics": n} for n in notes]
    return {
        "resource": {"resourceType": "OperationOutcome", "issue": issues},
        "search": {"mode": "outcome"},
    }


def match_bundle(
    decision: MatchDecision,
    selection: Selection,
    sources: Mapping[str, Mapping[str, Any]],
    *,
    base_url: str,
) -> dict[str, Any]:
    """The searchset Bundle: `identifier` is the stored decision (its evidence is at the
    `describedby` link); `total` counts the qualifying candidates before `count`."""
    base = base_url.rstrip("/")
    entries: list[dict[str, Any]] = []
    for entry in selection.entries:
        patient = patient_resource(entry.member_id, sources[entry.member_id])
        entries.append(
            {
                "fullUrl": f"{base}/fhir/Patient/{patient['id']}",
                "resource": patient,
                "search": _search(entry),
            }
        )
    outcome = _outcome_entry(selection)
    if outcome is not None:
        entries.append(outcome)
    return {
        "resourceType": "Bundle",
        "identifier": {"system": DECISION_SYSTEM, "value": decision.id},
        "type": "searchset",
        "total": selection.total,
        "link": [
            {"relation": "self", "url": f"{base}/fhir/Patient/$match"},
            {"relation": "describedby", "url": f"{base}/v1/matches/{decision.id}"},
        ],
        "entry": entries,
    }
