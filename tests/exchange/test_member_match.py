"""$member-match conformance, over real HTTP on both databases: the saved HRex payloads and their
variations, checked for status, resource shape (validated with fhir.resources) and outcome code."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.exchange.outcomes import MEMBER_MATCH_OUTCOMES
from identity.models import AuditEvent, IdempotencyRecord, MatchToken
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import consent, hrex_11, member_match_body, param, saved
from tests.factories import fhir_coverage, fhir_patient
from tests.households import HOME

URL = "/fhir/Patient/$member-match"
UMB = {"system": "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp", "code": "UMB"}

pytestmark = pytest.mark.usefixtures("example_member", "household")


def outcome_code(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/fhir+json")
    OperationOutcome.model_validate(r.json())
    [coding] = r.json()["issue"][0]["details"]["coding"]
    assert coding["system"] == MEMBER_MATCH_OUTCOMES
    return str(coding["code"])


def token_of(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    Parameters.model_validate(r.json())
    identifier = param(r.json(), "MemberIdentifier")["valueIdentifier"]
    assert identifier["type"]["coding"] == [UMB]
    assert param(r.json(), "MemberId")["valueReference"]["identifier"] == identifier
    return str(identifier["value"])


def test_the_hrex_example_yields_an_opaque_token_the_fhir_server_can_introspect(
    new_payer: httpx.Client, fhir_server: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    token = token_of(new_payer.post(URL, json=hrex_11()))
    assert "DH10001235" not in token
    assert len(token) >= 32  # 256 random bits, URL-safe
    seen = fhir_server.post("/v1/tokens/introspect", data={"token": token}).json()
    assert seen["active"] is True
    assert (seen["member_id"], seen["patient_id"], seen["client_id"]) == (
        "DH10001235",
        "pat-1",
        "new-payer",
    )
    assert seen["consent_category"] == "regular"
    assert seen["decision_id"]
    # One audit event for the request, naming the decision, the member and the token's id.
    with sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.client_id == "new-payer"))
        [event] = events.all()
    assert event.action == "member-match.matched"
    assert event.object_ids[:2] == [seen["decision_id"], "DH10001235"]
    assert token not in event.object_ids


@pytest.mark.parametrize(
    ("name", "change", "code"),
    [
        ("saved example (its consent ended in 2022)", None, "consent-invalid"),
        ("no consent", "drop-consent", "consent-invalid"),
        ("consent for another recipient", "other-recipient", "consent-invalid"),
        ("consent not yet valid", "future-consent", "consent-invalid"),
        ("no member or subscriber id", "no-ids", "insufficient-demographics"),
        ("no birth date", "no-birth-date", "insufficient-demographics"),
        ("not Parameters", "not-parameters", "insufficient-demographics"),
    ],
)
def test_variations_are_refused_with_their_code(
    new_payer: httpx.Client, name: str, change: str | None, code: str
) -> None:
    body: Any = copy.deepcopy(saved("hrex-1.1.0-member-match-in.TRANSCRIBED-FROM-FSH.json"))
    if change is not None:
        body = hrex_11()
    if change == "drop-consent":
        body["parameter"] = [p for p in body["parameter"] if p["name"] != "Consent"]
    elif change == "other-recipient":
        consent(body)["provision"]["actor"][1]["reference"]["identifier"]["value"] = "1112223334"
    elif change == "future-consent":
        consent(body)["provision"]["period"] = {"start": "2099-01-01", "end": "2099-12-31"}
    elif change == "no-ids":
        del param(body, "CoverageToMatch")["resource"]["identifier"]
    elif change == "no-birth-date":
        del param(body, "MemberPatient")["resource"]["birthDate"]
    elif change == "not-parameters":
        body = {"resourceType": "Patient"}
    r = new_payer.post(URL, json=body)
    assert r.status_code == 422, name
    assert outcome_code(r) == code, name


def test_an_hrex_100_request_is_accepted(new_payer: httpx.Client) -> None:
    """The 1.0.0 example: its coverage id is untyped, its Patient carries the new payer's id."""
    body = saved("hrex-1.0.0-member-match-in.json")
    expired = new_payer.post(URL, json=body)
    assert outcome_code(expired) == "consent-invalid"
    consent(body)["provision"]["period"] = consent(hrex_11())["provision"]["period"]
    token_of(new_payer.post(URL, json=body))


def test_without_consent_the_refusal_says_it_is_required(new_payer: httpx.Client) -> None:
    body = hrex_11()
    body["parameter"] = [p for p in body["parameter"] if p["name"] != "Consent"]
    r = new_payer.post(URL, json=body)
    assert outcome_code(r) == "consent-invalid"
    assert "required" in r.json()["issue"][0]["details"]["text"]


def test_absolute_references_and_unknown_extensions_are_tolerated(new_payer: httpx.Client) -> None:
    body = hrex_11()
    coverage = param(body, "CoverageToMatch")["resource"]
    coverage["beneficiary"] = {"reference": "https://new-payer.example/fhir/Patient/1"}
    coverage["extension"] = [{"url": "https://example.org/unknown", "valueString": "x"}]
    param(body, "MemberPatient")["resource"]["extension"] = [
        {"url": "https://example.org/other", "valueBoolean": True}
    ]
    token_of(new_payer.post(URL, json=body))


def test_a_twin_is_not_matched_to_the_enrolled_sibling(new_payer: httpx.Client) -> None:
    twin = fhir_patient("Taylor", "Okafor", "2011-07-30", **HOME)
    r = new_payer.post(URL, json=member_match_body(twin, fhir_coverage("S100")))
    assert outcome_code(r) == "no-match"


def test_two_enrolments_of_one_person_are_multiple_matches(new_payer: httpx.Client) -> None:
    chen = fhir_patient("William", "Chen", "1958-11-02")
    r = new_payer.post(URL, json=member_match_body(chen, fhir_coverage("S200")))
    assert outcome_code(r) == "multiple-matches"
    again = new_payer.post(URL, json=member_match_body(chen, fhir_coverage("S200")))
    assert outcome_code(again) == "multiple-matches"


def _doubtful() -> dict[str, Any]:
    """Close to Patricia Person but not certain: the review band."""
    trish = fhir_patient("Trish", "Pearson", "1974-12-25", gender="female")
    return member_match_body(trish, fhir_coverage("UNKNOWN-CARD"))


def test_pending_review_then_the_stewards_link_answers_the_same_request(
    new_payer: httpx.Client, steward: httpx.Client, fhir_server: httpx.Client
) -> None:
    first = new_payer.post(URL, json=_doubtful())
    assert outcome_code(first) == "pending-review"
    item_id = first.json()["issue"][0]["diagnostics"].split()[2].rstrip(";")
    assert steward.get(f"/v1/review-items/{item_id}").status_code == 200

    accepted = new_payer.post(URL, json=_doubtful(), headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    status_url = accepted.headers["content-location"]
    status_path = status_url[status_url.index("/fhir/") :]
    polled = new_payer.get(status_path)
    assert (polled.status_code, polled.headers["x-progress"]) == (
        202,
        "awaiting data steward review",
    )

    settled = steward.post(
        f"/v1/review-items/{item_id}/resolution",
        json={"resolution": "link", "member_id": "DH10001235", "note": "same person"},
    )
    assert settled.status_code == 200, settled.text
    done = new_payer.get(status_path)
    assert done.status_code == 200
    Bundle.model_validate(done.json())
    [entry] = done.json()["entry"]
    assert entry["response"]["status"] == "200 OK"
    polled_token = param(entry["resource"], "MemberIdentifier")["valueIdentifier"]["value"]

    # Asked again, the request is answered by matching, which remembers the steward's link.
    again = token_of(new_payer.post(URL, json=_doubtful()))
    for token in (polled_token, again):
        assert fhir_server.post("/v1/tokens/introspect", data={"token": token}).json()["active"]

    # The steward changes their mind: unlinking revokes every token issued on the link.
    steward.post(f"/v1/review-items/{item_id}/resolution", json={"resolution": "keep_apart"})
    for token in (polled_token, again):
        introspect = fhir_server.post("/v1/tokens/introspect", data={"token": token})
        assert introspect.json() == {"active": False}
    assert outcome_code(new_payer.post(URL, json=_doubtful())) == "no-match"


def test_varying_card_data_is_throttled(new_payer: httpx.Client) -> None:
    patricia = param(hrex_11(), "MemberPatient")["resource"]
    codes = []
    for card in ("A1", "A2", "A3", "A4"):
        r = new_payer.post(URL, json=member_match_body(patricia, fhir_coverage(card)))
        codes.append(r.status_code)
    assert codes == [200, 200, 200, 429]
    # The same card as before is still answered: it is new cards that are counted.
    assert (
        new_payer.post(URL, json=member_match_body(patricia, fhir_coverage("A1"))).status_code
        != 429
    )


def test_a_retry_with_its_idempotency_key_replays_the_token_sealed_at_rest(
    new_payer: httpx.Client, fhir_server: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    key = {"Idempotency-Key": "mm-retry-1"}
    first = new_payer.post(URL, json=hrex_11(), headers=key)
    again = new_payer.post(URL, json=hrex_11(), headers=key)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    token = token_of(again)
    assert fhir_server.post("/v1/tokens/introspect", data={"token": token}).json()["active"]
    with sessions() as session:
        [record] = session.scalars(select(IdempotencyRecord)).all()
        tokens = session.scalars(select(MatchToken)).all()
    assert len(tokens) == 1  # the retry issued nothing
    assert record.body is not None
    assert token.encode() not in record.body  # sealed, never the token in plain text
    assert b"DH10001235" not in record.body


def test_a_withdrawn_consent_revokes_the_members_tokens(
    new_payer: httpx.Client,
    fhir_server: httpx.Client,
    live_server: LiveServer,
    settings: Settings,
) -> None:
    token = token_of(new_payer.post(URL, json=hrex_11()))
    consents = mint_dev_token(
        settings, tenant=TENANT, client_id="consent-system", scopes={"consents:manage"}
    )
    with live_server.client(consents) as consent_system:
        r = consent_system.post("/v1/consent-withdrawals", json={"member_id": "DH10001235"})
    assert r.json()["revoked_tokens"] == 1
    assert fhir_server.post("/v1/tokens/introspect", data={"token": token}).json() == {
        "active": False
    }
