"""The PHI canary sweep: canary demographics are sent through every route — in bodies good and
bad, paths, query strings and forms, with and without a token — and then searched for in every
error body, every response header, every log line the process wrote and the metrics exposition.
None may appear. (Successful answers are the product and are not searched: a stored decision's
evidence is read back on purpose, under its own scope.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.auth.test_scope_matrix import route_scopes
from tests.conftest import TENANT, LiveServer, service_settings
from tests.factories import fhir_coverage, fhir_patient

GIVEN, FAMILY, BORN = "Quillonzeb", "Zorvathian", "1913-02-27"
PHONE, SSN, STREET, MEMBER = "617-555-0199", "219-09-9999", "4321 Xylocanary Ave", "CANARY77"
CANARIES = [
    GIVEN,
    FAMILY,
    BORN,
    "19130227",
    "6175550199",
    "219099999",
    "219-09-9999",
    "XYLOCANARY",
    MEMBER,
    "CANSUB88",
]


def _patient(**overrides: Any) -> dict[str, Any]:
    patient = fhir_patient(
        GIVEN, FAMILY, BORN, member_id=MEMBER, ssn=SSN, phone=PHONE, street=STREET, zip_code="02143"
    )
    patient.update(overrides)
    return patient


def _bodies() -> list[Any]:
    """A valid request and the ways a request can be wrong, each carrying the canaries."""
    return [
        {"patient": _patient(), "coverage": fhir_coverage("CANSUB88")},
        {"patient": _patient(birthDate=f"{BORN}-{GIVEN}")},
        {"patient": _patient(gender=FAMILY)},
        {"patient": _patient(name=[{"family": FAMILY}])},
        {"patient": _patient(resourceType=GIVEN)},
        {"patient": _patient(telecom=[{"system": "phone", "value": {"x": PHONE}}])},
        {"patient": _patient(), "coverage": {"subscriberId": ["CANSUB88", SSN]}},
        [GIVEN, FAMILY, BORN],
        f'{{"patient": {{"name": "{GIVEN} {FAMILY}", "birthDate": "{BORN}"',  # malformed JSON
        {"Parameters": GIVEN, "resource": {"resourceType": "Patient", "birthDate": BORN}},
        # FHIR operations (Patient/$match): a bad count, and an unknown parameter beside a bad
        # Patient.
        _parameters({"name": "count", "valueInteger": BORN}),
        _parameters({"name": GIVEN, "valueString": FAMILY}, patient=_patient(gender=FAMILY)),
    ]


def _parameters(*extra: dict[str, Any], patient: Any = None) -> dict[str, Any]:
    resource = {"name": "resource", "resource": patient or _patient()}
    return {"resourceType": "Parameters", "parameter": [resource, *extra]}


def _send(http: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    url = re.sub(r"\{[^}]+\}", MEMBER, path)
    query = {"status": GIVEN, "cursor": FAMILY, "_count": BORN, "patient": MEMBER}
    headers = {"Idempotency-Key": f"{GIVEN} {FAMILY}"}
    if path == "/oauth/token":
        form = {
            "grant_type": "client_credentials",
            "scope": GIVEN,
            "client_assertion": FAMILY,
            "client_assertion_type": BORN,
        }
        return http.post(url, data=form)
    if method == "GET":
        return http.get(url, params=query)
    if isinstance(body, str):
        return http.request(method, url, content=body, headers={"content-type": "application/json"})
    return http.request(method, url, json=body, params=query, headers=headers)


def _found(text: str) -> list[str]:
    upper = text.upper()
    return [c for c in CANARIES if c.upper() in upper]


@pytest.fixture
def settings(database_url: str, key_dir: Path) -> Settings:
    """The sweep sends every route three bodies as fast as it can: per-client and per-tenant rate
    limits would answer 429s before the routes are reached (tests/test_ratelimit.py tests them)."""
    return service_settings(database_url, key_dir).model_copy(
        update={"rate_limit_client_per_s": 0.0, "rate_limit_tenant_per_s": 0.0}
    )


@pytest.mark.usefixtures("household")
def test_no_canary_escapes(
    live_server: LiveServer, settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    everything = mint_dev_token(settings, tenant=TENANT, client_id="canary-sweeper")
    nothing = mint_dev_token(settings, tenant=TENANT, client_id="no-scope", scopes=set())
    leaks: list[str] = []
    routes = sorted(route_scopes(settings))
    with (
        live_server.client(everything) as full,
        live_server.client(nothing) as bare,
        live_server.client() as anonymous,
    ):
        # The anonymous sweep spends its source's allowance of failed authentications (after
        # which that source gets 429s: identity/auth/source_limit.py); it speaks from a source
        # of its own (uvicorn trusts X-Forwarded-For from loopback) so the others still get in.
        anonymous.headers["X-Forwarded-For"] = "192.0.2.99"
        # The sweep is fast enough to spend a source's burst of requests: each client its own.
        full.headers["X-Forwarded-For"] = "192.0.2.98"
        bare.headers["X-Forwarded-For"] = "192.0.2.97"
        for method, path in routes:
            for body in _bodies() if method == "POST" else [None]:
                for http in (full, bare, anonymous):
                    r = _send(http, method, path, body)
                    assert r.status_code < 500, f"{method} {path}: {r.status_code}"
                    exposed = " ".join(f"{k}: {v}" for k, v in r.headers.items())
                    if r.status_code >= 400:
                        exposed += r.text
                    for canary in _found(exposed):
                        leaks.append(f"{method} {path} {r.status_code}: {canary}")
        metrics = full.get("/metrics")
        assert metrics.status_code == 200
        leaks += [f"metrics: {c}" for c in _found(metrics.text)]
    logs = capfd.readouterr()
    assert '"event": "request"' in logs.err  # the access log was captured
    leaks += [f"logs: {c}" for c in _found(logs.out + logs.err)]
    assert not leaks, sorted(set(leaks))
