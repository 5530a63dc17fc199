"""Sign-in to the workbench over real HTTP, on SQLite and PostgreSQL: one-time development links,
OpenID Connect (code + PKCE) against a fake provider, the session cookie's attributes, the idle
timeout, sign-out, CSRF refusal and the security headers every /review response carries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from identity.cli.main import app as cli
from identity.config import Settings
from identity.models import AuditEvent, SignInLink, StewardSession
from identity.review_ui.sessions import COOKIE, csrf_token
from tests.conftest import TENANT, LiveServer, ServerThread
from tests.review_ui.conftest import OTHER_TENANT, ask, sign_in_url
from tests.review_ui.fake_idp import CLIENT_ID, FakeIdp

REQUIRED_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _assert_secure_headers(response: httpx.Response) -> None:
    for name, value in REQUIRED_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def _session_row(sessions: sessionmaker[Session], tenant: str = TENANT) -> StewardSession:
    with sessions() as session:
        return session.scalars(
            select(StewardSession).where(StewardSession.tenant_id == tenant)
        ).one()


@contextmanager
def _signed_in(
    server: LiveServer, sessions: sessionmaker[Session], **kw: str
) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        response = browser.get(sign_in_url(sessions, server, **kw))
        assert response.status_code == 303
        assert response.headers["location"] == "/review"
        yield browser


def test_a_dev_link_signs_in_once_with_a_strict_httponly_cookie(
    server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    url = sign_in_url(sessions, server, person="sam.steward", role="lead")
    with httpx.Client(timeout=30) as browser:
        response = browser.get(url)
        assert response.status_code == 303
        _assert_secure_headers(response)
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={TENANT}.")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/review" in cookie
        # Plain http on loopback (a development install) is the one place without Secure.
        assert "Secure" not in cookie
        again = browser.get(url)
        assert again.status_code == 403  # single use
        _assert_secure_headers(again)
    row = _session_row(sessions)
    assert (row.tenant_id, row.person, row.role) == (TENANT, "sam.steward", "lead")
    secret = cookie.split(";", 1)[0].split(".", 1)[1]
    assert secret not in (row.id_hash, row.csrf_secret)  # only a hash is stored
    with sessions() as session:
        link = session.scalars(select(SignInLink)).one()
        assert link.used_at is not None
        assert url.rsplit(".", 1)[1] not in link.code_hash
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "review.sign-in")
        ).all()
        assert [e.person for e in events] == ["sam.steward"]


def test_the_cookie_is_secure_anywhere_but_plain_http_on_loopback(
    server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    url = sign_in_url(sessions, server)
    response = httpx.get(url, headers={"Host": "identity.test"}, timeout=30)
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_an_expired_or_forged_link_signs_nobody_in(
    server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    url = sign_in_url(sessions, server)
    with sessions() as session:
        session.execute(
            update(SignInLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    assert httpx.get(url, timeout=30).status_code == 403
    forged = url[:-4] + "AAAA"
    assert httpx.get(forged, timeout=30).status_code == 403
    with sessions() as session:
        assert session.scalars(select(StewardSession)).all() == []


def test_without_a_session_every_page_sends_the_browser_to_sign_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        for path in ("/review", "/review/items/x", "/review/lead", "/review/members/M1/remembered"):
            response = browser.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/review/sign-in"
            _assert_secure_headers(response)
        page = browser.get("/review/sign-in")
        assert page.status_code == 200
        assert "Sign in" in page.text
        _assert_secure_headers(page)
        assert browser.get("/review/static/app.js").headers["cache-control"] == "no-store"
        # A forged cookie is no session.
        browser.cookies.set(COOKIE, f"{TENANT}.forged", domain="127.0.0.1", path="/review")
        assert browser.get("/review").status_code == 303


def test_csrf_a_post_without_the_sessions_token_is_refused(
    server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    with _signed_in(server, sessions) as browser:
        for form in ({}, {"csrf": "0" * 64}):
            refused = browser.post("/review/sign-out", data=form)
            assert refused.status_code == 403
            _assert_secure_headers(refused)
        assert _session_row(sessions).ended_at is None  # nothing happened
        token = csrf_token(_session_row(sessions))
        out = browser.post("/review/sign-out", data={"csrf": token})
        assert out.status_code == 303
        assert out.headers["location"] == "/review/sign-in"
        assert _session_row(sessions).ended_at is not None
        with sessions() as session:
            out_events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "review.sign-out")
            ).all()
        assert [e.person for e in out_events] == ["sam.steward"]
        # The same cookie is no longer a session.
        browser.cookies.set(COOKIE, out.request.headers["cookie"].split("=", 1)[1])
        assert browser.post("/review/sign-out", data={"csrf": token}).status_code == 403


def test_a_form_post_must_be_a_form_and_small(
    server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    with _signed_in(server, sessions) as browser:
        token = csrf_token(_session_row(sessions))
        as_json = browser.post("/review/sign-out", json={"csrf": token})
        assert as_json.status_code == 415
        huge = browser.post("/review/sign-out", data={"csrf": token, "pad": "x" * 20_000})
        assert huge.status_code == 413
        assert _session_row(sessions).ended_at is None


def test_the_session_ends_after_the_idle_timeout(
    server: LiveServer, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with _signed_in(server, sessions) as browser:
        idle = timedelta(seconds=settings.review_idle_timeout_s + 1)
        with sessions() as session:
            session.execute(update(StewardSession).values(last_seen_at=datetime.now(UTC) - idle))
            session.commit()
        response = browser.get("/review")
        assert response.status_code == 303
        assert response.headers["location"] == "/review/sign-in?ended=1"
        assert _session_row(sessions).ended_at is not None
        assert "ended" in browser.get("/review/sign-in?ended=1").text


def test_dev_links_exist_only_on_a_development_install(
    settings: Settings, active_policy: str, sessions: sessionmaker[Session]
) -> None:
    production = settings.model_copy(update={"dev_auth": False})
    with LiveServer(production) as server:
        url = sign_in_url(sessions, server)
        assert httpx.get(url, timeout=30).status_code == 404


def test_the_cli_prints_a_one_time_link(
    settings: Settings, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IDENTITY_PUBLIC_URL", server.base_url)
    monkeypatch.setenv("IDENTITY_DEV_AUTH", "true")
    result = CliRunner().invoke(
        cli, ["stewards", "dev-login-url", "--tenant", TENANT, "--user", "kim", "--role", "auditor"]
    )
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert re.fullmatch(rf"{re.escape(server.base_url)}/review/sign-in/link\?token=\S+", url)
    assert httpx.get(url, timeout=30).status_code == 303
    bad = CliRunner().invoke(
        cli, ["stewards", "dev-login-url", "--tenant", TENANT, "--user", "kim", "--role", "boss"]
    )
    assert bad.exit_code != 0
    assert "role" in bad.output
    monkeypatch.setenv("IDENTITY_DEV_AUTH", "false")
    refused = CliRunner().invoke(
        cli, ["stewards", "dev-login-url", "--tenant", TENANT, "--user", "kim"]
    )
    assert refused.exit_code != 0


# --- OpenID Connect against the fake provider ---


@pytest.fixture
def idp() -> Iterator[tuple[FakeIdp, str]]:
    fake = FakeIdp()
    with ServerThread(fake.app()) as thread:
        fake.issuer = thread.base_url
        yield fake, thread.base_url


@pytest.fixture
def oidc_server(
    settings: Settings, active_policy: str, idp: tuple[FakeIdp, str]
) -> Iterator[LiveServer]:
    configured = settings.model_copy(
        update={
            "oidc_issuer": idp[1],
            "oidc_client_id": CLIENT_ID,
            "oidc_tenant_claim": "tenant",
            "dev_auth": False,
        }
    )
    with LiveServer(configured) as server:
        yield server


def _oidc_sign_in(server: LiveServer) -> tuple[httpx.Client, httpx.Response]:
    browser = httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=True)
    return browser, browser.get("/review/sign-in/oidc")


def test_oidc_code_flow_with_pkce_signs_a_person_in(
    oidc_server: LiveServer, idp: tuple[FakeIdp, str], sessions: sessionmaker[Session]
) -> None:
    fake, _ = idp
    fake.claims = {"preferred_username": "olivia.idp", "roles": ["auditor"], "tenant": TENANT}
    browser, landed = _oidc_sign_in(oidc_server)
    with closing(browser):
        assert landed.status_code == 200
        assert "Signed in" in landed.text
        _assert_secure_headers(landed)
        first = landed.history[0]
        assert "code_challenge_method=S256" in first.headers["location"]
        assert "SameSite=lax" in first.headers["set-cookie"]  # survives the way back
        assert fake.token_requests
        assert fake.token_requests[0]["code_verifier"]
        assert COOKIE in browser.cookies
    row = _session_row(sessions)
    assert (row.tenant_id, row.person, row.role) == (TENANT, "olivia.idp", "auditor")


@pytest.mark.parametrize(
    ("claims", "tamper"),
    [
        ({"preferred_username": "nobody", "roles": ["viewer"], "tenant": TENANT}, False),
        ({"preferred_username": "notenant", "roles": ["steward"]}, False),
        ({"preferred_username": "replayed", "roles": ["steward"], "tenant": TENANT}, True),
    ],
    ids=["no-workbench-role", "no-tenant", "wrong-nonce"],
)
def test_oidc_refuses_without_a_role_a_tenant_or_the_nonce(
    oidc_server: LiveServer,
    idp: tuple[FakeIdp, str],
    sessions: sessionmaker[Session],
    claims: dict[str, object],
    tamper: bool,
) -> None:
    fake, _ = idp
    fake.claims, fake.tamper_nonce = claims, tamper
    browser, landed = _oidc_sign_in(oidc_server)
    with closing(browser):
        assert landed.status_code == 403
        assert COOKIE not in browser.cookies
    with sessions() as session:
        assert session.scalars(select(StewardSession)).all() == []


def test_oidc_callback_without_the_pending_cookie_is_refused(oidc_server: LiveServer) -> None:
    response = httpx.get(
        f"{oidc_server.base_url}/review/sign-in/callback",
        params={"code": "c", "state": "s"},
        timeout=30,
    )
    assert response.status_code == 403


# --- the pages over HTTP on both databases (row-level security on PostgreSQL) ---


@pytest.mark.usefixtures("people")
def test_pages_answer_for_the_sessions_tenant_only(
    server: LiveServer, api: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    item_id = ask(api)["review_item_id"]
    with _signed_in(server, sessions) as browser:
        queue = browser.get("/review")
        assert queue.status_code == 200
        assert item_id in queue.text
        _assert_secure_headers(queue)
        item = browser.get(f"/review/items/{item_id}")
        assert item.status_code == 200
        assert "M10" in item.text
        assert "Marchetti" not in item.text.split("</title>")[0]
        token = csrf_token(_session_row(sessions))
        claimed = browser.post(f"/review/items/{item_id}/claim", data={"csrf": token})
        assert claimed.status_code == 303
        assert browser.get("/review/lead").status_code == 403  # leads and auditors only
    with _signed_in(server, sessions, tenant=OTHER_TENANT, person="otto") as other:
        assert item_id not in other.get("/review").text
        assert other.get(f"/review/items/{item_id}").status_code == 404
