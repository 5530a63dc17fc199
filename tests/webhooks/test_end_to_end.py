"""The whole loop over real HTTP, on both databases: a payer's `/v1/match` answers `review`, a
steward decides through the review API, the service's own webhook worker (started by the app)
delivers the signed event to the payer's receiver, and `GET /v1/matches/{id}` shows the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.webhooks.delivery import EVENT_URI
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient
from tests.webhooks.conftest import Receiver, register_client, set_webhook

REQUEST = {
    "patient": fhir_patient("William", "Chen", "1958-11-02"),
    "coverage": fhir_coverage("S200"),
}


def _eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.usefixtures("enrolled_twice", "active_policy")
def test_a_steward_decision_reaches_the_payer_and_its_match_record(
    settings: Settings, sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    payer_id = register_client(sessions, settings, TENANT)
    set_webhook(sessions, payer_id, f"{receiver.base_url}/events")
    # A long poll: a delivery this quick shows the commit woke the worker.
    tuned = settings.model_copy(update={"webhook_poll_s": 30.0})
    with LiveServer(tuned) as server:
        payer_token = mint_dev_token(settings, tenant=TENANT, client_id=payer_id, scopes=["match"])
        steward_token = mint_dev_token(
            settings, tenant=TENANT, client_id="steward-desk", scopes=["review"]
        )
        with server.client(payer_token) as payer, server.client(steward_token) as steward:
            answer = payer.post("/v1/match", json=REQUEST).json()
            assert answer["outcome"] == "review"
            item_id = answer["review_item_id"]

            # A refused decision (not a candidate) rolls back: nothing is sent.
            bad = steward.post(
                f"/v1/review-items/{item_id}/decisions", json={"kind": "link", "member_id": "M9"}
            )
            assert bad.status_code == 422
            # An escalation is not a settlement: nothing is sent either.
            escalated = steward.post(
                f"/v1/review-items/{item_id}/decisions", json={"kind": "escalate"}
            )
            assert escalated.status_code == 201, escalated.text
            time.sleep(0.3)
            assert receiver.received == []

            lead_token = mint_dev_token(
                settings, tenant=TENANT, client_id="lead-desk", scopes=["review", "admin"]
            )
            with server.client(lead_token) as lead:
                decided = lead.post(
                    f"/v1/review-items/{item_id}/decisions",
                    json={"kind": "link", "member_id": "M4", "note": "same card, checked"},
                )
            assert decided.status_code == 201, decided.text
            assert _eventually(lambda: len(receiver.received) == 1, timeout_s=5)

            jwks = payer.get("/.well-known/jwks.json").json()
            [got] = receiver.received
            header = jwt.get_unverified_header(got.body)
            [key] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
            claims = jwt.decode(
                got.body,
                jwt.PyJWK(key).key,
                algorithms=["RS256"],
                audience=payer_id,
                issuer=settings.public_url,
            )
            event = claims["events"][EVENT_URI]
            assert (event["kind"], event["member_id"]) == ("link", "M4")
            assert (event["match_id"], event["review_item_id"]) == (answer["match_id"], item_id)
            assert "checked" not in got.body.decode()  # the note stays inside

            outcome = payer.get(f"/v1/matches/{answer['match_id']}").json()["resolution"]
            assert (outcome["status"], outcome["kind"], outcome["member_id"]) == (
                "resolved",
                "link",
                "M4",
            )
