"""`review-pages`: server time of the workbench's two busiest pages, one user at a time.

A fresh SQLite database under var/bench/review-pages/ gets the default policy, five members enrolled
twice and 10,000 open review items (each a real `/v1/match` decision's row, copied with a new id,
age and fingerprint), plus one item whose decision has 50 candidates. The real app runs under
uvicorn in this process's thread on loopback; a signed-in person (a development sign-in link)
asks for the queue page (first page, and pages deep in the queue through its keyset cursor) and for
the 50-candidate item page, one request at a time. Times are measured at the client over loopback,
so they include the HTTP round trip: an upper bound of the server's time.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert

from benchmarks import TENANT
from benchmarks.machine import machine_block, markdown_table
from identity.app import create_app, settle_collector
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import bind_tenant, make_engine, make_session_factory, transaction, upgrade
from identity.matching.policy import find_policy
from identity.models import MatchDecision, ReviewItem
from identity.policy import service as policy_service
from identity.review import service as review
from identity.review_ui import sessions as signin

ROOT = Path("var/bench/review-pages")
TARGET_P95_MS = 150.0
QUEUE_ITEMS = 10_000
CANDIDATES = 50


MB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}


def _patient(
    given: str, family: str, member_id: str | None = None, rid: str | None = None
) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1961-03-14",
    }
    if rid:
        patient["id"] = rid
    if member_id:
        patient["identifier"] = [{"type": MB, "system": "urn:bench:member-id", "value": member_id}]
    return patient


def _coverage(subscriber: str, patient_ref: str = "Patient/1") -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": subscriber,
        "beneficiary": {"reference": patient_ref},
        "payor": [{"display": "Bench Health Plan"}],
    }


def _members() -> list[dict[str, Any]]:
    """Five people, each enrolled twice (synthetic): a query about one needs a person."""
    out: list[dict[str, Any]] = []
    for n in range(5):
        for copy_no in range(2):
            rid = f"p{n}-{copy_no}"
            family = f"Marchetti{chr(65 + n)}"
            out.append(_patient("Quenby", family, member_id=f"M{n}{copy_no}", rid=rid))
            out.append(_coverage(f"S{n}", f"Patient/{rid}"))
    return out


def _seed(settings: Settings, client: httpx.Client) -> str:
    """10,000 open items and one with 50 candidates; returns that item's id."""
    body = {"patient": _patient("Quen", "MarchettiA"), "coverage": _coverage("S0")}
    answer = client.post("/v1/match", json=body).json()
    assert answer["outcome"] == "review", answer
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        bind_tenant(session, TENANT)
        template = session.get(MatchDecision, answer["match_id"])
        assert template is not None
        columns = {c.key: getattr(template, c.key) for c in MatchDecision.__table__.columns}
        now = datetime.now(UTC)
        decisions, items = [], []
        for n in range(QUEUE_ITEMS):
            match_id = str(uuid.uuid4())
            created = now - timedelta(minutes=n * 1.5)  # up to about ten days old
            decisions.append(
                {
                    **columns,
                    "id": match_id,
                    "created_at": created,
                    "input_fingerprint": uuid.uuid4().hex,
                }
            )
            item = review.new_item_row(
                tenant=TENANT,
                match_id=match_id,
                policy_version=template.policy_version,
                reason=template.reason,
                candidates=template.candidates,
            )
            items.append({**item, "created_at": created})
        wide_id = str(uuid.uuid4())
        evidence = copy.deepcopy(template.evidence)
        first = evidence["candidates"][0]
        evidence["candidates"] = []
        wide_candidates = []
        for n in range(CANDIDATES):
            c = copy.deepcopy(first)
            c["member_id"] = f"W{n:03d}"
            c["record"]["member_id"] = c["member_id"]
            evidence["candidates"].append(c)
            wide_candidates.append(
                {"member_id": c["member_id"], "status": "open", "probability": 0.9}
            )
        decisions.append(
            {
                **columns,
                "id": wide_id,
                "evidence": evidence,
                "candidates": wide_candidates,
                "input_fingerprint": uuid.uuid4().hex,
            }
        )
        wide_item = review.new_item_row(
            tenant=TENANT,
            match_id=wide_id,
            policy_version=template.policy_version,
            reason=template.reason,
            candidates=wide_candidates,
        )
        items.append(wide_item)
        for start in range(0, len(decisions), 2000):
            session.execute(insert(MatchDecision), decisions[start : start + 2000])
        for start in range(0, len(items), 2000):
            session.execute(insert(ReviewItem), items[start : start + 2000])
    engine.dispose()
    return str(wide_item["id"])


def _time(client: httpx.Client, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def _row(name: str, times: list[float]) -> list[str]:
    p95 = statistics.quantiles(times, n=20)[-1]
    verdict = "meets" if p95 <= TARGET_P95_MS else "MISSES"
    return [
        name,
        str(len(times)),
        f"{statistics.median(times):.1f}",
        f"{p95:.1f}",
        f"{max(times):.1f}",
        f"{verdict} ≤ {TARGET_P95_MS:.0f}",
    ]


def run(requests: int = 200) -> str:
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    url = f"sqlite:///{ROOT / 'identity.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        default_tenant=TENANT,
        dev_auth=True,
        log_level="WARNING",
        signing_key_file=ROOT / "signing-key.pem",
        dev_key_file=ROOT / "dev-key.pem",
        data_key_file=ROOT / "data-key",
    )
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        policy_service.activate(session, TENANT, find_policy(settings.rules_dir, "default"))
    members = ROOT / "members.ndjson"
    members.write_text("".join(json.dumps(r) + "\n" for r in _members()))
    from identity.member.service import load_members

    with transaction(factory) as session:
        bind_tenant(session, TENANT)
        assert load_members(session, TENANT, [members]).ok
    with transaction(factory) as session:
        bind_tenant(session, TENANT)
        link = signin.create_link(
            session,
            tenant=TENANT,
            person="bench.steward",
            role="steward",
            lifetime_s=300,
            now=datetime.now(UTC),
        )
    engine.dispose()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings)
    settle_collector()  # as `identity serve` runs it (identity.app.app_factory)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        token = mint_dev_token(settings, tenant=TENANT, client_id="bench")
        with httpx.Client(
            base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            wide = _seed(settings, api)
        with httpx.Client(base_url=base, timeout=60) as browser:
            assert browser.get(f"/review/sign-in/link?token={link}").status_code == 303
            _time(browser, "/review", 10)  # warm-up
            queue = _time(browser, "/review", requests)
            deep = browser.get("/review")
            for _ in range(20):  # 20 pages (1,000 items) into the queue
                next_link = deep.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
                deep = browser.get(next_link.replace("&amp;", "&"))
            deep_times = _time(browser, next_link.replace("&amp;", "&"), requests)
            filtered = _time(browser, "/review?age=%3E7d&claim=unclaimed", requests)
            _time(browser, f"/review/items/{wide}", 5)
            item = _time(browser, f"/review/items/{wide}", requests)
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    table = markdown_table(
        ["page", "requests", "p50 ms", "p95 ms", "max ms", "target"],
        [
            _row(f"queue, first page ({QUEUE_ITEMS:,} open items)", queue),
            _row("queue, 21st page (keyset cursor)", deep_times),
            _row("queue, filtered (>7d, unclaimed)", filtered),
            _row(f"item with {CANDIDATES} candidates", item),
        ],
    )
    return "\n\n".join(
        [
            f"### Workbench pages (SQLite, {QUEUE_ITEMS:,} open items, one user at a time)",
            table,
            machine_block({"database": "SQLite (file, WAL)"}),
        ]
    )
