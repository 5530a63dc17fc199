"""The FHIR export: each event as an AuditEvent, pages as searchset Bundles with next links,
validated with fhir.resources; the export reads one tenant only and is itself audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service
from identity.db import transaction
from identity.fhir.audit_event import audit_bundle, audit_event_resource
from identity.models import AuditEvent
from tests.audit.conftest import OTHER_TENANT, actor
from tests.conftest import PUBLIC_URL, TENANT

WHEN = datetime(2026, 11, 22, 7, 30, 15, 123456, tzinfo=UTC)


def event(**changes: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "id": 41,
        "tenant_id": TENANT,
        "seq": 7,
        "occurred_at": WHEN,
        "request_id": "req-7",
        "client_id": "client-a",
        "action": "match.create",
        "outcome": "success",
        "http_status": 200,
        "object_type": "match_decision",
        "object_ids": ["m-1"],
        "policy_version": "default@1.1.0",
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    return AuditEvent(**{**fields, **changes})


def test_a_match_renders_as_a_patient_record_create() -> None:
    resource = audit_event_resource(event())
    FhirAuditEvent.model_validate(resource)
    assert resource["id"] == "41"
    assert resource["type"]["code"] == "110110"
    assert resource["subtype"][0]["code"] == "match.create"
    assert (resource["action"], resource["outcome"]) == ("C", "0")
    assert resource["recorded"] == "2026-11-22T07:30:15.123456Z"
    [agent] = resource["agent"]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"]["value"] == "client-a"
    assert resource["source"]["site"] == TENANT
    assert resource["source"]["observer"]["display"] == "identity"
    [entity] = resource["entity"]
    assert entity["what"]["identifier"]["value"] == "m-1"
    assert entity["what"]["identifier"]["system"].endswith("/match_decision")
    assert {d["type"]: d["valueString"] for d in entity["detail"]} == {
        "request-id": "req-7",
        "policy-version": "default@1.1.0",
    }


@pytest.mark.parametrize(
    ("changes", "type_code", "action", "outcome"),
    [
        ({"action": "decision.read"}, "110110", "R", "0"),
        ({"action": "review.list", "object_ids": []}, "110110", "E", "0"),
        ({"action": "review.resolve", "object_type": "review_item"}, "110110", "U", "0"),
        ({"action": "audit.export", "object_type": "audit_event"}, "rest", "E", "0"),
        (
            {"action": "decision.read", "outcome": "not-found", "http_status": 404},
            "110110",
            "R",
            "4",
        ),
        ({"action": "auth.denied", "outcome": "denied", "client_id": None}, "rest", "E", "4"),
        (
            {"action": "match.create", "outcome": "rate-limited", "http_status": 429},
            "110110",
            "C",
            "4",
        ),
        ({"action": "match.create", "outcome": "error", "http_status": 500}, "110110", "C", "8"),
        ({"object_type": "member", "object_ids": ["M1", "M2"]}, "110110", "C", "0"),
    ],
)
def test_codes_by_action_and_outcome(
    changes: dict[str, Any], type_code: str, action: str, outcome: str
) -> None:
    resource = audit_event_resource(event(**changes))
    FhirAuditEvent.model_validate(resource)
    assert (resource["type"]["code"], resource["action"], resource["outcome"]) == (
        type_code,
        action,
        outcome,
    )


def test_a_denial_without_a_client_or_objects() -> None:
    resource = audit_event_resource(
        event(
            tenant_id="-",
            client_id=None,
            action="auth.denied",
            outcome="denied",
            http_status=401,
            object_type=None,
            object_ids=[],
            policy_version=None,
        )
    )
    FhirAuditEvent.model_validate(resource)
    assert resource["agent"] == [{"requestor": True, "who": {"display": "unauthenticated caller"}}]
    assert resource["outcomeDesc"] == "denied (HTTP 401)"
    assert resource["entity"] == [{"detail": [{"type": "request-id", "valueString": "req-7"}]}]


def test_members_are_people_and_each_id_is_an_entity() -> None:
    resource = audit_event_resource(event(object_type="member", object_ids=["M1", "M2"]))
    assert [e["what"]["identifier"]["value"] for e in resource["entity"]] == ["M1", "M2"]
    assert {e["type"]["code"] for e in resource["entity"]} == {"1"}


def test_a_bundle_is_a_searchset_with_links() -> None:
    bundle = audit_bundle(
        [event(), event(id=42, seq=8)], self_url="https://x/v1/a?_count=2", next_url="https://x/n"
    )
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["link"] == [
        {"relation": "self", "url": "https://x/v1/a?_count=2"},
        {"relation": "next", "url": "https://x/n"},
    ]
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["41", "42"]
    last = audit_bundle([], self_url="https://x/v1/a", next_url=None)
    Bundle.model_validate(last)
    assert [link["relation"] for link in last["link"]] == ["self"]


# --- over HTTP, on both databases ---


@pytest.fixture
def trail(sessions: sessionmaker[Session]) -> None:
    """Five events of the test tenant, two of another (which must never be exported)."""
    for n in range(5):
        with transaction(sessions) as session:
            service.record(
                session,
                actor(request=f"seed-{n}"),
                action="decision.read",
                outcome="success",
                object_type="match_decision",
                object_ids=[f"m-{n}"],
            )
    for _ in range(2):
        with transaction(sessions) as session:
            service.record(session, actor(OTHER_TENANT), action="review.list", outcome="success")


def _path(url: str) -> str:
    assert url.startswith(PUBLIC_URL)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.mark.usefixtures("trail")
def test_export_pages_through_the_tenant_trail(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    url: str | None = "/v1/audit-events?_count=2"
    pages: list[dict[str, Any]] = []
    while url is not None and len(pages) < 20:
        r = client.get(url, headers={"X-Request-ID": f"export-{len(pages)}"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/fhir+json"
        bundle = r.json()
        Bundle.model_validate(bundle)
        pages.append(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = _path(links["next"]) if "next" in links else None
    resources = [e["resource"] for page in pages for e in page["entry"]]

    # Each page of two reads two events and adds one (its own export), so the walk catches up.
    # The fourth page ends at the third export; the fourth export is not read yet.
    assert [len(page["entry"]) for page in pages] == [2, 2, 2, 2]
    assert {r["source"]["site"] for r in resources} == {TENANT}
    actions = [r["subtype"][0]["code"] for r in resources]
    assert actions == ["decision.read"] * 5 + ["audit.export"] * 3
    # Each export names the events it returned and the request that asked.
    first_export = resources[5]
    assert [e["what"]["identifier"]["value"] for e in first_export["entity"]] == [
        r["id"] for r in resources[:2]
    ]
    details = {d["type"]: d["valueString"] for d in first_export["entity"][0]["detail"]}
    assert details == {"request-id": "export-0"}
    assert first_export["agent"][0]["who"]["identifier"]["value"] == "test-client"

    with sessions() as session:
        report = service.verify(session)
    assert report.intact
    assert report.events == 5 + 4 + 2  # the four exports, the last one included


@pytest.mark.usefixtures("trail")
@pytest.mark.parametrize(
    "query",
    ["_count=0", "_count=201", "_count=many", "cursor=bm90LWEtY3Vyc29y", "cursor=%25%25"],
)
def test_bad_paging_is_refused(client: httpx.Client, query: str) -> None:
    r = client.get(f"/v1/audit-events?{query}")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.usefixtures("trail")
def test_the_default_page_and_the_last_page(client: httpx.Client) -> None:
    bundle = client.get("/v1/audit-events").json()
    assert len(bundle["entry"]) == 5
    assert [link["relation"] for link in bundle["link"]] == ["self"]
    assert bundle["link"][0]["url"] == f"{PUBLIC_URL}/v1/audit-events?_count=50"
