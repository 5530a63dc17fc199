"""PDex $bulk-member-match over real HTTP on both databases: the IG's example and its variations
land in the three groups; kick-off 202 → polling → completion manifest → output Parameters,
validated with fhir.resources (R4B); the job is its client's alone; a malformed envelope is a
422; a member with bad demographics is not matched without failing the job; every step audited
with identifiers only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.fhir.bulk_member_match import MATCH_PARAMETERS_EXT, RESULT_CS
from identity.models import AuditEvent, BulkMatchJob, BulkMatchMember
from tests.bulkmatch.conftest import (
    URL,
    bulk_request,
    example_bundle,
    kick_off,
    member_bundle,
    new_payer_token,
    part,
    path_of,
    pdex_example,
    wait_until_done,
)
from tests.conftest import PUBLIC_URL, TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient
from tests.households import HOME

UMB = {"system": "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp", "code": "UMB"}
EXPIRED = {"start": "2023-12-01", "end": "2024-03-31"}

pytestmark = pytest.mark.usefixtures("example_member", "household")


def _five_members() -> dict[str, Any]:
    """Patricia of the PDex example (matched); Maria Garcia under an expired consent
    (consent-constrained); the Chens enrolled twice (multiple: not matched); a stranger (not
    matched); a Patient without a birth date (bad demographics: not matched)."""
    maria = fhir_patient(
        "Maria", "Garcia", "1984-03-12", gender="female", ssn="372-45-6780", **HOME
    )
    no_birth_date = fhir_patient("Ada", "Lovelace", "1815-12-10", gender="female")
    del no_birth_date["birthDate"]
    return bulk_request(
        example_bundle(),
        member_bundle(maria, fhir_coverage("S100"), consent_period=EXPIRED),
        member_bundle(fhir_patient("William", "Chen", "1958-11-02"), fhir_coverage("S200")),
        member_bundle(fhir_patient("Zed", "Quorra", "1990-01-01"), fhir_coverage("NOPE-1")),
        member_bundle(no_birth_date, fhir_coverage("S777")),
    )


def _groups(parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p["resource"] for p in parameters["parameter"]}


def _contained(group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"#{c['id']}": c for c in group.get("contained", [])}


def _family_of(group: dict[str, Any], member: dict[str, Any]) -> str:
    [ext] = member["entity"]["extension"]
    assert ext["url"] == MATCH_PARAMETERS_EXT
    patient = _contained(group)[ext["valueReference"]["reference"]]
    return str(patient["name"][0]["family"])


def _manifest_and_output(http: httpx.Client, body: dict[str, Any]) -> tuple[Any, Any, str]:
    status_path = kick_off(http, body)
    done = wait_until_done(http, status_path)
    assert done.status_code == 200, done.text
    manifest = done.json()
    [output] = manifest["output"]
    r = http.get(path_of(output["url"]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    return manifest, r.json(), status_path


def test_the_pdex_example_and_its_variations_land_in_their_groups(
    new_payer: httpx.Client, fhir_server: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    manifest, result, status_path = _manifest_and_output(new_payer, _five_members())

    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == f"{PUBLIC_URL}{URL}"
    assert datetime.fromisoformat(manifest["transactionTime"]).tzinfo is not None
    assert manifest["error"] == []
    [output] = manifest["output"]
    assert output["type"] == "Parameters"
    assert output["url"].startswith(f"{PUBLIC_URL}{status_path}/output/")
    counts = next(iter(manifest["extension"].values()))
    assert counts == {"total": 5, "matched": 1, "nonMatched": 3, "consentConstrained": 1}

    Parameters.model_validate(result)
    groups = _groups(result)
    assert list(groups) == ["MatchedMembers", "NonMatchedMembers", "ConsentConstrainedMembers"]
    codes = {"MatchedMembers": "match", "NonMatchedMembers": "nomatch"}
    codes["ConsentConstrainedMembers"] = "consentconstraint"
    for name, group in groups.items():
        Group.model_validate(group)
        assert (group["type"], group["actual"]) == ("person", True)
        [coding] = group["code"]["coding"]
        assert (coding["system"], coding["code"]) == (RESULT_CS, codes[name])
        assert group["identifier"] == [
            {"system": "http://hl7.org/fhir/sid/us-npi", "value": "0123456789"}
        ]

    matched = groups["MatchedMembers"]
    [member] = matched["member"]
    assert _family_of(matched, member) == "Person"
    identifier = member["entity"]["identifier"]
    assert identifier["type"]["coding"] == [UMB]
    assert "reference" not in member["entity"]  # never our member id or Patient id
    assert "DH10001235" not in str(member)
    assert "pat-1" not in str(member)
    seen = fhir_server.post("/v1/tokens/introspect", data={"token": identifier["value"]}).json()
    assert seen["active"] is True
    assert (seen["member_id"], seen["client_id"]) == ("DH10001235", "new-payer")
    with sessions() as session:  # the token awaiting collection is sealed, never in clear
        stored = [t for t in session.scalars(select(BulkMatchMember.token)) if t]
    assert stored
    assert identifier["value"] not in stored
    # The contained copy is the submitted Patient under our id, without its narrative.
    patient = _contained(matched)["#1"]
    assert patient["birthDate"] == "1974-12-25"
    assert "text" not in patient

    not_matched = groups["NonMatchedMembers"]
    families = sorted(_family_of(not_matched, m) for m in not_matched["member"])
    assert families == ["Chen", "Lovelace", "Quorra"]
    for m in not_matched["member"]:
        assert (
            m["entity"]["reference"] == m["entity"]["extension"][0]["valueReference"]["reference"]
        )
    constrained = groups["ConsentConstrainedMembers"]
    assert [_family_of(constrained, m) for m in constrained["member"]] == ["Garcia"]


def test_the_pdex_example_as_published_matches_its_member(new_payer: httpx.Client) -> None:
    _, result, _ = _manifest_and_output(new_payer, pdex_example())
    groups = _groups(result)
    assert list(groups) == ["MatchedMembers"]
    assert [
        _family_of(groups["MatchedMembers"], m) for m in groups["MatchedMembers"]["member"]
    ] == ["Person"]


def test_polling_answers_202_with_progress_until_done(
    settings: Settings, active_policy: str, sessions: sessionmaker[Session]
) -> None:
    """With no worker in the process the job waits, queued, and says so; a process that runs a
    worker (here, the next start) finishes it."""
    idle = settings.model_copy(update={"bulk_match_worker": False})
    token = new_payer_token(settings)
    with LiveServer(idle) as server, server.client(token) as http:
        status_path = kick_off(http, _five_members())
        r = http.get(status_path)
        assert r.status_code == 202
        assert r.headers["x-progress"] == "queued: 0 of 5 members matched"
        assert int(r.headers["retry-after"]) > 0
        assert r.content == b""
        job_id = status_path.rsplit("/", 1)[1]
        assert http.get(f"{status_path}/output/1").status_code == 404  # not before it is done
    with sessions() as session:
        stored = session.get(BulkMatchJob, job_id)
        assert stored is not None
        assert (stored.status, stored.processed) == ("queued", 0)
        # A poll of a running job writes nothing (no audit row to queue behind the worker).
        polls = [
            e.action
            for e in session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == TENANT))
            if job_id in e.object_ids
        ]
        assert "bulk-match.start" in polls
        assert "bulk-match.status" not in polls
        inputs = session.scalars(
            select(BulkMatchMember.input).where(BulkMatchMember.job_id == job_id)
        )
        assert all(i is not None for i in inputs)
    with LiveServer(settings) as server, server.client(token) as http:
        assert wait_until_done(http, status_path).status_code == 200
    with sessions() as session:
        rows = session.scalars(
            select(BulkMatchMember).where(BulkMatchMember.job_id == job_id)
        ).all()
        assert len(rows) == 5
        assert all(r.input is None and r.result is not None for r in rows)  # no input outlives it


def test_the_job_is_its_clients_alone(
    new_payer: httpx.Client, live_server: LiveServer, settings: Settings
) -> None:
    status_path = kick_off(new_payer, bulk_request(example_bundle()))
    assert wait_until_done(new_payer, status_path).status_code == 200
    output_path = f"{status_path}/output/1"
    missing = "/fhir/bulk-member-match-jobs/00000000-0000-4000-8000-000000000000"
    colleague = new_payer_token(settings, client_id="new-payer-2")
    stranger = new_payer_token(settings, client_id="new-payer", tenant="other-payer")
    for token in (colleague, stranger):
        with live_server.client(token) as http:
            for method, path, miss in (
                ("GET", status_path, missing),
                ("GET", output_path, f"{missing}/output/1"),
                ("DELETE", status_path, missing),
            ):
                r = http.request(method, path)
                assert r.status_code == 404, (method, path)
                absent = http.request(method, miss)
                assert _outcome(r) == _outcome(absent)
    assert new_payer.get(output_path).status_code == 200


def _outcome(r: httpx.Response) -> Any:
    OperationOutcome.model_validate(r.json())
    return r.json()


def test_delete_cancels_the_job(new_payer: httpx.Client, sessions: sessionmaker[Session]) -> None:
    """Deleted while its worker may be in the middle of it: the worker's next batch finds the
    job gone and stops; nothing of it is left."""
    status_path = kick_off(new_payer, _five_members())
    assert new_payer.delete(status_path).status_code == 202
    assert new_payer.get(status_path).status_code == 404
    assert new_payer.delete(status_path).status_code == 404
    job_id = status_path.rsplit("/", 1)[1]
    time.sleep(0.5)
    with sessions() as session:
        assert session.get(BulkMatchJob, job_id) is None
        left = session.scalars(select(BulkMatchMember).where(BulkMatchMember.job_id == job_id))
        assert left.all() == []


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("not Parameters", {"resourceType": "Group"}),
        ("no parameters", {"resourceType": "Parameters", "parameter": []}),
        ("no MemberBundle", {"resourceType": "Parameters", "parameter": [{"name": "Other"}]}),
        ("a MemberBundle without parts", bulk_request({"name": "MemberBundle"})),
        (
            "a MemberBundle without its Patient",
            bulk_request(
                {
                    "name": "MemberBundle",
                    "part": [p for p in example_bundle()["part"] if p["name"] != "MemberPatient"],
                }
            ),
        ),
        (
            "MemberPatient not a Patient",
            bulk_request(
                member_bundle({"resourceType": "Coverage"}, fhir_coverage("S1")),  # type: ignore[arg-type]
            ),
        ),
        ("a list", [1, 2, 3]),
    ],
)
def test_a_malformed_envelope_is_a_422(new_payer: httpx.Client, name: str, body: Any) -> None:
    r = new_payer.post(URL, json=body)
    assert r.status_code == 422, name
    OperationOutcome.model_validate(r.json())


def test_the_route_has_its_own_limits(settings: Settings, active_policy: str) -> None:
    tight = settings.model_copy(
        update={"bulk_match_max_members": 2, "bulk_match_max_body_bytes": 64 * 1024}
    )
    token = new_payer_token(settings)
    with LiveServer(tight) as server, server.client(token) as http:
        three = bulk_request(example_bundle(), example_bundle(), example_bundle())
        r = http.post(URL, json=three)
        assert r.status_code == 422
        assert "at most 2" in r.text
        # Above the global 256 kB limit is fine here; above this route's own limit is not.
        big = bulk_request(example_bundle(), example_bundle())
        part(big["parameter"][0], "MemberPatient")["text"]["div"] = (
            "<div>" + "x" * 70_000 + "</div>"
        )
        assert http.post(URL, json=big).status_code == 413
        chunked = http.post(URL, content=_chunks(big), headers={"content-type": "application/json"})
        assert chunked.status_code == 413  # no Content-Length to go by: counted as it is read


def _chunks(body: dict[str, Any]) -> Iterator[bytes]:
    import orjson

    raw = orjson.dumps(body)
    for start in range(0, len(raw), 8192):
        yield raw[start : start + 8192]


def test_every_step_is_audited_with_identifiers_only(
    new_payer: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    _, _, status_path = _manifest_and_output(new_payer, _five_members())
    job_id = status_path.rsplit("/", 1)[1]
    with sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == TENANT).order_by(AuditEvent.seq)
        ).all()
    bulk = [e for e in events if e.action.startswith("bulk-match.")]
    actions = [e.action for e in bulk]
    assert actions[0] == "bulk-match.start"
    assert {"bulk-match.status", "bulk-match.complete", "bulk-match.result"} <= set(actions)
    assert all(e.object_ids == [job_id] for e in bulk)
    assert all(e.client_id == "new-payer" for e in bulk if e.action != "bulk-match.complete")
    # Each member is audited as a single $member-match is, under the kick-off's request id.
    start = bulk[0]
    members = [e for e in events if e.action.startswith("member-match.")]
    assert sorted(e.action for e in members) == [
        "member-match.consent-invalid",
        "member-match.insufficient-demographics",
        "member-match.matched",
        "member-match.multiple-matches",
        "member-match.no-match",
    ]
    assert {e.request_id for e in members} == {start.request_id}
    # Identifiers (job, decisions, our member ids), never what the requester sent about a member.
    text = " ".join(str(e.object_ids) for e in events)
    for value in ("Person", "Garcia", "1974-12-25", "Lovelace", "S777"):
        assert value not in text


def test_the_brute_force_guard_still_applies_within_a_job(new_payer: httpx.Client) -> None:
    """The same demographics with one card after another, inside one request, are throttled as
    across requests (those members are not matched); different members never are."""
    patricia = part(example_bundle(), "MemberPatient")
    cards = [member_bundle(patricia, fhir_coverage(f"A{n}")) for n in range(1, 6)]
    _, result, _ = _manifest_and_output(new_payer, bulk_request(*cards))
    groups = _groups(result)
    assert len(groups["MatchedMembers"]["member"]) == 3  # member_match_max_cards
    assert len(groups["NonMatchedMembers"]["member"]) == 2
