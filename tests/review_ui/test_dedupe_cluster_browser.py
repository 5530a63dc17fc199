"""A duplicate-enrolment cluster of three records settled from its page in a real browser
(Debian's chromium, playwright): the steward ticks which records are the survivor's person, one
decision pairs them all, and matching answers with the survivor. The same rules are tested over
the JSON API on both databases (tests/dedupe/test_cluster_decision.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import bind_tenant, tenant_transaction
from identity.dedupe.service import DedupeOptions, find_duplicates
from identity.member.service import load_members
from identity.policy import service as policy_service
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient
from tests.review_ui.conftest import PHI, ask
from tests.review_ui.test_workbench_browser import (
    assert_accessible,
    assert_no_phi,
    open_item,
    sign_in,
)

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("people"),
]
BUTTON = "Same person (duplicate enrolment)"


@pytest.fixture
def cluster_item(sessions: sessionmaker[Session], active_policy: str, tmp_path: Path) -> str:
    """Quenby Marchetti enrolled a third time (M13, beside `people`'s M10 and M11), then a
    dedupe pass: the id of the one cluster's review item."""
    path = tmp_path / "third.ndjson"
    third = [
        fhir_patient("Quenby", "Marchetti", "1961-03-14", member_id="M13", resource_id="p13"),
        fhir_coverage("S500", "Patient/p13"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in third))
    with sessions() as session:
        bind_tenant(session, TENANT)
        assert load_members(session, TENANT, [path]).ok
        session.commit()
    actor = Actor(tenant=TENANT, client_id=None, request_id=None, person="test")
    with tenant_transaction(sessions, TENANT) as session:
        policy = policy_service.stored_policy(session, active_policy)
        options = DedupeOptions(threshold=policy.document.decision.review_probability)
        run = find_duplicates(session, actor, policy, options, now=datetime.now(UTC))
    assert [c.members for c in run.new_clusters] == [("M10", "M11", "M13")]
    return run.item_ids[0]


def test_a_cluster_of_three_is_one_person_in_one_decision(
    page: Page,
    server: LiveServer,
    api: httpx.Client,
    sessions: sessionmaker[Session],
    cluster_item: str,
    urls: list[str],
) -> None:
    assert ask(api, "Quenby")["outcome"] == "review"  # three records of her: no single answer
    sign_in(page, sessions, server)
    open_item(page, server, cluster_item)
    assert_accessible(page)
    for member in ("M10", "M11", "M13"):
        expect(page.get_by_role("checkbox", name=member)).to_be_checked()

    # Untick M13: only M11 joins the survivor, so M13 still stands as a record of its own.
    page.get_by_role("radio", name="M10").check()
    page.get_by_role("checkbox", name="M13").uncheck()
    page.get_by_label("Then take the next item").first.uncheck()
    page.get_by_role("button", name=BUTTON).click()
    expect(page.get_by_role("status")).to_contain_text("Marked the same person")
    expect(page.locator("#history")).to_contain_text("M10 / M11")
    assert ask(api, "Quenby")["outcome"] == "review"

    # Every record ticked (the page's default): one decision pairs both with the survivor.
    page.get_by_role("radio", name="M10").check()
    page.get_by_label("Then take the next item").first.uncheck()
    page.get_by_role("button", name=BUTTON).click()
    expect(page.get_by_role("status")).to_contain_text("Marked the same person")
    expect(page.locator("#history")).to_contain_text("M10 / M11 / M13")
    expect(page.locator("#history")).to_contain_text("(superseded)")
    answer = ask(api, "Quenby")
    assert (answer["outcome"], answer["member_id"]) == ("match", "M10")
    assert_no_phi(urls)
    assert PHI  # the demographics searched for
