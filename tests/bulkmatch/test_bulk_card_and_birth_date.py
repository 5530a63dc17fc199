"""$bulk-member-match holds a card and a birth date to the same identity assurance floor as a
single $member-match (issue 10): the batch decides through the shared matcher, not a copy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.models import MatchDecision, MatchToken
from tests.bulkmatch.conftest import bulk_request, kick_off, member_bundle, path_of, wait_until_done
from tests.exchange.test_card_and_birth_date import (
    GRACE,
    PATRICIA,
    card_coverage,
    grace,  # noqa: F401 (fixture)
)
from tests.factories import fhir_patient

pytestmark = pytest.mark.usefixtures("example_member", "grace")

HELD_BACK = [
    ("John Smith", "John", "Smith", "female", {}),
    ("garbage names", "Xqzvt", "Wkkjhg", "female", {}),
    ("other sex, an initial", "P", "Person", "male", {"zip_code": "02143"}),
]


@pytest.mark.parametrize(
    ("given", "family", "gender", "extra"),
    [c[1:] for c in HELD_BACK],
    ids=[c[0] for c in HELD_BACK],
)
def test_a_job_gives_no_token_for_a_card_and_a_birth_date(
    new_payer: httpx.Client,
    sessions: sessionmaker[Session],
    given: str,
    family: str,
    gender: str,
    extra: dict[str, Any],
) -> None:
    intruder = fhir_patient(given, family, PATRICIA["born"], gender=gender, **extra)
    married = fhir_patient("Grace", "Hart", GRACE["born"], gender="female")
    body = bulk_request(
        member_bundle(intruder, card_coverage(PATRICIA["card"])),
        member_bundle(married, card_coverage(GRACE["card"])),
    )
    done = wait_until_done(new_payer, kick_off(new_payer, body))
    assert done.status_code == 200, done.text
    [output] = done.json()["output"]
    groups = {
        p["name"]: p["resource"] for p in new_payer.get(path_of(output["url"])).json()["parameter"]
    }
    # Only the married member (her earlier family name on record) is matched and gets a token.
    assert len(groups["MatchedMembers"]["member"]) == 1
    assert "Smith" not in str(groups["MatchedMembers"])
    assert family not in [
        c["name"][0]["family"] for c in groups["MatchedMembers"].get("contained", [])
    ]
    with sessions() as session:
        tokens = session.scalars(select(MatchToken)).all()
        decisions = {d.member_id or d.reason: d for d in session.scalars(select(MatchDecision))}
    assert {t.member_id for t in tokens} <= {GRACE["card"]}
    assert set(decisions) == {GRACE["card"], "capped-by-guard"}
    assert decisions["capped-by-guard"].outcome == "review"
