"""The whole exchange over real HTTP, on both databases: the new payer's system gets an access
token, asks $member-match with the member's consent, and presents the match token it got to the
gate in front of the old payer's FHIR server, which serves that member's record and no other."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.clients import service as clients_service
from identity.db import transaction
from tests.auth.forge import ClientKey
from tests.conftest import TENANT
from tests.exchange.conftest import NEW_PAYER, example_member, hrex_11  # noqa: F401 (fixture)
from tests.exchange.test_member_match import token_of
from tests.gate.conftest import World
from tests.gate.fhir_fixture import HREX_MEMBER, OURS

pytestmark = pytest.mark.usefixtures("example_member")


def register_new_payer(world: World, sessions: sessionmaker[Session]) -> str:
    key = ClientKey("ES384")
    with transaction(sessions) as session:
        client = clients_service.register(
            session,
            tenant=TENANT,
            name="New Health Plan",
            jwks=key.jwks(),
            scopes="match tokens:revoke",
            organization=NEW_PAYER,
        )
    world.keys[client.client_id] = key
    return client.client_id


def test_member_match_then_the_gate(world: World, sessions: sessionmaker[Session]) -> None:
    new_payer = register_new_payer(world, sessions)
    bearer = world.access_token(new_payer, "match tokens:revoke")
    with world.identity.client(bearer) as http:
        match_token = token_of(http.post("/fhir/Patient/$member-match", json=hrex_11()))

    record = world.get(f"/Patient/{HREX_MEMBER}", bearer=bearer, match_token=match_token)
    assert record.status_code == 200, record.text
    assert record.json()["id"] == HREX_MEMBER
    assert world.get(f"/Patient/{OURS}", bearer=bearer, match_token=match_token).status_code == 403
    # Another registered payer holding the same token gets nothing.
    other = world.access_token(world.clients["payer-b"])
    assert (
        world.get(f"/Patient/{HREX_MEMBER}", bearer=other, match_token=match_token).status_code
        == 403
    )

    # The holder revokes it; the gate stops serving at once.
    with world.identity.client(bearer) as http:
        assert http.post("/v1/tokens/revoke", data={"token": match_token}).status_code == 200
    assert (
        world.get(f"/Patient/{HREX_MEMBER}", bearer=bearer, match_token=match_token).status_code
        == 403
    )
