"""The gate over real HTTP, on both databases: who gets what of a member's record, and the trail
each decision leaves in identity's audit chain.

Match tokens are issued by the tokens service straight into the test database (as $member-match
will); access tokens come from identity's token endpoint, as a payer's system would get them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.gate.identity_client import IdentityClient, IdentityUnavailable
from identity.models import AuditEvent
from tests.conftest import TENANT
from tests.gate.conftest import World
from tests.gate.fhir_fixture import LABELLED, OTHER, OURS
from tests.tokens.factories import issue_token

EVERYTHING = f"/Patient/{OURS}/$everything"


def ids(response: httpx.Response) -> set[str]:
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


def refused_as_outcome(response: httpx.Response) -> bool:
    return (
        response.headers["content-type"].startswith("application/fhir+json")
        and response.json()["resourceType"] == "OperationOutcome"
    )


@dataclass(frozen=True)
class Case:
    name: str
    bearer: str | None  # whose access token: payer-a, payer-b, dev, none
    token: str | None  # which match token (see `match_tokens`), or none
    path: str
    status: int
    check: Callable[[httpx.Response], bool] = lambda r: True
    reaches_fhir: bool = False  # was the FHIR server asked at all?


def no_total_and_gate_links(gate_url: str) -> Callable[[httpx.Response], bool]:
    def check(r: httpx.Response) -> bool:
        bundle = r.json()
        urls = [link["url"] for link in bundle["link"]] + [e["fullUrl"] for e in bundle["entry"]]
        return "total" not in bundle and all(u.startswith(gate_url) for u in urls)

    return check


def cases(gate_url: str) -> list[Case]:
    regular_ours = {OURS, "obs-1", "cond-2"}
    return [
        # --- allowed ---
        Case("read the member's Patient", "payer-a", "regular", f"/Patient/{OURS}", 200,
             lambda r: r.json()["id"] == OURS, True),
        Case("$everything, regular consent: sensitive entries removed", "payer-a", "regular",
             EVERYTHING, 200, lambda r: ids(r) == regular_ours, True),
        Case("$everything, regular: no total, links point at the gate", "payer-a", "regular",
             EVERYTHING, 200, no_total_and_gate_links(gate_url), True),
        Case("$everything, sensitive consent: all of it", "payer-a", "sensitive", EVERYTHING, 200,
             lambda r: ids(r) == regular_ours | {"obs-2", "cond-1"} and r.json()["total"] == 5,
             True),
        Case("search by patient, regular", "payer-a", "regular",
             f"/Observation?patient={OURS}", 200, lambda r: ids(r) == {"obs-1"}, True),
        Case("search by Patient/ reference, sensitive", "payer-a", "sensitive",
             f"/Observation?patient=Patient/{OURS}", 200, lambda r: ids(r) == {"obs-1", "obs-2"},
             True),
        Case("a server that ignores patient= still yields only the member's", "payer-a",
             "regular", f"/Encounter?patient={OURS}", 200, lambda r: ids(r) == {"enc-1"}, True),
        Case("a restricted Patient, sensitive consent", "payer-a", "labelled-sensitive",
             f"/Patient/{LABELLED}", 200, lambda r: r.json()["id"] == LABELLED, True),
        # --- refused by the gate, before the FHIR server is asked ---
        Case("no bearer token", None, "regular", f"/Patient/{OURS}", 401,
             lambda r: r.headers["www-authenticate"].startswith("Bearer")),
        Case("a development token is not identity's", "dev", "regular", f"/Patient/{OURS}", 401),
        Case("no match token", "payer-a", None, f"/Patient/{OURS}", 403),
        Case("a made-up match token", "payer-a", "made-up", f"/Patient/{OURS}", 403),
        Case("another client's match token", "payer-b", "regular", f"/Patient/{OURS}", 403),
        Case("a revoked match token", "payer-a", "revoked", f"/Patient/{OURS}", 403),
        Case("an expired match token", "payer-a", "expired", f"/Patient/{OURS}", 403),
        Case("a token without a patient record", "payer-a", "no-patient", f"/Patient/{OURS}",
             403),
        Case("another patient", "payer-a", "regular", f"/Patient/{OTHER}", 403),
        Case("another patient's observations", "payer-a", "sensitive",
             f"/Observation?patient={OTHER}", 403),
        Case("a search without patient=", "payer-a", "regular", "/Observation", 403),
        Case("a search by code alone", "payer-a", "regular", "/Observation?code=1234-5", 403),
        Case("_include", "payer-a", "regular",
             f"/Observation?patient={OURS}&_include=Observation:subject", 403),
        # --- refused after looking at the answer ---
        Case("a restricted Patient, regular consent", "payer-a", "labelled-regular",
             f"/Patient/{LABELLED}", 403, reaches_fhir=True),
        Case("an answer the gate cannot read (XML)", "payer-a", "sensitive",
             f"/Binary?patient={OURS}", 502, reaches_fhir=True),
    ]  # fmt: skip


def match_tokens(world: World) -> dict[str, str]:
    a = world.clients["payer-a"]
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    tokens = {
        "regular": issue_token(world.sessions, client_id=a, patient_id=OURS).token,
        "sensitive": issue_token(
            world.sessions, client_id=a, patient_id=OURS, category="sensitive"
        ).token,
        "labelled-regular": issue_token(world.sessions, client_id=a, patient_id=LABELLED).token,
        "labelled-sensitive": issue_token(
            world.sessions, client_id=a, patient_id=LABELLED, category="sensitive"
        ).token,
        "expired": issue_token(
            world.sessions, client_id=a, patient_id=OURS, now=long_ago, lifetime=timedelta(hours=1)
        ).token,
        "revoked": issue_token(world.sessions, client_id=a, patient_id=OURS).token,
        "no-patient": issue_token(world.sessions, client_id=a, patient_id=None).token,
        "made-up": "mt_" + "x" * 43,
    }
    # The holder revokes over HTTP, as a payer would (RFC 7009).
    bearer = world.access_token(a, "tokens:revoke")
    with world.identity.client(bearer) as http:
        assert http.post("/v1/tokens/revoke", data={"token": tokens["revoked"]}).status_code == 200
    return tokens


def test_the_gate_matrix(world: World, settings: Settings) -> None:
    tokens = match_tokens(world)
    bearers = {
        "payer-a": world.access_token(world.clients["payer-a"]),
        "payer-b": world.access_token(world.clients["payer-b"]),
        "dev": mint_dev_token(settings, tenant=TENANT, client_id=world.clients["payer-a"]),
    }
    wrong = []
    for case in cases(world.gate.base_url):
        asked_before = len(world.fhir.requests)
        r = world.get(
            case.path,
            bearer=bearers[case.bearer] if case.bearer else None,
            match_token=tokens[case.token] if case.token else None,
        )
        reached = len(world.fhir.requests) > asked_before
        if r.status_code != case.status:
            wrong.append(f"{case.name}: HTTP {r.status_code}, not {case.status}: {r.text[:200]}")
        elif not case.check(r):
            wrong.append(f"{case.name}: unexpected answer {r.text[:300]}")
        elif r.status_code >= 400 and not refused_as_outcome(r):
            wrong.append(f"{case.name}: the refusal is not an OperationOutcome")
        elif reached != case.reaches_fhir:
            wrong.append(f"{case.name}: the FHIR server was {'' if reached else 'not '}asked")
        elif not r.headers.get("x-request-id"):
            wrong.append(f"{case.name}: no X-Request-ID")
    assert not wrong, "\n".join(wrong)
    # The FHIR server was asked strictly, with exactly the approved parameters.
    assert all(prefer == "handling=strict" for _, _, prefer in world.fhir.requests)
    assert ("/fhir/Observation", f"patient={OURS}", "handling=strict") in world.fhir.requests


def gate_events(world: World) -> list[AuditEvent]:
    with transaction(world.sessions) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == TENANT, AuditEvent.action.like("gate.%"))
                .order_by(AuditEvent.seq)
            )
        )


def test_every_decision_is_in_the_audit_chain(world: World) -> None:
    a, b = world.clients["payer-a"], world.clients["payer-b"]
    issued = issue_token(world.sessions, client_id=a, patient_id=OURS)
    bearer_a, bearer_b = world.access_token(a), world.access_token(b)
    assert world.get(f"/Patient/{OURS}", bearer=bearer_a, match_token=issued.token).is_success
    assert world.get(EVERYTHING, bearer=bearer_a, match_token=issued.token).is_success
    assert world.get(f"/Patient/{OURS}", bearer=bearer_b, match_token=issued.token).status_code == (
        403
    )
    assert world.get("/Observation", bearer=bearer_a, match_token=issued.token).status_code == 403
    assert world.get(f"/Patient/{OURS}").status_code == 401
    events = gate_events(world)
    summary = [(e.action, e.outcome, e.http_status, e.client_id, e.object_ids) for e in events]
    # Each event is the reporting gate's (from its token); the requesting client is named.
    gate = world.clients["gate"]
    assert summary == [
        ("gate.read", "success", 200, gate, [issued.token_id, f"client:{a}"]),
        ("gate.everything", "success", 200, gate, [issued.token_id, f"client:{a}"]),
        ("gate.read", "forbidden", 403, gate, [issued.token_id, f"client:{b}"]),  # wrong client
        ("gate.search", "forbidden", 403, gate, [issued.token_id, f"client:{a}"]),
        ("gate.read", "denied", 401, gate, []),
    ]
    # The gate's introspections are in the chain too, under the gate's own client.
    with transaction(world.sessions) as session:
        introspections = session.scalars(
            select(AuditEvent.client_id).where(AuditEvent.action == "token.introspect")
        ).all()
    assert set(introspections) == {world.clients["gate"]}
    assert len(introspections) == 4
    # The gate's request id is the audit event's (and the gate's log line's).
    r = world.get(f"/Patient/{OURS}", bearer=bearer_a, match_token=issued.token)
    assert gate_events(world)[-1].request_id == r.headers["x-request-id"]


def test_the_log_names_no_member(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    a = world.clients["payer-a"]
    issued = issue_token(world.sessions, client_id=a, member_id="MEM-31337", patient_id=OURS)
    bearer = world.access_token(a)
    world.get(EVERYTHING, bearer=bearer, match_token=issued.token)
    world.get(f"/Patient/{OTHER}", bearer=bearer, match_token=issued.token)
    logged = capsys.readouterr().err
    decisions = [line for line in logged.splitlines() if '"gate_decision"' in line]
    assert len(decisions) == 2
    assert '"reason": "allowed"' in decisions[0]
    assert '"reason": "outside-compartment"' in decisions[1]
    for secret in (OURS, OTHER, "MEM-31337", issued.token, "Synthetic"):
        assert secret not in logged


def test_no_audit_record_no_release(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """When identity cannot record the decision, the member's data stays behind the gate."""

    async def unavailable(self: IdentityClient, *args: Any, **kwargs: Any) -> None:
        raise IdentityUnavailable("identity is unreachable (test)")

    a = world.clients["payer-a"]
    issued = issue_token(world.sessions, client_id=a, patient_id=OURS)
    monkeypatch.setattr(IdentityClient, "report", unavailable)
    r = world.get(f"/Patient/{OURS}", bearer=world.access_token(a), match_token=issued.token)
    assert r.status_code == 503
    assert OURS not in r.text
