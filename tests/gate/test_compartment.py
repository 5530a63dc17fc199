"""The compartment rule as a table: which requests a match token for patient pat-1 lets through,
and why the others are refused."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from identity.gate.compartment import Access, Refused, authorize, patient_references, within

PATIENT = "pat-1"


def ask(request: str) -> Access:
    """'GET Observation?patient=pat-1' as the gate sees it."""
    method, _, target = request.partition(" ")
    path, _, query = target.partition("?")
    return authorize(method, path, parse_qsl(query, keep_blank_values=True), PATIENT)


# request -> interaction, the path asked of the FHIR server
EVERYTHING = "Patient/pat-1/$everything"
# fmt: off
ALLOWED = [
    ("GET Patient/pat-1",                                      "read",       "Patient/pat-1"),
    ("GET /Patient/pat-1",                                     "read",       "Patient/pat-1"),
    ("GET Patient/pat-1/$everything",                          "everything", EVERYTHING),
    ("GET Patient/pat-1/$everything?_since=2026-01-01&_count=9", "everything", EVERYTHING),
    ("GET Observation?patient=pat-1",                          "search",     "Observation"),
    ("GET Observation?patient=Patient/pat-1&code=1234-5",      "search",     "Observation"),
    ("GET Condition?subject=Patient/pat-1",                    "search",     "Condition"),
    ("GET Encounter?subject=pat-1&patient=pat-1&_count=10",    "search",     "Encounter"),
]
# fmt: on


@pytest.mark.parametrize(("request_line", "interaction", "upstream"), ALLOWED)
def test_allowed(request_line: str, interaction: str, upstream: str) -> None:
    access = ask(request_line)
    assert (access.interaction, access.path) == (interaction, upstream)
    query = request_line.partition("?")[2]
    assert list(access.params) == parse_qsl(query, keep_blank_values=True)


OUT, PARAM, METHOD = "outside-compartment", "unsupported-parameter", "method-not-allowed"
# what is asked -> refusal reason (403 Forbidden; 405 for a method other than GET)
# fmt: off
REFUSED = [
    ("another patient's record",       "GET Patient/pat-2",                            OUT),
    ("another patient's $everything",  "GET Patient/pat-2/$everything",                OUT),
    ("a search without patient=",      "GET Observation?code=1234-5",                  OUT),
    ("a search for another patient",   "GET Observation?patient=pat-2",                OUT),
    ("ours and another's",             "GET Observation?patient=pat-1&patient=pat-2",  OUT),
    ("ours or another's (comma = OR)", "GET Observation?patient=pat-1,pat-2",          OUT),
    ("a Patient search",               "GET Patient?patient=pat-1",                    OUT),
    ("a Patient search by id",         "GET Patient?_id=pat-1",                        OUT),
    ("a whole-system search",          "GET ?patient=pat-1",                           OUT),
    ("another resource by id",         "GET Observation/obs-1",                        OUT),
    ("history",                        "GET Patient/pat-1/_history",                   OUT),
    ("a compartment search",           "GET Patient/pat-1/Observation",                OUT),
    ("a dot-dot path",                 "GET Patient/..",                               OUT),
    ("_include reaches other records", "GET Observation?patient=pat-1&_include=x:y",   PARAM),
    ("_include:iterate",               "GET Observation?patient=pat-1&_include:iterate=x:y", PARAM),
    ("_revinclude",                    "GET Patient/pat-1?_revinclude=Provenance:target", PARAM),
    ("_has",                           "GET Observation?patient=pat-1&_has:Group:member:x=", PARAM),
    ("a chained patient",              "GET Observation?patient.name=Smith",           PARAM),
    ("a modifier on patient",          "GET Observation?patient:missing=true",         PARAM),
    ("_elements hides labels",         "GET Observation?patient=pat-1&_elements=code", PARAM),
    ("_summary hides labels",          "GET Patient/pat-1?_summary=text",              PARAM),
    ("_format asks for XML",           "GET Patient/pat-1?_format=xml",                PARAM),
    ("a write",                        "PUT Patient/pat-1",                            METHOD),
    ("a delete",                       "DELETE Patient/pat-1",                         METHOD),
    ("a search by POST",               "POST Observation/_search?patient=pat-1",       METHOD),
]
# fmt: on


@pytest.mark.parametrize(("case", "request_line", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(case: str, request_line: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        ask(request_line)
    status = 405 if reason == METHOD else 403
    assert (refused.value.reason, refused.value.status) == (reason, status), case
    assert PATIENT not in refused.value.message
    assert "pat-2" not in refused.value.message


def about(element: str, reference: str, kind: str = "Observation") -> dict[str, object]:
    return {"resourceType": kind, element: {"reference": reference}}


# An answer's resource -> is it within pat-1's compartment?
# fmt: off
ANSWERS = [
    ("our Patient",         {"resourceType": "Patient", "id": "pat-1"},                True),
    ("another Patient",     {"resourceType": "Patient", "id": "pat-2"},                False),
    ("about us",            about("subject", "Patient/pat-1"),                         True),
    ("about us, absolute",  about("subject", "https://f.test/Patient/pat-1/_history/2"), True),
    ("about another",       about("subject", "Patient/pat-2"),                         False),
    ("coverage of another", about("beneficiary", "Patient/pat-2", "Coverage"),         False),
    ("about a group",       about("subject", "Group/g1"),                              True),
    ("no subject at all",   {"resourceType": "Practitioner", "id": "dr-1"},            True),
]
# fmt: on


@pytest.mark.parametrize(("case", "resource", "inside"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_answers_within_the_compartment(
    case: str, resource: dict[str, object], inside: bool
) -> None:
    assert within(resource, PATIENT) is inside, case


def test_patient_references() -> None:
    assert patient_references(
        {"patient": [{"reference": "Patient/a"}, {"reference": "Patient/b"}], "subject": "x"}
    ) == {"a", "b"}
