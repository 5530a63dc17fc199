"""The brute-force guard of $member-match over real HTTP on both databases: a concurrent burst of
different cards for one person cannot all pass; it is keyed on what an attacker varies (not the
given initial; birth dates and names tried with one card are counted); and what the honest caller
meets after someone's wrong cards is what the README says."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.exchange import repository
from identity.models import MemberMatchAttempt
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import NEW_PAYER, hrex_11, member_match_body, param
from tests.exchange.test_member_match import URL, outcome_code, token_of
from tests.factories import fhir_coverage

pytestmark = pytest.mark.usefixtures("example_member")

RIGHT_CARD = param(hrex_11(), "CoverageToMatch")["resource"]


def patricia(**changes: Any) -> dict[str, Any]:
    """The HRex example's member as asked for, with some demographics changed."""
    patient: dict[str, Any] = copy.deepcopy(param(hrex_11(), "MemberPatient")["resource"])
    if "given" in changes:
        patient["name"][0]["given"] = [changes["given"]]
    if "birth_date" in changes:
        patient["birthDate"] = changes["birth_date"]
    return patient


def ask(http: httpx.Client, patient: dict[str, Any], card: dict[str, Any]) -> httpx.Response:
    return http.post(URL, json=member_match_body(patient, card))


def burst(live_server: LiveServer, token: str, bodies: list[dict[str, Any]]) -> list[int]:
    """Every body at once, each on its own connection, released together."""
    start = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> int:
        with live_server.client(token) as http:
            start.wait()
            return http.post(URL, json=body).status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_a_concurrent_burst_of_cards_for_one_person_cannot_all_pass(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="new-payer", scopes={"match"}, organization=NEW_PAYER
    )
    bodies = [member_match_body(patricia(), fhir_coverage(f"BURST-{n}")) for n in range(10)]
    statuses = burst(live_server, token, bodies)
    assert sorted(statuses) == [200] * 3 + [429] * 7  # member_match_max_cards = 3
    with sessions() as session:  # only the admitted attempts are remembered
        cards = set(session.scalars(select(MemberMatchAttempt.card_key)))
    assert len(cards) == 3


def test_a_concurrent_burst_of_birth_dates_for_one_card_cannot_all_pass(
    live_server: LiveServer, settings: Settings
) -> None:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="new-payer", scopes={"match"}, organization=NEW_PAYER
    )
    bodies = [
        member_match_body(patricia(birth_date=f"1974-11-{day:02d}"), RIGHT_CARD)
        for day in range(1, 11)
    ]
    statuses = burst(live_server, token, bodies)
    assert statuses.count(429) == 7  # member_match_max_people_per_card = 3


def test_changing_the_given_initial_buys_no_fresh_budget(new_payer: httpx.Client) -> None:
    for n in (1, 2, 3):
        assert ask(new_payer, patricia(), fhir_coverage(f"INIT-{n}")).status_code == 200
    for given in ("Batricia", "Xena", "P"):
        r = ask(new_payer, patricia(given=given), fhir_coverage(f"INIT-{given}"))
        assert (r.status_code, outcome_code(r)) == (429, "too-many-attempts")


def test_birth_dates_tried_with_one_card_are_counted(new_payer: httpx.Client) -> None:
    """With her card, one birth date after another: the fourth distinct person is refused, and
    so is every later one, her own birth date included (the card is now being guessed at)."""
    statuses = [
        ask(new_payer, patricia(birth_date=f"1974-12-{day:02d}"), RIGHT_CARD).status_code
        for day in range(1, 16)
    ]
    assert 429 not in statuses[:3]
    assert statuses[3:] == [429] * 12
    assert ask(new_payer, patricia(), RIGHT_CARD).status_code == 429
    # The people already tried with the card are still answered: it is new ones that count.
    assert ask(new_payer, patricia(birth_date="1974-12-01"), RIGHT_CARD).status_code != 429


def test_the_honest_caller_after_someone_elses_wrong_cards(
    new_payer: httpx.Client,
    live_server: LiveServer,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    """Three wrong cards for Patricia from one client. That client's fourth card, even the right
    one, waits for the window (anything else would tell a guesser which card is right); another
    client — the honest caller at another system, or another workflow of the payer — is not
    touched by them; and once the window has passed the right card is answered."""
    for n in (1, 2, 3):
        ask(new_payer, patricia(), fhir_coverage(f"WRONG-{n}"))
    refused = ask(new_payer, patricia(), RIGHT_CARD)
    assert (refused.status_code, outcome_code(refused)) == (429, "too-many-attempts")
    window = settings.member_match_window_s
    assert window - 60 < int(refused.headers["retry-after"]) <= window

    honest = mint_dev_token(
        settings, tenant=TENANT, client_id="new-payer-2", scopes={"match"}, organization=NEW_PAYER
    )
    with live_server.client(honest) as other:
        token_of(ask(other, patricia(), RIGHT_CARD))

    def age_attempts(seconds: int) -> None:
        """Time passes (computed here: SQLite has no date arithmetic on stored times)."""
        with transaction(sessions) as session:
            for attempt in session.scalars(select(MemberMatchAttempt)):
                attempt.attempted_at -= timedelta(seconds=seconds)

    # Retry-After says when the oldest wrong card leaves the window, and does not move.
    age_attempts(window - 600)
    refused = ask(new_payer, patricia(), RIGHT_CARD)
    assert refused.status_code == 429, refused.text
    assert 540 < int(refused.headers["retry-after"]) <= 600
    age_attempts(601)  # the window passes
    token_of(ask(new_payer, patricia(), RIGHT_CARD))


def test_attempts_past_the_window_are_forgotten_in_batches(
    new_payer: httpx.Client, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """Attempts past the window no longer count and are forgotten by a later request, in
    batches: kept while the oldest is less than a tenth of the window past it (no DELETE on
    every request), forgotten once it is (every attempt past the window, not only the oldest)."""
    window = settings.member_match_window_s

    def age_attempts(seconds: float) -> None:
        with transaction(sessions) as session:
            for attempt in session.scalars(select(MemberMatchAttempt)):
                attempt.attempted_at -= timedelta(seconds=seconds)

    def stored() -> int:
        with transaction(sessions) as session:
            return repository.count_attempts(session, TENANT)

    for n in (1, 2, 3):
        ask(new_payer, patricia(), fhir_coverage(f"WRONG-{n}"))
    age_attempts(window + 60)  # past the window, not yet a tenth past it
    token_of(ask(new_payer, patricia(), RIGHT_CARD))  # they no longer count
    assert stored() == 4  # nor are they forgotten yet
    age_attempts(window / 10)  # the oldest are now more than a tenth past the window
    token_of(ask(new_payer, patricia(), RIGHT_CARD))
    assert stored() == 2  # the right card's first attempt (within the window) and this one
