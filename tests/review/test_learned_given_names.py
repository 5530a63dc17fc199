"""Given-name equivalences learned from stewards' links, over real HTTP on both databases.

"Bitsy" is a pet name for Elizabeth that no nickname or diminutive source lists. A request by it
(with the family name, birth date and ZIP) is only a review; once stewards linked such requests
to two different Elizabeths (the default policy's `min_links: 2`), the next request by "Bitsy"
for a third Elizabeth matches, its evidence naming the links. Undoing a link, or a newer
decision on its item, withdraws it; another tenant never sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.fhir.demographics import parse_patient, to_raw
from identity.learned_names import service as learned_names
from identity.matching.policy import find_policy
from identity.matching.standardize import standardize
from identity.member.erase import erase_members
from identity.member.service import load_members
from identity.models import LearnedGivenName, MatchDecision
from identity.policy import service as policy_service
from identity.policy.cache import MatcherCache
from identity.resolution import batch
from identity.resolution.replay import replay
from tests.conftest import RULES_DIR, TENANT, LiveServer
from tests.factories import fhir_patient

OTHER = "other-payer"
# member id -> (family name, birth date, ZIP): three women named Elizabeth.
ELIZABETHS = {
    "B1": ("Hartley", "1968-09-21", "02144"),
    "B2": ("Kowalski", "1972-03-08", "02145"),
    "B3": ("Moreno", "1980-11-30", "02146"),
}


def _member(member_id: str) -> dict[str, Any]:
    family, born, zip_code = ELIZABETHS[member_id]
    return fhir_patient(
        "Elizabeth",
        family,
        born,
        gender="female",
        member_id=member_id,
        resource_id=f"p-{member_id}",
        street=f"{len(family)} Birch Road",
        zip_code=zip_code,
    )


def _bitsy(member_id: str, gender: str = "female") -> dict[str, Any]:
    """The same woman by her pet name: family name, birth date and ZIP, no card, no street."""
    family, born, zip_code = ELIZABETHS[member_id]
    patient = fhir_patient("Bitsy", family, born, gender=gender)
    patient["address"] = [{"use": "home", "postalCode": zip_code}]
    return {"patient": patient}


@pytest.fixture
def elizabeths(sessions: sessionmaker[Session], active_policy: str, tmp_path: Path) -> None:
    path = tmp_path / "members.ndjson"
    path.write_text("".join(json.dumps(_member(m)) + "\n" for m in ELIZABETHS))
    with transaction(sessions) as session:
        policy_service.activate(session, OTHER, find_policy(RULES_DIR, "default"))
        for tenant in (TENANT, OTHER):
            assert load_members(session, tenant, [path]).ok


@pytest.fixture
def steward(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="steward-client", scopes=["review", "match"]
    )
    with live_server.client(token) as client:
        yield client


@pytest.fixture
def other_tenant(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(settings, tenant=OTHER, client_id="other-client", scopes=["match"])
    with live_server.client(token) as client:
        yield client


def _ask(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post("/v1/match", json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _link(http: httpx.Client, member_id: str) -> tuple[str, str]:
    """A steward links a "Bitsy" request to the member it was for: (item id, resolution id)."""
    asked = _ask(http, _bitsy(member_id))
    assert (asked["outcome"], asked["reason"]) == ("review", "review-band")
    item_id = asked["review_item_id"]
    r = http.post(
        f"/v1/review-items/{item_id}/decisions", json={"kind": "link", "member_id": member_id}
    )
    assert r.status_code == 201, r.text
    return item_id, r.json()["id"]


def _rows(sessions: sessionmaker[Session]) -> list[tuple[str, str, str | None, str, bool]]:
    with sessions() as session:
        rows = session.execute(
            select(
                LearnedGivenName.request_given,
                LearnedGivenName.member_given,
                LearnedGivenName.sex,
                LearnedGivenName.member_id,
                LearnedGivenName.active,
            ).order_by(LearnedGivenName.decided_at, LearnedGivenName.member_id)
        )
        return [(a, b, c, d, e) for a, b, c, d, e in rows]


def _evidence(sessions: sessionmaker[Session], match_id: str) -> dict[str, Any]:
    with sessions() as session:
        decision = session.get(MatchDecision, match_id)
        assert decision is not None
        return dict(decision.evidence)


def _batch_outcome(sessions: sessionmaker[Session], member_id: str) -> tuple[str, str | None]:
    """The bulk path (`resolution.batch`, as $bulk-member-match runs it) on the same request."""
    body = _bitsy(member_id)["patient"]
    patient, errors = parse_patient(body)
    assert patient is not None
    assert not errors
    query = standardize(to_raw(patient, None))
    with sessions() as session:
        matcher = MatcherCache().for_tenant(session, TENANT)
        learned = learned_names.for_queries(session, TENANT, matcher.given_names, [query])
        found, ends, per_query = batch.retrieve_for(session, TENANT, matcher, [query], learned)
        [decided] = batch.decide_all(
            TENANT,
            matcher,
            [(query, found[0], ends[0], 0.0)],
            today=date.today(),
            candidates_s=per_query,
            learned=learned,
        )
    return decided.outcome, decided.member_id


@pytest.mark.usefixtures("elizabeths")
def test_links_teach_a_pet_name_until_undone(
    steward: httpx.Client,
    other_tenant: httpx.Client,
    sessions: sessionmaker[Session],
    active_policy: str,
) -> None:
    # Before: "Bitsy Moreno" is only a review, on the single and the bulk path.
    assert _ask(steward, _bitsy("B3"))["outcome"] == "review"
    assert _batch_outcome(sessions, "B3") == ("review", None)

    # One link is one person's alias, not yet a name's (min_links: 2).
    first_item, first_link = _link(steward, "B1")
    assert _rows(sessions) == [("BITSY", "ELIZABETH", "F", "B1", True)]
    assert _ask(steward, _bitsy("B3"))["outcome"] == "review"

    # A second Elizabeth linked by it: the next "Bitsy" matches, on both paths.
    second_item, second_link = _link(steward, "B2")
    answer = _ask(steward, _bitsy("B3"))
    assert (answer["outcome"], answer["member_id"]) == ("match", "B3")
    used = _evidence(sessions, answer["match_id"])[learned_names.EVIDENCE_KEY]
    assert used == [{"member_id": "B3", "resolution_ids": sorted([first_link, second_link])}]
    assert _batch_outcome(sessions, "B3") == ("match", "B3")
    # A man called Bitsy is not taught by links to women; another tenant learned nothing.
    assert _ask(steward, _bitsy("B3", gender="male"))["outcome"] != "match"
    assert _ask(other_tenant, _bitsy("B3"))["outcome"] == "review"

    # Undoing the second link withdraws it: below min_links again.
    listed = steward.get("/v1/remembered-decisions", params={"member_id": "B2"}).json()
    [memory] = [m for m in listed["remembered"] if m["kind"] == "link" and m["active"]]
    undone = steward.post(f"/v1/remembered-decisions/{memory['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert [r[-1] for r in _rows(sessions)] == [True, False]
    assert _ask(steward, _bitsy("B3"))["outcome"] == "review"
    assert _batch_outcome(sessions, "B3") == ("review", None)
    # A replay of the decision that used the pair decides as it was: its links are read back.
    with sessions() as session:
        replayed = replay(session, TENANT, answer["match_id"], active_policy).replayed
    assert (replayed.decision.outcome.value, replayed.member and replayed.member.member_id) == (
        "match",
        "B3",
    )
    assert list(replayed.learned_given_names) == used

    # Linked again (a new version of the item's resolution) it is back; a newer decision on
    # the first item (keep apart) supersedes that link, and with it what it taught.
    again = steward.post(
        f"/v1/review-items/{second_item}/decisions", json={"kind": "link", "member_id": "B2"}
    )
    assert again.status_code == 201, again.text
    assert _ask(steward, _bitsy("B3"))["outcome"] == "match"
    apart = steward.post(
        f"/v1/review-items/{first_item}/decisions", json={"kind": "keep_apart", "member_id": "B1"}
    )
    assert apart.status_code == 201, apart.text
    assert [r[-1] for r in _rows(sessions)] == [False, False, True]
    assert _ask(steward, _bitsy("B3"))["outcome"] == "review"


@pytest.mark.usefixtures("elizabeths")
def test_a_link_between_equivalent_names_teaches_nothing(
    steward: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    """ "Beth" is a listed diminutive of Elizabeth: nothing new to learn from its link (the
    request has a typo in the family name and the birth date, hence the review)."""
    _, _, zip_code = ELIZABETHS["B1"]
    patient = fhir_patient("Beth", "Hartly", "1968-09-27", gender="female")
    patient["address"] = [{"use": "home", "postalCode": zip_code}]
    asked = _ask(steward, {"patient": patient})
    assert asked["outcome"] == "review", asked
    r = steward.post(
        f"/v1/review-items/{asked['review_item_id']}/decisions",
        json={"kind": "link", "member_id": "B1"},
    )
    assert r.status_code == 201, r.text
    assert _rows(sessions) == []


@pytest.mark.usefixtures("elizabeths")
def test_erasing_a_member_erases_the_names_its_links_taught(
    steward: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    _link(steward, "B1")
    _link(steward, "B2")
    assert _ask(steward, _bitsy("B3"))["outcome"] == "match"  # two links: a name's alias
    actor = Actor(tenant=TENANT, client_id=None, request_id=None, person="privacy-officer")
    with transaction(sessions) as session:
        report = erase_members(session, actor, ["B1"], datetime.now(UTC))
    assert report.learned_names_erased == 1
    # B1's pair keeps its row (the link that made it stays) but not her given name, and it
    # teaches nothing: one link is left, below min_links, so "Bitsy" is a review again.
    assert _rows(sessions) == [("", "", "F", "B1", False), ("BITSY", "ELIZABETH", "F", "B2", True)]
    with sessions() as session:
        undone_by = session.scalars(
            select(LearnedGivenName.undone_by).where(LearnedGivenName.member_id == "B1")
        ).one()
    assert undone_by == "privacy-officer"
    assert _ask(steward, _bitsy("B3"))["outcome"] == "review"
    with transaction(sessions) as session:  # erasing again finds nothing more to erase
        assert erase_members(session, actor, ["B1"], datetime.now(UTC)).learned_names_erased == 0
