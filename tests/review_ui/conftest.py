"""The workbench under test: the real service on loopback with members and open review items,
Debian's chromium driven by playwright (one browser for the whole run, a fresh context per test),
and a fake OpenID Connect provider for the sign-in test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import bind_tenant, transaction
from identity.member.service import load_members
from identity.review_ui import sessions as signin
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

OTHER_TENANT = "other-payer"
# Synthetic demographics of the people on the pages: none may reach a URL or the log.
PHI = [
    "Quenby",
    "Marchetti",
    "Quen",
    "1961-03-14",
    "19610314",
    "Rosalind",
    "Rosamund",
    "Okonkwo-Pryce",
    "Larch",
    "219-09-4417",
    "219094417",
]


@pytest.fixture
def urls() -> list[str]:
    """Every URL any page of the test asked for (navigation, forms, redirects, static files)."""
    return []


@pytest.fixture
def page(browser: Browser, urls: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("request", lambda r: urls.append(r.url))
    yield page
    context.close()


def _load(sessions: sessionmaker[Session], tenant: str, resources: list[Any], tmp: Path) -> None:
    path = tmp / f"{tenant}-members.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        bind_tenant(session, tenant)
        assert load_members(session, tenant, [path]).ok
        session.commit()


@pytest.fixture
def people(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """One person enrolled twice (a duplicate enrolment) and a look-alike household."""
    _load(
        sessions,
        TENANT,
        [
            fhir_patient("Quenby", "Marchetti", "1961-03-14", member_id="M10", resource_id="p10"),
            fhir_coverage("S500", "Patient/p10"),
            fhir_patient("Quenby", "Marchetti", "1961-03-14", member_id="M11", resource_id="p11"),
            fhir_coverage("S500", "Patient/p11"),
            fhir_patient(
                "Rosalind",
                "Okonkwo-Pryce",
                "1975-08-30",
                gender="female",
                member_id="M12",
                resource_id="p12",
            ),
            fhir_coverage("S600", "Patient/p12"),
        ],
        tmp_path,
    )


@pytest.fixture
def twins(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Rosalind, enrolled twice, and her twin Rosamund at the same home."""
    home = {"street": "12 Larch Way", "zip_code": "02143", "gender": "female"}
    _load(
        sessions,
        TENANT,
        [
            fhir_patient(
                "Rosalind",
                "Okonkwo-Pryce",
                "1975-08-30",
                ssn="219-09-4417",
                member_id="T1",
                resource_id="t1",
                **home,
            ),
            fhir_coverage("S700", "Patient/t1"),
            fhir_patient(
                "Rosalind",
                "Okonkwo-Pryce",
                "1975-08-30",
                ssn="219-09-4417",
                member_id="T2",
                resource_id="t2",
                **home,
            ),
            fhir_coverage("S700", "Patient/t2"),
            fhir_patient(
                "Rosamund",
                "Okonkwo-Pryce",
                "1975-08-30",
                ssn="219-09-5528",
                member_id="T3",
                resource_id="t3",
                **home,
            ),
            fhir_coverage("S700", "Patient/t3", relationship="child"),
        ],
        tmp_path,
    )


def ask(client: httpx.Client, given: str = "Quen", subscriber: str = "S500") -> dict[str, Any]:
    """A /v1/match request about the duplicate-enrolled person: it needs a person."""
    body = {
        "patient": fhir_patient(given, "Marchetti", "1961-03-14"),
        "coverage": fhir_coverage(subscriber),
    }
    response = client.post("/v1/match", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def server(settings: Settings, active_policy: str) -> Iterator[LiveServer]:
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(settings, tenant=TENANT, client_id="test-client")
    with server.client(token) as c:
        yield c


def sign_in_url(
    sessions: sessionmaker[Session],
    server: LiveServer,
    *,
    person: str = "sam.steward",
    role: str = "steward",
    tenant: str = TENANT,
) -> str:
    """What `identity stewards dev-login-url` prints, for this server."""
    with transaction(sessions) as session:
        bind_tenant(session, tenant)
        token = signin.create_link(
            session, tenant=tenant, person=person, role=role, lifetime_s=300, now=datetime.now(UTC)
        )
    return f"{server.base_url}/review/sign-in/link?token={token}"
