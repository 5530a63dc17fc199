"""FHIR R4 POST /fhir/Patient/$match over real HTTP, on both databases: graded searchset Bundles
(each validated with fhir.resources), onlyCertainMatches and count, the stored decision behind
every answer, its audit event, OperationOutcome errors that echo nothing, and the scope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.fhir.patient_match import DECISION_SYSTEM, MATCH_GRADE_URL, MATCH_RULE_URL
from identity.member.service import load_members
from identity.models import AuditEvent, MatchDecision
from tests.conftest import PUBLIC_URL, TENANT, LiveServer
from tests.factories import fhir_patient
from tests.households import HOME

URL = "/fhir/Patient/$match"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

# The request of HAPI FHIR's MDM documentation, verbatim: a family name alone.
HAPI_REQUEST: dict[str, Any] = {
    "resourceType": "Parameters",
    "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "name": [{"family": "foo"}]}}
    ],
}


def parameters(patient: Any, **extra: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "resource", "resource": patient}]
    params += [{"name": name, **value} for name, value in extra.items()]
    return {"resourceType": "Parameters", "parameter": params}


def post(client: httpx.Client, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(URL, content=content, headers={**FHIR_JSON, **headers})


def bundle(r: httpx.Response) -> dict[str, Any]:
    """A 200 answer: a valid R4 searchset Bundle in FHIR JSON."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    body: dict[str, Any] = r.json()
    Bundle.model_validate(body)
    assert (body["resourceType"], body["type"]) == ("Bundle", "searchset")
    return body


def matches(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in body.get("entry", []) if e["search"]["mode"] == "match"]


def outcomes(body: dict[str, Any]) -> list[str]:
    return [
        issue["diagnostics"]
        for e in body.get("entry", [])
        if e["search"]["mode"] == "outcome"
        for issue in e["resource"]["issue"]
    ]


def grade(entry: dict[str, Any]) -> str:
    [code] = [x["valueCode"] for x in entry["search"]["extension"] if x["url"] == MATCH_GRADE_URL]
    return str(code)


def rules(entry: dict[str, Any]) -> list[str]:
    return [x["valueCode"] for x in entry["search"]["extension"] if x["url"] == MATCH_RULE_URL]


def member(entry: dict[str, Any]) -> str:
    return str(entry["resource"]["id"])


def decision_id(body: dict[str, Any]) -> str:
    assert body["identifier"]["system"] == DECISION_SYSTEM
    return str(body["identifier"]["value"])


def _count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def families(household: None, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Beside the household: Maria's twin sister at home, and William Chen enrolled twice."""
    resources = [
        fhir_patient("Elena", "Garcia", "1984-03-12", gender="female", member_id="M5", **HOME),
        fhir_patient(
            "William", "Chen", "1958-11-02", member_id="M4", street="7 Elm Road", zip_code="94110"
        ),
    ]
    path = tmp_path / "families.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()


MARIA = fhir_patient("Maria", "Garcia", "1984-03-12", gender="female", ssn="372-45-6780", **HOME)
WILLIAM = fhir_patient("William", "Chen", "1958-11-02", street="7 Elm Road", zip_code="94110")


@pytest.mark.usefixtures("families")
def test_a_certain_match_and_her_twin_certainly_not(
    client: httpx.Client, sessions: sessionmaker[Session], active_policy: str
) -> None:
    body = bundle(post(client, parameters(MARIA)))
    maria, elena = matches(body)
    assert (member(maria), grade(maria), maria["search"]["score"]) == ("M1", "certain", 1.0)
    assert rules(maria) == ["ssn-birth-date-given-name", "full-demographics-at-home"]
    assert (member(elena), grade(elena), elena["search"]["score"]) == ("M5", "certainly-not", 0.0)
    assert rules(elena) == ["twins-different-given-name"]
    assert body["total"] == 2
    assert outcomes(body) == []

    # The member's Patient as loaded, under our id, with the member id, at our base URL.
    patient = maria["resource"]
    assert maria["fullUrl"] == f"{PUBLIC_URL}/fhir/Patient/M1"
    assert patient["name"] == [{"use": "official", "family": "Garcia", "given": ["Maria"]}]
    assert patient["birthDate"] == "1984-03-12"
    assert any(
        i["value"] == "M1" and i["type"]["coding"][0]["code"] == "MB" for i in patient["identifier"]
    )

    # The decision behind the Bundle is stored with its evidence, for the analyst.
    match_id = decision_id(body)
    assert {"relation": "describedby", "url": f"{PUBLIC_URL}/v1/matches/{match_id}"} in body["link"]
    stored = client.get(f"/v1/matches/{match_id}").json()
    assert (stored["outcome"], stored["member_id"], stored["reason"]) == (
        "match",
        "M1",
        "positive-rule",
    )
    assert {c["member_id"] for c in stored["evidence"]["candidates"]} == {"M1", "M5"}

    # Audited: the decision, then the members disclosed, under the policy version.
    with sessions() as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "patient.match")
        ).all()
        assert (event.outcome, event.http_status, event.client_id) == (
            "success",
            200,
            "test-client",
        )
        assert event.object_type == "match_decision"
        assert event.object_ids == [match_id, "M1", "M5"]
        assert event.policy_version == active_policy


@pytest.mark.usefixtures("household")
def test_a_review_band_candidate_is_possible(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    patient = fhir_patient("Maria", "Garcia", "1990-07-01", gender="female", phone="6175552368")
    body = bundle(post(client, parameters(patient)))
    [maria] = matches(body)
    assert (member(maria), grade(maria), rules(maria)) == ("M1", "possible", [])
    assert 0.6 <= maria["search"]["score"] < 0.97
    stored = client.get(f"/v1/matches/{decision_id(body)}").json()
    assert (stored["outcome"], stored["reason"]) == ("review", "review-band")
    assert stored["probability"] == maria["search"]["score"]
    # A review outcome opens its review item, as /v1/match does; the audit event names it too.
    assert stored["review_item_id"]
    with sessions() as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "patient.match")
        ).all()
        assert event.object_ids == [stored["match_id"], stored["review_item_id"], "M1"]


@pytest.mark.usefixtures("household")
def test_a_probabilistic_match_is_certain_with_its_probability(client: httpx.Client) -> None:
    patient = fhir_patient("Mara", "Garcia", "1985-03-12", gender="female", phone="6175552368")
    [maria] = matches(bundle(post(client, parameters(patient))))
    assert (member(maria), grade(maria), rules(maria)) == ("M1", "certain", [])
    assert 0.97 <= maria["search"]["score"] < 1.0


@pytest.mark.usefixtures("household")
def test_a_household_relative_is_certainly_not(client: httpx.Client) -> None:
    # Maria's husband: her phone and home, another given name and birth date.
    husband = fhir_patient("Carlos", "Garcia", "1982-05-05", phone="617-555-2368", **HOME)
    body = bundle(post(client, parameters(husband)))
    [maria] = matches(body)
    assert (member(maria), grade(maria), maria["search"]["score"]) == ("M1", "certainly-not", 0.0)
    assert rules(maria) == ["household-relative", "relative-of-the-other-sex"]


@pytest.mark.usefixtures("families")
def test_two_certain_candidates_are_probable_and_only_certain_matches_returns_none(
    client: httpx.Client,
) -> None:
    body = bundle(post(client, parameters(WILLIAM)))
    entries = matches(body)
    assert sorted(member(e) for e in entries) == ["M3", "M4"]
    assert {(grade(e), e["search"]["score"]) for e in entries} == {("probable", 1.0)}
    assert all(rules(e) == ["full-demographics-at-home"] for e in entries)

    only = bundle(post(client, parameters(WILLIAM, onlyCertainMatches={"valueBoolean": True})))
    assert (matches(only), only["total"]) == ([], 0)
    assert outcomes(only) == ["2 graded candidate(s) not returned: onlyCertainMatches is true"]


@pytest.mark.usefixtures("families")
def test_only_certain_matches_keeps_the_certain_entry(client: httpx.Client) -> None:
    flag = {"valueBoolean": True}
    body = bundle(post(client, parameters(MARIA, onlyCertainMatches=flag)))
    [maria] = matches(body)
    assert (member(maria), grade(maria), body["total"]) == ("M1", "certain", 1)
    off = bundle(post(client, parameters(MARIA, onlyCertainMatches={"valueBoolean": False})))
    assert [grade(e) for e in matches(off)] == ["certain", "certainly-not"]


@pytest.mark.usefixtures("families")
def test_count_limits_the_entries_and_total_counts_them_all(client: httpx.Client) -> None:
    body = bundle(post(client, parameters(MARIA, count={"valueInteger": 1})))
    [maria] = matches(body)
    assert (member(maria), body["total"]) == ("M1", 2)
    assert outcomes(body) == ["1 candidate(s) not returned: count reached"]


@pytest.mark.usefixtures("household")
def test_the_hapi_request_shape_is_accepted(client: httpx.Client) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Chen", "given": ["Bill"]}],
        "birthDate": "1958-11-02",
    }
    body = bundle(
        post(client, {**HAPI_REQUEST, "parameter": [{"name": "resource", "resource": patient}]})
    )
    assert body["total"] >= 0
    # application/json is accepted as well as application/fhir+json.
    plain = client.post(URL, json=parameters(patient))
    assert bundle(plain)["total"] == body["total"]


def test_the_verbatim_hapi_request_lacks_the_demographics_a_match_needs(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    r = post(client, HAPI_REQUEST)
    assert r.status_code == 422
    issues = OperationOutcome.model_validate(r.json()).issue
    expressions = {e for issue in issues for e in issue.expression or []}
    assert {"parameter.0.resource.name", "parameter.0.resource.birthDate"} <= expressions
    assert "foo" not in r.text
    assert _count(sessions, MatchDecision) == 0


@pytest.mark.usefixtures("household")
def test_an_idempotent_retry_replays_the_bundle(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    first = post(client, parameters(MARIA), **{"Idempotency-Key": "pm-1"})
    again = post(client, parameters(MARIA), **{"Idempotency-Key": "pm-1"})
    bundle(first)
    assert again.content == first.content
    assert again.headers["content-type"] == "application/fhir+json"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(sessions, MatchDecision) == 1


CANARY = "Zqxcanaryname"


def _bad_parameters() -> list[tuple[str, bytes | dict[str, Any], str]]:
    good = fhir_patient()
    no_dob = fhir_patient(CANARY)
    del no_dob["birthDate"]
    return [
        ("malformed JSON", b'{"resourceType": "Parameters", "x": "' + CANARY.encode(), ""),
        ("not an object", b"[1, 2]", ""),
        ("a bare Patient", fhir_patient(CANARY), "/resourceType"),
        ("no parameters", {"resourceType": "Parameters", "id": CANARY}, "/parameter"),
        (
            "no resource",
            {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 1}]},
            "/parameter",
        ),
        (
            "not a Patient",
            parameters({"resourceType": "Observation", "id": CANARY}),
            "/parameter/0/resource",
        ),
        ("no birth date", parameters(no_dob), "/parameter/0/resource/birthDate"),
        ("FHIR-invalid", parameters({**good, "gender": CANARY}), "/parameter/0/resource/gender"),
        (
            "unknown parameter",
            parameters(good, **{CANARY: {"valueString": CANARY}}),
            "/parameter/1/name",
        ),
        (
            "resource twice",
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": good}] * 2,
            },
            "/parameter/1",
        ),
        (
            "flag not boolean",
            parameters(good, onlyCertainMatches={"valueString": CANARY}),
            "/parameter/1/valueBoolean",
        ),
        (
            "count not integer",
            parameters(good, count={"valueString": CANARY}),
            "/parameter/1/valueInteger",
        ),
        ("count zero", parameters(good, count={"valueInteger": 0}), "/parameter/1/valueInteger"),
        (
            "count above the cap",
            parameters(good, count={"valueInteger": 51}),
            "/parameter/1/valueInteger",
        ),
        (
            "count boolean",
            parameters(good, count={"valueInteger": True}),
            "/parameter/1/valueInteger",
        ),
    ]


@pytest.mark.parametrize(
    ("body", "pointer"), [c[1:] for c in _bad_parameters()], ids=[c[0] for c in _bad_parameters()]
)
def test_bad_parameters_are_a_422_operation_outcome_that_echoes_nothing(
    client: httpx.Client,
    sessions: sessionmaker[Session],
    body: bytes | dict[str, Any],
    pointer: str,
) -> None:
    r = post(client, body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    outcome = OperationOutcome.model_validate(r.json())
    assert {i.code for i in outcome.issue} == {"invalid"}
    expression = pointer.strip("/").replace("/", ".")
    expressions = [e for i in outcome.issue for e in i.expression or []]
    assert any(e.startswith(expression) for e in expressions) if expression else not expressions
    assert CANARY.lower() not in r.text.lower()
    assert _count(sessions, MatchDecision) == 0


def test_a_body_that_is_not_fhir_json_is_a_415(client: httpx.Client) -> None:
    r = client.post(
        URL, content=json.dumps(parameters(fhir_patient())), headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/fhir+json"
    assert OperationOutcome.model_validate(r.json()).issue[0].code == "not-supported"


@pytest.mark.usefixtures("household")
def test_the_match_scope_is_not_enough(live_server: LiveServer, settings: Settings) -> None:
    weaker = mint_dev_token(
        settings, tenant=TENANT, client_id="c", scopes={"match", "decisions:read"}
    )
    with live_server.client(weaker) as http:
        r = post(http, parameters(MARIA))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/fhir+json"
    assert "members:search" in r.headers["www-authenticate"]
    OperationOutcome.model_validate(r.json())

    own = mint_dev_token(settings, tenant=TENANT, client_id="c", scopes={"members:search"})
    with live_server.client(own) as http:
        assert [member(e) for e in matches(bundle(post(http, parameters(MARIA))))] == ["M1"]
