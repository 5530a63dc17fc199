"""A bulk member whose consent was withdrawn is consent-constrained, as a single $member-match is
refused: the batch applies the single path's withdrawal rule to one read for the whole batch."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import httpx
import pytest

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.bulkmatch.conftest import bulk_request, example_bundle, part
from tests.bulkmatch.test_bulk_member_match import _groups, _manifest_and_output
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import example_member, fhir_server, new_payer

__all__ = ["example_member", "fhir_server", "new_payer"]

pytestmark = pytest.mark.usefixtures("example_member")


def test_a_withdrawn_member_is_consent_constrained_unless_consented_since(
    new_payer: httpx.Client, live_server: LiveServer, settings: Settings
) -> None:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="consent-system", scopes={"consents:manage"}
    )
    with live_server.client(token) as consent_system:
        r = consent_system.post("/v1/consent-withdrawals", json={"member_id": "DH10001235"})
    assert r.status_code == 200, r.text

    old = example_bundle()  # its consent's period began a month ago: before the withdrawal
    renewed = copy.deepcopy(old)
    part(renewed, "Consent")["dateTime"] = datetime.now(UTC).isoformat()
    _, result, _ = _manifest_and_output(new_payer, bulk_request(old, renewed))
    groups = _groups(result)
    assert len(groups["ConsentConstrainedMembers"]["member"]) == 1
    assert len(groups["MatchedMembers"]["member"]) == 1
    assert "NonMatchedMembers" not in groups
    [constrained] = groups["ConsentConstrainedMembers"]["member"]
    [matched] = groups["MatchedMembers"]["member"]
    refs = [
        m["entity"]["extension"][0]["valueReference"]["reference"] for m in (constrained, matched)
    ]
    assert refs == ["#1", "#2"]  # the old consent refused, the newer one honoured
