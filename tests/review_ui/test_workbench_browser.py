"""The workbench in a real browser: Debian's chromium driven by playwright, against the real
service on loopback (SQLite; the same rules are tested over the JSON API on both databases).

Every page is checked with axe-core for WCAG 2 A/AA violations; every URL the browser asks for is
recorded and searched for the people's demographics, and so is the server's log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.models import AuditEvent, ReviewItem, StewardSession
from identity.review_ui.pages import QUEUE_PAGE
from identity.review_ui.present import reason_sentence
from tests.conftest import TENANT, LiveServer, ServerThread
from tests.factories import fhir_coverage, fhir_patient
from tests.review_ui.conftest import OTHER_TENANT, PHI, ask, sign_in_url
from tests.review_ui.fake_idp import CLIENT_ID, FakeIdp

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("people"),
]
AXE = Axe()
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def assert_accessible(page: Page) -> None:
    results = AXE.run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()


def assert_no_phi(urls: list[str]) -> None:
    assert urls
    for url in urls:
        for value in PHI:
            assert value.lower() not in url.lower(), url


def sign_in(page: Page, sessions: sessionmaker[Session], server: LiveServer, **kw: str) -> None:
    page.goto(sign_in_url(sessions, server, **kw))
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()


def open_item(page: Page, server: LiveServer, item_id: str) -> None:
    page.goto(f"{server.base_url}/review/items/{item_id}")
    expect(page.get_by_role("heading", name="Review item")).to_be_visible()


def decide(page: Page, button: str, *, member: str | None = None, note: str = "") -> None:
    if member:
        page.get_by_role("radio", name=member).check()
    page.get_by_label("Note").fill(note)
    page.get_by_label("Then take the next item").uncheck()
    page.get_by_role("button", name=button).click()


def test_pages_read_well_and_pass_axe(
    page: Page,
    server: LiveServer,
    api: httpx.Client,
    sessions: sessionmaker[Session],
    urls: list[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    decision = ask(api)
    assert decision["outcome"] == "review"
    item_id = decision["review_item_id"]

    page.goto(f"{server.base_url}/review/sign-in")
    assert_accessible(page)
    sign_in(page, sessions, server, person="lee.lead", role="lead")
    assert page.title() == "Queue · identity workbench"
    row = page.locator("table.queue tbody tr").first
    expect(row).to_contain_text(reason_sentence(decision["reason"]))
    expect(row).to_contain_text(decision["reason"])
    expect(row).to_contain_text("unclaimed")
    expect(page.locator(".buckets")).to_contain_text("<1d")
    assert_accessible(page)

    open_item(page, server, item_id)
    evidence = page.locator("table.evidence")
    expect(evidence).to_contain_text("M10")
    expect(evidence).to_contain_text("M11")
    expect(evidence).to_contain_text("a close spelling")  # the level in words
    expect(evidence.locator("mark").first).to_be_visible()  # the part that differs
    expect(evidence).to_contain_text("1961-••-••")  # the birth date masked by default
    expect(page.locator("svg[role=img]").first).to_be_visible()  # the waterfall
    expect(page.get_by_role("button", name="Keep apart")).to_contain_text("k")
    assert item_id[:8] in page.title()
    assert "Marchetti" not in page.title()
    assert_accessible(page)

    page.get_by_role("button", name="Show full SSN and birth date").click()
    expect(page.locator("table.evidence")).to_contain_text("1961-03-14")
    # Each view of the demographics, and the reveal, is an audit event naming the person.
    with sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["review.view", "review.reveal"]))
        ).all()
    seen = {(e.action, e.person) for e in events if item_id in e.object_ids}
    assert seen == {("review.view", "lee.lead"), ("review.reveal", "lee.lead")}

    # Filters live in the query string (codes, no PHI) and survive the round trip.
    page.goto(f"{server.base_url}/review")
    page.get_by_label("Reason").select_option(decision["reason"])
    page.get_by_role("button", name="Filter").click()
    assert f"reason={decision['reason']}" in page.url
    expect(page.get_by_label("Reason")).to_have_value(decision["reason"])
    expect(page.locator("table.queue tbody tr")).to_have_count(1)

    # A lead assigns the item to a steward.
    open_item(page, server, item_id)
    page.get_by_label("Assign to").fill("sam.steward")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("Held by sam.steward")).to_be_visible()

    page.goto(f"{server.base_url}/review/lead")
    expect(page.get_by_role("heading", name="Queue and throughput")).to_be_visible()
    assert_accessible(page)
    page.goto(f"{server.base_url}/review/members/M10/remembered")
    assert_accessible(page)

    assert_no_phi(urls)
    logs = capfd.readouterr()
    for value in PHI:
        assert value not in logs.err
        assert value not in logs.out


def test_oidc_sign_in_in_the_browser(
    page: Page, settings: Any, active_policy: str, urls: list[str]
) -> None:
    fake = FakeIdp()
    fake.claims = {"preferred_username": "olivia.idp", "roles": ["steward"], "tenant": TENANT}
    with ServerThread(fake.app()) as idp:
        fake.issuer = idp.base_url
        configured = settings.model_copy(
            update={
                "oidc_issuer": idp.base_url,
                "oidc_client_id": CLIENT_ID,
                "oidc_tenant_claim": "tenant",
            }
        )
        with LiveServer(configured) as server:
            page.goto(f"{server.base_url}/review")
            page.get_by_role("link", name="Sign in with your organisation's account").click()
            expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
            expect(page.locator("header")).to_contain_text("olivia.idp · steward")
    assert any("/authorize?" in u and "code_challenge=" in u for u in urls)


def test_claim_release_and_a_lapsed_claim(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    item_id = ask(api)["review_item_id"]
    sign_in(page, sessions, server)
    page.keyboard.press("n")  # the shortcut shown on "Take the next item"
    expect(page.get_by_text("Held by sam.steward")).to_be_visible()
    assert page.url.endswith(f"/review/items/{item_id}?done=claim")
    page.goto(f"{server.base_url}/review")
    expect(page.locator("table.queue tbody tr").first).to_contain_text("sam.steward")

    open_item(page, server, item_id)
    page.get_by_role("button", name="Release").click()
    expect(page.locator("table.queue tbody tr").first).to_contain_text("unclaimed")

    open_item(page, server, item_id)
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_text("Held by sam.steward")).to_be_visible()
    with sessions() as session:  # the lease runs out
        past = datetime.now(UTC) - timedelta(minutes=1)
        session.execute(update(ReviewItem).values(claim_expires_at=past))
        session.commit()
    page.goto(f"{server.base_url}/review")
    expect(page.locator("table.queue tbody tr").first).to_contain_text("unclaimed")


def _query(phone: str, given: str) -> dict[str, Any]:
    return {
        "patient": fhir_patient(given, "Marchetti", "1961-03-14", phone=phone),
        "coverage": fhir_coverage("S500"),
    }


def _match(api: httpx.Client, phone: str, given: str = "Quen") -> dict[str, Any]:
    response = api.post("/v1/match", json=_query(phone, given))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_keep_apart_and_link_from_the_page_change_the_next_answer(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    apart, linked = _match(api, "617-555-0101"), _match(api, "617-555-0102")
    assert apart["outcome"] == linked["outcome"] == "review"
    sign_in(page, sessions, server)

    open_item(page, server, apart["review_item_id"])
    decide(page, "Keep apart", member="M10", note="not this one")
    expect(page.get_by_role("status")).to_contain_text("Kept apart")
    expect(page.locator("#history")).to_contain_text("Kept apart from a member M10")
    expect(page.locator("#history")).to_contain_text("sam.steward")
    expect(page.locator("#history")).to_contain_text("not this one")

    open_item(page, server, linked["review_item_id"])
    decide(page, "Link to this candidate", member="M11")
    expect(page.get_by_role("status")).to_contain_text("Linked")

    again = _match(api, "617-555-0101")
    # The steward's keep-apart excludes M10: no new review, the other candidate answers.
    assert (again["outcome"], again["member_id"], again["review_item_id"]) == ("match", "M11", None)
    statuses = {c["member_id"]: c["status"] for c in again["candidates"]}
    assert statuses["M10"] == "excluded"
    relinked = _match(api, "617-555-0102")
    assert (relinked["outcome"], relinked.get("member_id")) == ("match", "M11")

    # Undo the remembered link from the member's page: the same request is a question again.
    page.goto(f"{server.base_url}/review/members/M11/remembered")
    page.get_by_role("button", name="Undo").first.click()
    expect(page.get_by_role("status")).to_contain_text("undone")
    assert _match(api, "617-555-0102")["outcome"] == "review"


def test_same_person_marking_changes_the_next_answer(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    first = _match(api, "617-555-0103", "Quenby")
    assert first["reason"] == "multiple-certain"
    sign_in(page, sessions, server)
    open_item(page, server, first["review_item_id"])
    page.get_by_label("Other record (same person only)").select_option("M11")
    decide(page, "Same person (duplicate enrolment)", member="M10", note="enrolled twice")
    expect(page.get_by_role("status")).to_contain_text("Marked the same person")

    later = _match(api, "617-555-0199", "Quenby")  # another request about the same person
    assert (later["outcome"], later.get("member_id")) == ("match", "M10")

    open_item(page, server, first["review_item_id"])
    page.get_by_label("Other record (same person only)").select_option("M11")
    decide(page, "Not the same person", member="M10")
    expect(page.locator("#history")).to_contain_text("Same-person marking undone")
    expect(page.locator("#history")).to_contain_text("(superseded)")
    assert _match(api, "617-555-0198", "Quenby")["reason"] == "multiple-certain"


def test_new_person_and_escalate_from_the_page(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    new, escalated = _match(api, "617-555-0104"), _match(api, "617-555-0105")
    sign_in(page, sessions, server)
    open_item(page, server, new["review_item_id"])
    decide(page, "New person", note="a newborn, not enrolled yet")
    expect(page.get_by_role("status")).to_contain_text("new person")
    expect(page.locator("#history")).to_contain_text("A new person: no member")

    open_item(page, server, escalated["review_item_id"])
    decide(page, "Escalate to a lead", note="thin evidence")
    expect(page.locator("#history")).to_contain_text("Escalated to a lead")
    expect(page.get_by_role("note")).to_contain_text("a lead settles this item")
    expect(page.get_by_role("button", name="Link to this candidate")).to_have_count(0)
    # The lead settles it.
    page.goto(sign_in_url(sessions, server, person="lee.lead", role="lead"))
    open_item(page, server, escalated["review_item_id"])
    decide(page, "Keep apart", member="M10", note="settled by the lead")
    expect(page.locator("#history")).to_contain_text("lee.lead")
    settled = api.get(f"/v1/matches/{new['match_id']}").json()
    assert "new_person" in str(settled)


def test_another_tenants_items_are_not_found(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    item_id = ask(api)["review_item_id"]
    sign_in(page, sessions, server, tenant=OTHER_TENANT, person="otto")
    expect(page.locator("table.queue tbody")).to_contain_text("No open items")
    response = page.goto(f"{server.base_url}/review/items/{item_id}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="That is not possible")).to_be_visible()
    assert_accessible(page)


def test_an_auditor_reads_but_cannot_decide(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    item_id = ask(api)["review_item_id"]
    sign_in(page, sessions, server, person="ava.auditor", role="auditor")
    expect(page.get_by_role("button", name="Take the next item")).to_have_count(0)
    open_item(page, server, item_id)
    expect(page.get_by_role("button", name="Keep apart")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"{server.base_url}/review/items/{item_id}/decide",
        form={"csrf": csrf or "", "kind": "link", "member_id": "M10"},
    )
    assert forged.status == 403
    without_token = page.request.post(
        f"{server.base_url}/review/items/{item_id}/claim", form={"kind": "link"}
    )
    assert without_token.status == 403
    open_item(page, server, item_id)
    expect(page.locator("#history")).to_contain_text("No decision yet")


def test_idle_timeout_and_a_tampered_form_in_the_browser(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    item_id = ask(api)["review_item_id"]
    sign_in(page, sessions, server)
    open_item(page, server, item_id)
    # A form whose token is not the session's is refused, and nothing changes.
    page.locator("form[action$='/claim'] input[name=csrf]").evaluate("e => e.value = 'forged'")
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_text("This form has expired")).to_be_visible()
    open_item(page, server, item_id)
    expect(page.get_by_text("Nobody holds this item")).to_be_visible()
    # Sixteen minutes without a request: the next page is the sign-in page.
    with sessions() as session:
        idle = datetime.now(UTC) - timedelta(minutes=16)
        session.execute(update(StewardSession).values(last_seen_at=idle))
        session.commit()
    page.goto(f"{server.base_url}/review")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your session ended")


@pytest.mark.usefixtures("twins")
def test_negative_rules_read_as_sentences_and_the_ssn_is_masked(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    body = {
        "patient": fhir_patient(
            "Rosalind",
            "Okonkwo-Pryce",
            "1975-08-30",
            gender="female",
            ssn="219-09-4417",
            street="12 Larch Way",
            zip_code="02143",
        ),
        "coverage": fhir_coverage("S700"),
    }
    decision = api.post("/v1/match", json=body).json()
    assert decision["outcome"] == "review", decision
    sign_in(page, sessions, server)
    open_item(page, server, decision["review_item_id"])
    rules = page.locator("table.evidence thead")
    expect(rules.locator(".negative")).to_contain_text("twins-different-given-name")
    expect(rules.locator(".negative")).to_contain_text("a clearly different given name")
    evidence = page.locator("table.evidence")
    expect(evidence).to_contain_text("•••-••-4417")
    expect(evidence).not_to_contain_text("219-09-4417")
    expect(evidence).to_contain_text("ROSAMUND")
    assert_accessible(page)


def test_the_queue_pages_by_keyset(
    page: Page, server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    for n in range(QUEUE_PAGE + 3):
        assert _match(api, f"617-555-{n:04d}")["outcome"] == "review"
    sign_in(page, sessions, server)
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(QUEUE_PAGE)
    first_page = set(rows.locator("a").evaluate_all("links => links.map(a => a.href)"))
    page.get_by_role("link", name="Older items").click()
    assert "after=" in page.url
    expect(rows).to_have_count(3)
    second_page = set(rows.locator("a").evaluate_all("links => links.map(a => a.href)"))
    assert not first_page & second_page
    expect(page.get_by_role("link", name="Older items")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(QUEUE_PAGE)
