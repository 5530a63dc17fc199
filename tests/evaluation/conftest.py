"""A small member master and a labelled set over it whose verdicts are counted by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.member.service import load_members
from tests.conftest import RULES_DIR, TENANT
from tests.factories import fhir_coverage, fhir_patient

HOME = {"street": "48 Orchard Street", "zip_code": "02143"}


@pytest.fixture
def master(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Maria and her son; William; Ana, enrolled twice (two plans' cards)."""
    resources = [
        fhir_patient(
            "Maria", "Garcia", "1984-03-12", gender="female", member_id="M1", resource_id="p1",
            phone="617-555-2368", **HOME,
        ),
        fhir_coverage("S100", "Patient/p1"),
        fhir_patient("Jordan", "Okafor", "2011-07-30", member_id="M2", resource_id="p2", **HOME),
        fhir_coverage("S100", "Patient/p2", "child"),
        fhir_patient(
            "William", "Chen", "1958-11-02", member_id="M3", resource_id="p3",
            street="7 Elm Road", zip_code="94110",
        ),
        fhir_coverage("S200", "Patient/p3"),
        fhir_patient(
            "Ana", "Silva", "1990-01-15", gender="female", member_id="M4", resource_id="p4",
            phone="617-555-0199", street="3 Pine Street", zip_code="02139",
        ),
        fhir_coverage("S300", "Patient/p4"),
        fhir_patient(
            "Ana", "Silva", "1990-01-15", gender="female", member_id="M5", resource_id="p5",
            phone="617-555-0199", street="3 Pine Street", zip_code="02139",
        ),
        fhir_coverage("S400", "Patient/p5"),
    ]  # fmt: skip
    path = tmp_path / "master.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()


def _request(request_id: str, **patient: Any) -> dict[str, Any]:
    coverage = patient.pop("coverage", None)
    body: dict[str, Any] = {"id": request_id, "patient": fhir_patient(**patient)}
    if coverage is not None:
        body["coverage"] = coverage
    return body


# (request, truth row, expected verdict): counted by hand from the master above.
LABELLED = [
    (
        _request("q1", given="Maria", family="Lopez", born="1984-03-12", gender="female",
                 phone="617-555-2368"),
        "q1,M1,self",
        "true_match",
    ),
    (
        _request("q2", given="Maria", family="Garcia", born="1984-03-12", gender="female",
                 coverage=fhir_coverage("S100")),
        "q2,M1,self",
        "true_match",
    ),
    (
        _request("q3", given="Ana", family="Silva", born="1990-01-15", gender="female",
                 phone="617-555-0199"),
        "q3,M4 M5,self",
        "duplicate_review",
    ),
    (
        _request("q4", given="Zora", family="Quintero", born="1971-06-09", gender="female"),
        "q4,,stranger",
        "true_no_match",
    ),
    (
        # William asks, but the label says he is not enrolled: the service's match is false.
        _request("q5", given="William", family="Chen", born="1958-11-02",
                 street="7 Elm Road", zip_code="94110"),
        "q5,,namesake household",
        "false_match",
    ),
    (
        # Enrolled as Jordan (M2), asked for under a name and birth date nobody has.
        _request("q6", given="Petra", family="Ivanova", born="1966-12-24", gender="female"),
        "q6,M2,self",
        "missed",
    ),
]  # fmt: skip


@pytest.fixture
def labelled_files(tmp_path: Path) -> tuple[Path, Path]:
    requests = tmp_path / "requests.ndjson"
    requests.write_text("".join(json.dumps(body) + "\n" for body, _, _ in LABELLED))
    truth = tmp_path / "truth.csv"
    truth.write_text("request_id,member_ids,tags\n" + "".join(f"{t}\n" for _, t, _ in LABELLED))
    return requests, truth


def run_cli(
    settings: Settings, *args: str, rules_dir: Path = RULES_DIR
) -> subprocess.CompletedProcess[str]:
    """`identity ...` as a user runs it, on the test's database."""
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(rules_dir),
        "IDENTITY_DEFAULT_TENANT": TENANT,
    }
    return subprocess.run(
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
