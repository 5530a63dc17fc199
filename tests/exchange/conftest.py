"""$member-match fixtures: the HRex example member in our master, the saved example payloads, and
clients that speak for the example's new payer."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.clients.organization import OrgIdentifier
from identity.config import Settings
from identity.db import transaction
from identity.member.service import load_members
from tests.conftest import REPO, TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

FHIR_DIR = REPO / "tests" / "fhir_examples"  # HL7 examples; origins in SOURCES.md there
NEW_PAYER = OrgIdentifier("http://hl7.org/fhir/sid/us-npi", "0123456789")


def saved(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FHIR_DIR / name).read_text())
    return payload


def hrex_11() -> dict[str, Any]:
    """The HRex 1.1.0 example, with its consent's period moved to cover today."""
    body = copy.deepcopy(saved("hrex-1.1.0-member-match-in.TRANSCRIBED-FROM-FSH.json"))
    today = date.today()
    consent(body)["provision"]["period"] = {
        "start": (today - timedelta(days=30)).isoformat(),
        "end": (today + timedelta(days=365)).isoformat(),
    }
    return body


def param(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in body["parameter"] if p["name"] == name)


def consent(body: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = param(body, "Consent")["resource"]
    return resource


def member_match_body(patient: dict[str, Any], coverage: dict[str, Any]) -> dict[str, Any]:
    """A 1.1.0 request for other demographics, with the example's (valid) consent."""
    body = hrex_11()
    param(body, "MemberPatient")["resource"] = patient
    param(body, "CoverageToMatch")["resource"] = coverage
    return body


@pytest.fixture
def example_member(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Patricia Ann Person of the HRex examples, our member DH10001235; the Chens, enrolled
    twice; and the Okafor household (from tests/households.py, loaded by `household`)."""
    resources = [
        fhir_patient(
            "Patricia",
            "Person",
            "1974-12-25",
            gender="female",
            member_id="DH10001235",
            resource_id="pat-1",
            street="12 Elm Street",
            zip_code="02143",
        ),
        fhir_coverage("S555", "Patient/pat-1"),
        fhir_patient("William", "Chen", "1958-11-02", member_id="M3", resource_id="p3"),
        fhir_coverage("S200", "Patient/p3"),
        fhir_patient("William", "Chen", "1958-11-02", member_id="M4", resource_id="p4"),
        fhir_coverage("S200", "Patient/p4"),
    ]
    path = tmp_path / "example.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [path]).ok


@pytest.fixture
def new_payer(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    """The new payer's exchange workflow: `match` only, speaking for NPI 0123456789."""
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="new-payer", scopes={"match"}, organization=NEW_PAYER
    )
    with live_server.client(token) as http:
        yield http


@pytest.fixture
def fhir_server(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    """The old payer's FHIR server: it introspects match tokens."""
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="fhir-server", scopes={"tokens:introspect"}
    )
    with live_server.client(token) as http:
        yield http


@pytest.fixture
def steward(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(settings, tenant=TENANT, client_id="steward", scopes={"review"})
    with live_server.client(token) as http:
        yield http
