"""GET /v1/policy over real HTTP, on both databases: the tenant's active policy published for
people, generated from the stored policy and the settings (a new version or another setting
changes it), as JSON or as an HTML page; any client of the tenant may read it, nobody else."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.matching.policy import Policy, find_policy, parse_policy
from identity.policy import service as policy_service
from identity.policy.published_endpoints import wants_html
from tests.conftest import RULES_DIR, TENANT, LiveServer
from tests.review_ui.conftest import sign_in_url

DEFAULT = RULES_DIR / "default.yaml"


def _edited(label: str, replacements: dict[str, str]) -> Policy:
    """The default policy file with a new label and some text replaced (a new version)."""
    text = DEFAULT.read_text()
    default = find_policy(RULES_DIR, "default")
    text = text.replace(f'label: "{default.label}"', f'label: "{label}"', 1)
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new, 1)
    return parse_policy(text, source=label)


def test_the_active_policy_and_the_terms_around_it(
    client: httpx.Client, settings: Settings, active_policy: str
) -> None:
    r = client.get("/v1/policy")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    policy = find_policy(RULES_DIR, "default")
    spec = policy.document.decision
    assert body["tenant"] == TENANT
    assert body["version"] == active_policy == policy.version
    assert body["activated_at"]
    assert (body["decision"]["match_probability"], body["decision"]["review_probability"]) == (
        spec.match_probability,
        spec.review_probability,
    )
    assert body["decision"]["margin"] == spec.margin
    assert [o["outcome"] for o in body["decision"]["outcomes"]] == ["match", "review", "no_match"]
    review_rule = body["decision"]["outcomes"][1]["when"]
    assert f"{settings.review_sla_hours:g} hours" in review_rule
    assert f"{spec.review_probability:g} and below {spec.match_probability:g}" in review_rule
    assert body["review"]["sla_hours"] == settings.review_sla_hours
    assert body["evidence"]["demographics_kept_days"] == settings.retention_days
    assert [r["name"] for r in body["rules"]["negative"]] == [
        r.name for r in policy.document.rules.negative
    ]
    assert [g["name"] for g in body["guards"]] == [g.name for g in policy.document.guards]
    assert [c["name"] for c in body["model"]["comparisons"]] == [
        c.name for c in policy.document.comparisons
    ]


def test_a_new_version_and_other_settings_change_what_is_published(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str
) -> None:
    """Nothing is written by hand: activate another version, serve with other settings."""
    current = find_policy(RULES_DIR, "default").document.decision.match_probability
    edited = _edited(
        "9.9.9-published-test",
        {
            f"match_probability: {current}": "match_probability: 0.985",
            "name: default": "name: stricter",
        },
    )
    with transaction(sessions) as session:
        assert policy_service.activate(session, TENANT, edited)
    other = settings.model_copy(update={"review_sla_hours": 24.0, "retention_days": 90})
    with LiveServer(other) as server, server.client(_token(settings, {"match"})) as http:
        body = http.get("/v1/policy").json()
        page = http.get("/v1/policy", headers={"Accept": "text/html"}).text
    assert body["version"] == edited.version != active_policy
    assert body["name"] == "stricter"
    assert body["decision"]["match_probability"] == 0.985
    assert body["review"]["sla_hours"] == 24.0
    assert body["evidence"]["demographics_kept_days"] == 90
    assert "24 hours" in body["decision"]["outcomes"][1]["when"]
    for shown in (edited.version, "0.985", "within 24 hours", "kept 90 days"):
        assert shown in page, shown


def test_the_page_for_people_is_escaped_html_that_loads_nothing(
    settings: Settings, sessions: sessionmaker[Session], live_server: LiveServer
) -> None:
    marked = _edited("9.9.8-escaped", {"description: >\n": "description: >\n  <b>bold</b> &\n"})
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, marked)
    with live_server.client(_token(settings, {"review"})) as http:
        r = http.get("/v1/policy", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["vary"] == "Accept"
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in r.text
    assert "<b>bold</b>" not in r.text
    assert "<script" not in r.text
    assert "style=" not in r.text
    assert f"Matching policy {marked.label}" in r.text


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        ({"match"}, 200),
        ({"tokens:introspect"}, 200),
        ({"metrics:read"}, 200),
        ({"admin", "review"}, 200),
        ({"launch/patient"}, 403),  # a token that grants none of ours
    ],
    ids=["match", "introspect", "metrics", "admin", "none-of-ours"],
)
def test_any_client_of_the_tenant_may_read_it(
    live_server: LiveServer, settings: Settings, scopes: set[str], status: int
) -> None:
    with live_server.client(_token(settings, scopes)) as http:
        assert http.get("/v1/policy").status_code == status
    with live_server.client() as anonymous:
        r = anonymous.get("/v1/policy", headers={"Accept": "text/html"})
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")


def test_a_tenant_without_an_active_policy_gets_a_problem_404(
    live_server: LiveServer, settings: Settings
) -> None:
    token = mint_dev_token(settings, tenant="no-policy-payer", client_id="c", scopes={"match"})
    with live_server.client(token) as http:
        r = http.get("/v1/policy")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("application/json", False),
        ("*/*", False),
        ("text/html", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.4, application/json;q=0.9", False),
        ("text/*", True),
        ("text/html;q=abc", False),
    ],
)
def test_content_negotiation(accept: str | None, html: bool) -> None:
    assert wants_html(accept) is html


def _token(settings: Settings, scopes: set[str]) -> str:
    return mint_dev_token(settings, tenant=TENANT, client_id="reader", scopes=scopes)


def test_signed_in_people_read_it_in_the_workbench(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """/review/policy: the same content inside the workbench, for any signed-in role."""
    version = find_policy(RULES_DIR, "default").version
    for role in ("steward", "auditor"):
        with httpx.Client(base_url=live_server.base_url, timeout=30) as browser:
            signed_in = browser.get(sign_in_url(sessions, live_server, role=role))
            assert signed_in.status_code == 303
            queue = browser.get("/review")
            assert 'href="/review/policy"' in queue.text
            r = browser.get("/review/policy")
            assert r.status_code == 200, r.text
            assert f"Matching policy {version}" in r.text  # the title
            assert f"within {settings.review_sla_hours:g} hours" in r.text
            assert "<h1>Matching policy" in r.text  # the fragment is markup, not escaped twice
            assert r.headers["cache-control"] == "no-store"  # the workbench's headers
    with httpx.Client(base_url=live_server.base_url, timeout=30) as anonymous:
        r = anonymous.get("/review/policy", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/review/sign-in")


def test_a_person_of_a_tenant_without_a_policy_gets_a_404_page(
    live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=30) as browser:
        url = sign_in_url(sessions, live_server, tenant="no-policy-payer")
        assert browser.get(url).status_code == 303
        r = browser.get("/review/policy")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
