"""$bulk-member-match fixtures: the PDex example payload (its consent moved to cover today), member
bundles built from the test factories, and a poller for the asynchronous answer. The members
come from the $member-match fixtures (Patricia Person of the HRex and PDex examples, the Chens
enrolled twice) and the shared household."""

from __future__ import annotations

import copy
import time
from datetime import date, timedelta
from typing import Any

import httpx

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.conftest import TENANT
from tests.exchange.conftest import NEW_PAYER, example_member, fhir_server, new_payer, saved

__all__ = ["example_member", "fhir_server", "new_payer"]

URL = "/fhir/Group/$bulk-member-match"
PDEX_IN = "pdex-2.2.0-Parameters-payer-multi-member-match-in.json"


def current_period() -> dict[str, str]:
    today = date.today()
    return {
        "start": (today - timedelta(days=30)).isoformat(),
        "end": (today + timedelta(days=365)).isoformat(),
    }


def pdex_example() -> dict[str, Any]:
    """The PDex 2.2.0 example request, its consent's period moved to cover today."""
    body = copy.deepcopy(saved(PDEX_IN))
    for bundle in body["parameter"]:
        part(bundle, "Consent")["provision"]["period"] = current_period()
    return body


def part(bundle: dict[str, Any], name: str) -> dict[str, Any]:
    resource: dict[str, Any] = next(p for p in bundle["part"] if p["name"] == name)["resource"]
    return resource


def example_bundle() -> dict[str, Any]:
    bundle: dict[str, Any] = pdex_example()["parameter"][0]
    return bundle


def member_bundle(
    patient: dict[str, Any],
    coverage: dict[str, Any],
    *,
    consent_period: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The example's MemberBundle for other demographics (its consent, its CoverageToLink)."""
    bundle = example_bundle()
    for p in bundle["part"]:
        if p["name"] == "MemberPatient":
            p["resource"] = patient
        elif p["name"] == "CoverageToMatch":
            p["resource"] = coverage
    if consent_period is not None:
        part(bundle, "Consent")["provision"]["period"] = consent_period
    return bundle


def bulk_request(*bundles: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(bundles)}


def new_payer_token(settings: Settings, client_id: str = "new-payer", tenant: str = TENANT) -> str:
    return mint_dev_token(
        settings, tenant=tenant, client_id=client_id, scopes={"match"}, organization=NEW_PAYER
    )


def path_of(url: str) -> str:
    return url[url.index("/fhir/") :]


def kick_off(http: httpx.Client, body: dict[str, Any]) -> str:
    """POST the request; the status path from Content-Location."""
    r = http.post(URL, json=body)
    assert r.status_code == 202, r.text
    return path_of(r.headers["content-location"])


def wait_until_done(http: httpx.Client, status_path: str, timeout_s: float = 90) -> httpx.Response:
    """Poll as a client would until the answer is no longer 202."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = http.get(status_path)
        if r.status_code != 202:
            return r
        assert time.monotonic() < deadline, f"still {r.headers.get('x-progress')}"
        time.sleep(0.1)
