"""A small household shared by the API tests (registered as a fixture in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.member.service import load_members
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient

HOME = {"street": "48 Orchard Street", "zip_code": "02143"}


def garcia_okafor() -> list[dict[str, Any]]:
    """Maria Garcia (M1) and her son Jordan Okafor (M2): one home, one card (S100)."""
    return [
        fhir_patient(
            "Maria",
            "Garcia",
            "1984-03-12",
            gender="female",
            member_id="M1",
            resource_id="p1",
            ssn="372-45-6780",
            phone="617-555-2368",
            **HOME,
        ),
        fhir_coverage("S100", "Patient/p1"),
        fhir_patient("Jordan", "Okafor", "2011-07-30", member_id="M2", resource_id="p2", **HOME),
        fhir_coverage("S100", "Patient/p2", "child"),
    ]


def load_resources(
    sessions: sessionmaker[Session], path: Path, resources: list[dict[str, Any]]
) -> None:
    """Write FHIR resources as NDJSON to `path` and load them as the tenant's members."""
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()


@pytest.fixture
def household(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    resources = [
        *garcia_okafor(),
        fhir_patient(
            "William",
            "Chen",
            "1958-11-02",
            member_id="M3",
            resource_id="p3",
            street="7 Elm Road",
            zip_code="94110",
        ),
        fhir_coverage("S200", "Patient/p3"),
    ]
    load_resources(sessions, tmp_path / "household.ndjson", resources)
