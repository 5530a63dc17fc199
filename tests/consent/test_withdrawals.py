"""Consent withdrawals over real HTTP on both databases: recorded (member, recipient, time, who),
audited, idempotent, revoking the member's tokens, and honoured by every later $member-match —
asked again, finished after a steward's review, or in a bulk job — unless the consent presented
was given after the withdrawal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import AuditEvent, ConsentWithdrawal, MatchToken
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import (
    NEW_PAYER,
    consent,
    example_member,
    fhir_server,
    hrex_11,
    new_payer,
    steward,
)
from tests.exchange.test_member_match import URL, _doubtful, outcome_code, token_of

__all__ = ["example_member", "fhir_server", "new_payer", "steward"]

pytestmark = pytest.mark.usefixtures("example_member")

MEMBER = "DH10001235"
OTHER_PAYER = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "5555555555"}
TO_NEW_PAYER = {"system": NEW_PAYER.system, "value": NEW_PAYER.value}


@pytest.fixture
def consent_system(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="consent-system", scopes={"consents:manage"}
    )
    with live_server.client(token) as http:
        yield http


def withdraw(
    http: httpx.Client, recipient: dict[str, str] | None = None, withdrawn_at: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"member_id": MEMBER}
    if recipient is not None:
        body["recipient"] = recipient
    if withdrawn_at is not None:
        body["withdrawn_at"] = withdrawn_at
    r = http.post("/v1/consent-withdrawals", json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def given_now(body: dict[str, Any]) -> dict[str, Any]:
    """The request with a consent the member gave just now (Consent.dateTime)."""
    consent(body)["dateTime"] = datetime.now(UTC).isoformat()
    return body


def active(fhir_server: httpx.Client, token: str) -> bool:
    return bool(fhir_server.post("/v1/tokens/introspect", data={"token": token}).json()["active"])


def test_a_withdrawal_stays_withdrawn_until_a_newer_consent(
    new_payer: httpx.Client,
    fhir_server: httpx.Client,
    consent_system: httpx.Client,
    sessions: sessionmaker[Session],
) -> None:
    first = token_of(new_payer.post(URL, json=hrex_11()))
    done = withdraw(consent_system, TO_NEW_PAYER)
    assert done["revoked_tokens"] == 1
    assert (done["member_id"], done["recipient"]) == (MEMBER, TO_NEW_PAYER)
    assert not active(fhir_server, first)

    # The same request again: refused, and no token issued.
    again = new_payer.post(URL, json=hrex_11())
    assert (again.status_code, outcome_code(again)) == (422, "consent-invalid")
    assert "withdrew" in str(again.json()["issue"][0])
    # A consent claiming to be given after the withdrawal, but in the future: not believed.
    future = hrex_11()
    consent(future)["dateTime"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert outcome_code(new_payer.post(URL, json=future)) == "consent-invalid"
    with sessions() as session:
        assert len(session.scalars(select(MatchToken)).all()) == 1

    # The member consents again: the newer consent is honoured, the old one still is not.
    renewed = token_of(new_payer.post(URL, json=given_now(hrex_11())))
    assert active(fhir_server, renewed)
    assert outcome_code(new_payer.post(URL, json=hrex_11())) == "consent-invalid"

    with sessions() as session:
        [row] = session.scalars(select(ConsentWithdrawal)).all()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "consent.withdraw")
        ).all()
    assert (row.member_id, row.recipient_system, row.recipient_value, row.recorded_by) == (
        MEMBER,
        NEW_PAYER.system,
        NEW_PAYER.value,
        "consent-system",
    )
    assert row.id == done["withdrawal_id"]
    assert [e.object_ids for e in events] == [[row.id, MEMBER]]


def test_a_second_identical_withdrawal_is_idempotent(
    new_payer: httpx.Client,
    fhir_server: httpx.Client,
    consent_system: httpx.Client,
    sessions: sessionmaker[Session],
) -> None:
    """A withdrawal is its member, recipient and time: the consent system delivering it twice
    gets one record and one answer, even after the member consented again; a later withdrawal
    (here one without a time: now) is a new one and wins over the newer consent."""
    token_of(new_payer.post(URL, json=hrex_11()))
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    first = withdraw(consent_system, TO_NEW_PAYER, withdrawn_at=when)
    assert first["revoked_tokens"] == 1
    assert withdraw(consent_system, TO_NEW_PAYER, withdrawn_at=when) == first
    # The same moment written in another zone is the same withdrawal.
    eastern = datetime.fromisoformat(when).astimezone(timezone(timedelta(hours=-5)))
    assert withdraw(consent_system, TO_NEW_PAYER, withdrawn_at=eastern.isoformat()) == first
    renewed = token_of(new_payer.post(URL, json=given_now(hrex_11())))
    assert withdraw(consent_system, TO_NEW_PAYER, withdrawn_at=when) == first  # a redelivery
    assert active(fhir_server, renewed)
    with sessions() as session:
        assert len(session.scalars(select(ConsentWithdrawal)).all()) == 1

    unused = given_now(hrex_11())  # the member consents again, then withdraws again
    second = withdraw(consent_system, TO_NEW_PAYER)
    assert second["withdrawal_id"] != first["withdrawal_id"]
    assert second["revoked_tokens"] == 1
    assert not active(fhir_server, renewed)
    assert outcome_code(new_payer.post(URL, json=unused)) == "consent-invalid"
    with sessions() as session:
        assert len(session.scalars(select(ConsentWithdrawal)).all()) == 2


def test_a_withdrawal_names_its_recipient_or_every_one(
    new_payer: httpx.Client, consent_system: httpx.Client
) -> None:
    withdraw(consent_system, OTHER_PAYER)  # from another payer: this one is still answered
    token_of(new_payer.post(URL, json=hrex_11()))
    done = withdraw(consent_system)  # from every recipient
    assert done["recipient"] is None
    assert outcome_code(new_payer.post(URL, json=hrex_11())) == "consent-invalid"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/member_id"),
        ({"member_id": ""}, "/member_id"),
        ({"member_id": "M\u0000"}, "/member_id"),
        ({"member_id": MEMBER, "recipient": {"system": "x"}}, "/recipient/value"),
        ({"member_id": MEMBER, "recipient": "x|y"}, "/recipient"),
        ({"member_id": MEMBER, "withdrawn_at": "2026-01-01T00:00:00"}, "/withdrawn_at"),  # no zone
        ({"member_id": MEMBER, "withdrawn_at": "2999-01-01T00:00:00Z"}, "/withdrawn_at"),
        ({"member_id": MEMBER, "withdrawn_at": "0001-01-01T00:00:00+05:00"}, "/withdrawn_at"),
    ],
)
def test_a_bad_withdrawal_is_a_422_that_records_nothing(
    consent_system: httpx.Client,
    sessions: sessionmaker[Session],
    body: dict[str, Any],
    pointer: str,
) -> None:
    r = consent_system.post("/v1/consent-withdrawals", json=body)
    assert r.status_code == 422
    assert pointer in str(r.json())
    with sessions() as session:
        assert session.scalars(select(ConsentWithdrawal)).all() == []


def test_a_request_finished_after_review_honours_a_withdrawal(
    new_payer: httpx.Client, steward: httpx.Client, consent_system: httpx.Client
) -> None:
    accepted = new_payer.post(URL, json=_doubtful(), headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    status_url = accepted.headers["content-location"]
    status_path = status_url[status_url.index("/fhir/") :]
    item_id = new_payer.post(URL, json=_doubtful()).json()["issue"][0]["diagnostics"].split()[2]
    settled = steward.post(
        f"/v1/review-items/{item_id.rstrip(';')}/resolution",
        json={"resolution": "link", "member_id": MEMBER, "note": "same person"},
    )
    assert settled.status_code == 200, settled.text
    withdraw(consent_system, TO_NEW_PAYER)

    done = new_payer.get(status_path)
    [entry] = done.json()["entry"]
    assert entry["response"]["status"] == "422"
    [coding] = entry["resource"]["issue"][0]["details"]["coding"]
    assert coding["code"] == "consent-invalid"
    assert outcome_code(new_payer.post(URL, json=_doubtful())) == "consent-invalid"
    # With a consent given since, the same request is answered.
    token_of(new_payer.post(URL, json=given_now(_doubtful())))


def test_a_withdrawal_racing_a_match_never_leaves_a_live_token(
    live_server: LiveServer,
    settings: Settings,
    new_payer: httpx.Client,
    consent_system: httpx.Client,
    fhir_server: httpx.Client,
) -> None:
    """Each round, a consent given just before and a withdrawal sent at the same moment as the
    match: whichever commits first, the member ends with no live token (refused, or revoked)."""
    outcomes = set()
    for _ in range(16):
        body = given_now(hrex_11())
        start = threading.Barrier(2)

        def match(body: dict[str, Any] = body, start: threading.Barrier = start) -> httpx.Response:
            start.wait()
            return new_payer.post(URL, json=body)

        def withdrawal(start: threading.Barrier = start) -> dict[str, Any]:
            start.wait()
            return withdraw(consent_system, TO_NEW_PAYER)

        with ThreadPoolExecutor(2) as pool:
            asked, _ = pool.submit(match), pool.submit(withdrawal)
            r = asked.result()
        outcomes.add(r.status_code)
        if r.status_code == 200:
            assert not active(fhir_server, token_of(r))
        else:
            assert outcome_code(r) == "consent-invalid"
    assert outcomes <= {200, 422}
