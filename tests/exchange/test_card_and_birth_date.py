"""A card and a birth date are not enough, over real HTTP on both databases (issue 10).

Whoever holds a member's card (its MB member id) and knows the birth date must also give names
that support the match: `/v1/match` answers at most review and `$member-match` issues no token
for John Smith, garbage names, or a lone initial of the other sex, while the ways real people's
names vary (a nickname, a married name, a typo) still match and still get a token. The guard
that held a match back is named in the stored decision's evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.db import transaction
from identity.member.service import load_members
from identity.models import MatchDecision, MatchToken
from tests.conftest import TENANT
from tests.exchange.conftest import hrex_11, param
from tests.factories import MB, fhir_coverage, fhir_patient

URL = "/fhir/Patient/$member-match"
PATRICIA = {"born": "1974-12-25", "card": "DH10001235"}  # the HRex example member (conftest)
GRACE = {"born": "1969-05-14", "card": "DH20002468"}  # married: Hart on record as her maiden name
NAMES, INITIAL = "names-support-the-match", "initial-of-the-other-sex"

pytestmark = pytest.mark.usefixtures("example_member", "grace")


@pytest.fixture
def grace(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    resources = [
        fhir_patient(
            "Grace",
            "Adeyemi",
            GRACE["born"],
            gender="female",
            maiden="Hart",
            member_id=GRACE["card"],
            resource_id="grace-1",
            street="3 Linden Court",
            zip_code="60614",
        ),
        fhir_coverage("S777", "Patient/grace-1"),
    ]
    path = tmp_path / "grace.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [path]).ok


def _patient(given: str, family: str, gender: str, who: dict[str, str], **kw: Any) -> Any:
    return fhir_patient(given, family, who["born"], gender=gender, **kw)


# (id, given, family, gender, extra Patient fields, whose card and birth date, guards not held)
HELD_BACK = [
    ("John Smith", "John", "Smith", "female", {}, [NAMES]),
    ("garbage names", "Xqzvt", "Wkkjhg", "female", {}, [NAMES]),
    ("other sex, an initial, another family name", "P", "Q", "male", {"zip_code": "02143"},
     [NAMES, INITIAL]),
    ("other sex, an initial, the family name", "P", "Person", "male", {"zip_code": "02143"},
     [INITIAL]),
]  # fmt: skip

# (id, given, family, gender, whose card and birth date, member id)
STILL_MATCHED = [
    ("a nickname", "Trish", "Person", "female", PATRICIA),
    ("married: a new family name", "Patricia", "Okafor", "female", PATRICIA),
    ("married: the earlier family name on record", "Grace", "Hart", "female", GRACE),
    ("a typo in each name", "Patrcia", "Persn", "female", PATRICIA),
]


def _stored_decision(sessions: sessionmaker[Session]) -> MatchDecision:
    with sessions() as session:
        [decision] = session.scalars(select(MatchDecision)).all()
        return decision


def _failed_guards(decision: MatchDecision, member_id: str) -> list[str]:
    [candidate] = [c for c in decision.evidence["candidates"] if c["member_id"] == member_id]
    return [g["guard"] for g in candidate["guards"] if not g["held"]]


def _tokens(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(MatchToken)).all())


@pytest.mark.parametrize(
    ("given", "family", "gender", "extra", "guards"),
    [c[1:] for c in HELD_BACK],
    ids=[c[0] for c in HELD_BACK],
)
def test_v1_match_holds_a_card_and_a_birth_date_at_review(
    client: httpx.Client,
    sessions: sessionmaker[Session],
    given: str,
    family: str,
    gender: str,
    extra: dict[str, Any],
    guards: list[str],
) -> None:
    patient = _patient(given, family, gender, PATRICIA, member_id=PATRICIA["card"], **extra)
    r = client.post("/v1/match", json={"patient": patient})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["reason"], body["member_id"]) == (
        "review",
        "capped-by-guard",
        None,
    )
    decision = _stored_decision(sessions)
    assert (decision.outcome, decision.member_id) == ("review", None)
    assert _failed_guards(decision, PATRICIA["card"]) == guards


@pytest.mark.parametrize(
    ("given", "family", "gender", "who"),
    [c[1:] for c in STILL_MATCHED],
    ids=[c[0] for c in STILL_MATCHED],
)
def test_v1_match_still_matches_real_name_variations(
    client: httpx.Client, given: str, family: str, gender: str, who: dict[str, str]
) -> None:
    patient = _patient(given, family, gender, who, member_id=who["card"])
    body = client.post("/v1/match", json={"patient": patient}).json()
    assert (body["outcome"], body["member_id"]) == ("match", who["card"])


def card_coverage(card: str) -> dict[str, Any]:
    """A Coverage carrying the card's member id (MB)."""
    coverage = fhir_coverage("S-UNRELATED")
    del coverage["subscriberId"]
    coverage["identifier"] = [{"type": MB, "system": "urn:test:member-id", "value": card}]
    return coverage


def _member_match(patient: dict[str, Any], card: str) -> dict[str, Any]:
    """An HRex 1.1.0 request with a valid consent: these demographics, that card's member id."""
    body = hrex_11()
    param(body, "MemberPatient")["resource"] = patient
    param(body, "CoverageToMatch")["resource"] = card_coverage(card)
    return body


@pytest.mark.parametrize(
    ("given", "family", "gender", "extra", "guards"),
    [c[1:] for c in HELD_BACK],
    ids=[c[0] for c in HELD_BACK],
)
def test_member_match_issues_no_token_for_a_card_and_a_birth_date(
    new_payer: httpx.Client,
    sessions: sessionmaker[Session],
    given: str,
    family: str,
    gender: str,
    extra: dict[str, Any],
    guards: list[str],
) -> None:
    patient = _patient(given, family, gender, PATRICIA, **extra)
    r = new_payer.post(URL, json=_member_match(patient, PATRICIA["card"]))
    assert r.status_code == 422, r.text
    [coding] = r.json()["issue"][0]["details"]["coding"]
    assert coding["code"] == "pending-review"
    assert "MemberIdentifier" not in r.text
    assert _tokens(sessions) == 0
    decision = _stored_decision(sessions)
    assert (decision.outcome, decision.reason) == ("review", "capped-by-guard")
    assert _failed_guards(decision, PATRICIA["card"]) == guards


@pytest.mark.parametrize(
    ("given", "family", "gender", "who"),
    [c[1:] for c in STILL_MATCHED],
    ids=[c[0] for c in STILL_MATCHED],
)
def test_member_match_still_issues_tokens_for_real_name_variations(
    new_payer: httpx.Client,
    fhir_server: httpx.Client,
    given: str,
    family: str,
    gender: str,
    who: dict[str, str],
) -> None:
    patient = _patient(given, family, gender, who)
    r = new_payer.post(URL, json=_member_match(patient, who["card"]))
    assert r.status_code == 200, r.text
    token = param(r.json(), "MemberIdentifier")["valueIdentifier"]["value"]
    seen = fhir_server.post("/v1/tokens/introspect", data={"token": token}).json()
    assert (seen["active"], seen["member_id"]) == (True, who["card"])
