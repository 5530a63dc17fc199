"""`$member-match` asked again after a steward's decision answers through matching, as
`/v1/match` does: a duplicate enrolment marked as one person yields a token for the surviving
record instead of `multiple-matches`, and keeping a candidate apart is honoured."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import NEW_PAYER, member_match_body, param
from tests.factories import fhir_coverage, fhir_patient

URL = "/fhir/Patient/$member-match"
CHEN = member_match_body(fhir_patient("William", "Chen", "1958-11-02"), fhir_coverage("S200"))

pytestmark = pytest.mark.usefixtures("members")


@pytest.fixture
def payer(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    """A new payer's exchange client, as in tests/exchange."""
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="new-payer", scopes={"match"}, organization=NEW_PAYER
    )
    with live_server.client(token) as http:
        yield http


@pytest.fixture
def steward(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(settings, tenant=TENANT, client_id="steward", scopes={"review"})
    with live_server.client(token) as http:
        yield http


def _code(r: httpx.Response) -> str:
    return str(r.json()["issue"][0]["details"]["coding"][0]["code"])


def _item(steward: httpx.Client) -> str:
    [item] = steward.get("/v1/review-items", params={"status": "open"}).json()["items"]
    return str(item["id"])


def test_a_same_person_pair_answers_with_the_survivor(
    payer: httpx.Client, steward: httpx.Client
) -> None:
    assert _code(payer.post(URL, json=CHEN)) == "multiple-matches"
    decided = steward.post(
        f"/v1/review-items/{_item(steward)}/decisions",
        json={"kind": "same_person", "member_id": "M4", "other_member_id": "M3"},
    )
    assert decided.status_code == 201, decided.text
    answer = payer.post(URL, json=CHEN)
    assert answer.status_code == 200, answer.text
    assert param(answer.json(), "MemberIdentifier")["valueIdentifier"]["value"]


def test_keep_apart_is_honoured_by_member_match(payer: httpx.Client, steward: httpx.Client) -> None:
    assert _code(payer.post(URL, json=CHEN)) == "multiple-matches"
    decided = steward.post(
        f"/v1/review-items/{_item(steward)}/decisions", json={"kind": "new_person"}
    )
    assert decided.status_code == 201, decided.text
    assert _code(payer.post(URL, json=CHEN)) == "no-match"
