"""Tenant isolation as a matrix, over real HTTP on both databases: every id-bearing route probed
with another tenant's token answers 404, exactly as a real miss does, and no list or match ever
shows another tenant's rows. The tenant comes from the token alone."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.matching.policy import find_policy
from identity.member.service import load_members
from identity.policy import service as policy_service
from tests.auth.test_scope_matrix import route_scopes
from tests.conftest import RULES_DIR, TENANT, LiveServer
from tests.exchange.conftest import member_match_body
from tests.factories import fhir_coverage, fhir_patient

OTHER = "other-payer"


@pytest.fixture
def two_tenants(sessions: sessionmaker[Session], tmp_path: Path, active_policy: str) -> None:
    """The test tenant holds one person enrolled twice (so a match opens a review item); the
    other tenant has a policy and a member of its own."""
    mine = [
        fhir_patient("William", "Chen", "1958-11-02", member_id="M3", resource_id="p3"),
        fhir_coverage("S200", "Patient/p3"),
        fhir_patient("William", "Chen", "1958-11-02", member_id="M4", resource_id="p4"),
        fhir_coverage("S200", "Patient/p4"),
        # Enrolled here only (the other tenant's master holds an M3 of its own): the object the
        # enrolment routes (/v1/members/{member_id}/...) are probed with.
        fhir_patient("Nell", "Oduya", "1975-03-14", gender="female", member_id="M5"),
    ]
    theirs = [fhir_patient("Ana", "Ruiz", "1990-05-06", gender="female", member_id="M3")]
    for tenant, resources in ((TENANT, mine), (OTHER, theirs)):
        path = tmp_path / f"{tenant}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in resources))
        with transaction(sessions) as session:
            assert load_members(session, tenant, [path]).ok
    with transaction(sessions) as session:
        policy_service.activate(session, OTHER, find_policy(RULES_DIR, "default"))


def _http(server: LiveServer, settings: Settings, tenant: str) -> httpx.Client:
    return server.client(mint_dev_token(settings, tenant=tenant, client_id=f"{tenant}-client"))


def _last_match(http: httpx.Client) -> str:
    """The decision behind the newest review item: here, the $member-match just made."""
    items = http.get("/v1/review-items").json()["items"]
    return str(items[-1]["match_id"])


def _bulk_job(http: httpx.Client, member_match_body: dict[str, Any]) -> str:
    """A finished $bulk-member-match job of one member (the $member-match request's parts)."""
    bundle = {"name": "MemberBundle", "part": member_match_body["parameter"]}
    r = http.post(
        "/fhir/Group/$bulk-member-match", json={"resourceType": "Parameters", "parameter": [bundle]}
    )
    assert r.status_code == 202, r.text
    status = r.headers["content-location"].split("/fhir/", 1)[1]
    deadline = time.monotonic() + 60
    while http.get(f"/fhir/{status}").status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return status.rsplit("/", 1)[1]


def _without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "instance"}


@pytest.mark.usefixtures("two_tenants")
def test_cross_tenant_matrix(live_server: LiveServer, settings: Settings) -> None:
    with (
        _http(live_server, settings, TENANT) as mine,
        _http(live_server, settings, OTHER) as theirs,
    ):
        body = {
            "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
            "coverage": fhir_coverage("S200"),
        }
        decision = mine.post("/v1/match", json=body).json()
        assert decision["outcome"] == "review"
        ids = {"match_id": decision["match_id"], "item_id": decision["review_item_id"]}

        mm_body = member_match_body(
            fhir_patient("William", "Chen", "1958-11-02"), fhir_coverage("S200")
        )
        assert mine.post("/fhir/Patient/$member-match", json=mm_body).status_code == 422
        ids = {"match_id": decision["match_id"], "item_id": decision["review_item_id"]}
        # Two $bulk-member-match jobs of ours: one finished (its status and output are read),
        # one to delete (DELETE is probed before the reads).
        finished, doomed = _bulk_job(mine, mm_body), _bulk_job(mine, mm_body)
        # Routes whose objects are of another kind than a /v1/match decision, by path or, where
        # methods of one path need different objects, by (method, path).
        jobs = "/fhir/bulk-member-match-jobs/{job_id}"
        special: dict[Any, dict[str, str]] = {
            "/fhir/member-match-requests/{match_id}": {"match_id": _last_match(mine)},
            jobs: {"job_id": finished},
            ("DELETE", jobs): {"job_id": doomed},
            f"{jobs}/output/{{page}}": {"job_id": finished, "page": "1"},
        }
        special.update(
            {
                f"/v1/members/{{member_id}}/{change}": {"member_id": "M5"}
                for change in ("termination", "reinstatement", "erasure")
            }
        )
        # A remembered decision of ours: the same request again opens a second item, kept apart.
        again = mine.post("/v1/match", json=body).json()
        settled = mine.post(
            f"/v1/review-items/{again['review_item_id']}/resolution",
            json={"resolution": "keep_apart"},
        )
        assert settled.status_code == 200, settled.text
        remembered = mine.get("/v1/remembered-decisions").json()["remembered"]
        special["/v1/remembered-decisions/{remembered_id}/undo"] = {
            "remembered_id": remembered[0]["id"]
        }
        # The steward routes in order on the first item: the owner (a lead: its token has
        # `admin`) assigns it to itself, claims it, escalates it, releases it, settles it.
        bodies = {
            "/v1/review-items/{item_id}/resolution": {"resolution": "keep_apart"},
            "/v1/review-items/{item_id}/assign": {"to_person": f"client:{TENANT}-client"},
            "/v1/review-items/{item_id}/decisions": {"kind": "escalate", "note": "for a lead"},
        }

        id_routes = [(m, p) for (m, p), s in route_scopes(settings).items() if s and "{" in p]
        assert len(id_routes) >= 4
        wrong: list[str] = []
        for method, path in sorted(id_routes):
            params = re.findall(r"\{([^}]+)\}", path)
            known = {**ids, **special.get(path, {}), **special.get((method, path), {})}
            if not set(params) <= set(known):
                wrong.append(f"{method} {path}: no object of ours to probe it with")
                continue
            real = path.format(**known)
            miss = path.format(**{p: str(uuid.uuid4()) for p in params})
            payload = bodies.get(path)
            probe = theirs.request(method, real, json=payload)
            absent = theirs.request(method, miss, json=payload)
            owner = mine.request(method, real, json=payload)
            if not 200 <= owner.status_code < 300:
                wrong.append(f"{method} {path}: the owner gets {owner.status_code}")
            if probe.status_code != 404:
                wrong.append(f"{method} {path}: another tenant gets {probe.status_code}")
            elif _without_instance(probe.json()) != _without_instance(absent.json()):
                wrong.append(f"{method} {path}: a foreign id is distinguishable from a miss")
        assert not wrong, wrong

        assert theirs.get("/v1/review-items").json()["items"] == []
        # Ours: the two /v1/match and the $member-match.
        assert len(mine.get("/v1/review-items").json()["items"]) == 3
        # Their master holds an M3 too, but nobody called William Chen: no candidates leak over.
        theirs_decision = theirs.post("/v1/match", json=body).json()
        assert (theirs_decision["outcome"], theirs_decision["candidates"]) == ("no_match", [])


@pytest.mark.usefixtures("two_tenants")
def test_a_tenant_header_is_ignored(live_server: LiveServer, settings: Settings) -> None:
    with (
        _http(live_server, settings, TENANT) as mine,
        _http(live_server, settings, OTHER) as theirs,
    ):
        body = {
            "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
            "coverage": fhir_coverage("S200"),
        }
        assert mine.post("/v1/match", json=body).json()["review_item_id"]
        assert len(mine.get("/v1/review-items").json()["items"]) == 1
        r = theirs.get("/v1/review-items", headers={"X-Tenant-ID": TENANT, "Tenant": TENANT})
        assert r.status_code == 200
        assert r.json()["items"] == []
