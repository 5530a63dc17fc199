"""`identity dedupe` on a generated master with known duplicate enrolments, in the real databases
with real splink (DuckDB): pair precision and recall against the generator's truth, the clusters
as review items in the queue, a steward's "same person" answering matching with the survivor, and
a dismissed cluster staying dismissed on a rerun."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from identity.audit.actor import Actor
from identity.auth.dev import mint_dev_token
from identity.cli.main import app as cli
from identity.config import Settings
from identity.db import tenant_transaction
from identity.dedupe.report import json_report, text_report
from identity.dedupe.service import REASON, DedupeOptions, DedupeRun, find_duplicates
from identity.member.service import load_members
from identity.models import AuditEvent, DuplicateCluster, StewardSession
from identity.policy import service as policy_service
from identity.review_ui.sessions import csrf_token
from identity.synthetic import DatasetPaths, write_dataset
from tests.conftest import TENANT, LiveServer
from tests.review_ui.conftest import sign_in_url

MEMBERS = 4000
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetPaths:
    out = tmp_path_factory.mktemp("dedupe")
    return write_dataset(out, members=MEMBERS, queries=10, seed=11, formats=("ndjson",))


@pytest.fixture
def master(sessions: sessionmaker[Session], dataset: DatasetPaths, active_policy: str) -> str:
    with sessions() as session:
        assert load_members(session, TENANT, [dataset.members_ndjson]).ok
        session.commit()
    return active_policy


def _truth(path: Path) -> set[tuple[str, str]]:
    """Every pair of member ids of one person (a person enrolled three times gives three)."""
    people: dict[str, set[str]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            a, b = row["member_id_a"], row["member_id_b"]
            group = people.setdefault(a, {a})
            group.add(b)
    return {(x, y) for group in people.values() for x in group for y in group if x < y}


def _run(sessions: sessionmaker[Session], version: str, *, write: bool = True) -> DedupeRun:
    actor = Actor(tenant=TENANT, client_id=None, request_id=None, person="test")
    with tenant_transaction(sessions, TENANT) as session:
        policy = policy_service.stored_policy(session, version)
        options = DedupeOptions(threshold=policy.document.decision.review_probability, write=write)
        return find_duplicates(session, actor, policy, options, now=NOW)


def test_pairs_found_against_the_generators_truth(
    sessions: sessionmaker[Session], dataset: DatasetPaths, master: str
) -> None:
    run = _run(sessions, master)
    truth = _truth(dataset.duplicates_csv)
    found = {(p.a, p.b) for c in run.clusters for p in c.pairs}
    true_positives = len(found & truth)
    precision = true_positives / len(found)
    recall = true_positives / len(truth)
    print(
        f"dedupe {MEMBERS}: pairs {len(found)} truth {len(truth)} "
        f"precision {precision:.3f} recall {recall:.3f}"
    )
    assert len(truth) >= 20  # the generator enrols ~1% twice
    assert precision >= PRECISION_FLOOR
    assert recall >= RECALL_FLOOR
    # Every cluster became one review item, recorded with its exact member set.
    with sessions() as session:
        rows = list(session.scalars(select(DuplicateCluster)))
    assert len(rows) == len(run.clusters) == len(run.item_ids)
    assert {tuple(r.member_ids) for r in rows} == {c.members for c in run.clusters}
    # One audit event names every item and decision written (ids only).
    with sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "dedupe.run"))
    assert set(event.object_ids) == {r.review_item_id for r in rows} | {r.match_id for r in rows}
    report = text_report(run)
    assert f"clusters           {len(run.clusters)}" in report
    assert b'"cluster_sizes"' in json_report(run)


@pytest.fixture
def steward(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="steward-client", scopes=["review", "match"]
    )
    with live_server.client(token) as client:
        yield client


def _resources(path: Path) -> dict[str, dict[str, object]]:
    """member id -> {"patient", "coverage"} from the generated NDJSON, the member id left out
    (a request from another payer does not know it)."""
    patients: dict[str, dict[str, object]] = {}
    coverages: dict[str, dict[str, object]] = {}
    with path.open() as f:
        for line in f:
            resource = orjson.loads(line)
            if resource["resourceType"] == "Patient":
                patients[resource["id"]] = resource
            elif resource["resourceType"] == "Coverage":
                coverages[resource["beneficiary"]["reference"].split("/")[1]] = resource
    out = {}
    for pid, patient in patients.items():
        member_id = next(i["value"] for i in patient["identifier"] if "member-id" in i["system"])
        patient = {
            **patient,
            "identifier": [i for i in patient["identifier"] if "member-id" not in i["system"]],
        }
        out[member_id] = {"patient": patient, "coverage": coverages[pid]}
    return out


def test_stewards_confirm_or_dismiss_and_a_rerun_reopens_nothing(
    sessions: sessionmaker[Session],
    dataset: DatasetPaths,
    master: str,
    steward: httpx.Client,
) -> None:
    first = _run(sessions, master)
    assert first.item_ids
    queue = steward.get("/v1/review-items", params={"status": "open", "limit": 100}).json()
    listed = {i["id"]: i for i in queue["items"]}
    assert set(first.item_ids) <= set(listed)
    assert {listed[i]["reason"] for i in first.item_ids} == {REASON}

    # Confirm one pair "same person": matching then answers with the survivor.
    requests = _resources(dataset.members_ndjson)
    confirmed = None
    for cluster, item_id in zip(first.new_clusters, first.item_ids, strict=True):
        if len(cluster.members) != 2:
            continue
        survivor, other = cluster.members
        before = steward.post("/v1/match", json=requests[other]).json()
        if before["outcome"] != "match":  # two records of one person: not answerable alone
            confirmed = (item_id, survivor, other)
            break
    assert confirmed is not None
    item_id, survivor, other = confirmed
    r = steward.post(
        f"/v1/review-items/{item_id}/decisions",
        json={"kind": "same_person", "member_id": survivor, "other_member_id": other},
    )
    assert r.status_code == 201, r.text
    after = steward.post("/v1/match", json=requests[other]).json()
    assert (after["outcome"], after["member_id"]) == ("match", survivor)

    # Dismiss another: kept apart from every member of the cluster.
    dismissed = next(i for i in first.item_ids if i != item_id)
    r = steward.post(f"/v1/review-items/{dismissed}/decisions", json={"kind": "keep_apart"})
    assert r.status_code == 201, r.text

    again = _run(sessions, master)
    assert {c.members for c in again.clusters} == {c.members for c in first.clusters}
    assert again.new_clusters == []
    assert again.item_ids == []
    assert again.already_offered == len(first.clusters)
    for settled in (item_id, dismissed):
        assert steward.get(f"/v1/review-items/{settled}").json()["status"] == "resolved"
    open_now = steward.get("/v1/review-items", params={"status": "open", "limit": 100}).json()
    still_open = {i["id"] for i in open_now["items"] if i["reason"] == REASON}
    assert still_open == set(first.item_ids) - {item_id, dismissed}


def test_the_workbench_shows_a_cluster_and_dismisses_it(
    sessions: sessionmaker[Session], master: str, live_server: LiveServer
) -> None:
    run = _run(sessions, master)
    cluster, item_id = run.new_clusters[0], run.item_ids[0]
    with httpx.Client(base_url=live_server.base_url, timeout=30) as browser:
        assert browser.get(sign_in_url(sessions, live_server)).status_code == 303
        queue = browser.get("/review", params={"reason": REASON})
        assert queue.status_code == 200
        assert item_id[:8] in queue.text
        page = browser.get(f"/review/items/{item_id}")
        assert page.status_code == 200
        assert "One person appears to hold two member records" in page.text
        assert "Surviving record" in page.text
        for member in cluster.members:
            assert member in page.text
        # The engine's field-by-field verdict on the other records, as on any review item.
        assert "Birth date" in page.text
        with sessions() as session:
            row = session.scalars(select(StewardSession)).one()
        dismissed = browser.post(
            f"/review/items/{item_id}/decide", data={"csrf": csrf_token(row), "kind": "keep_apart"}
        )
        assert dismissed.status_code == 303, dismissed.text
    again = _run(sessions, master)
    assert cluster.key not in {c.key for c in again.new_clusters}
    with sessions() as session:
        [offered] = session.scalars(
            select(DuplicateCluster).where(DuplicateCluster.members_key == cluster.key)
        ).all()
    assert offered.review_item_id == item_id


def test_the_command_reports_and_a_dry_run_offers_nothing(
    sessions: sessionmaker[Session],
    settings: Settings,
    master: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDENTITY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IDENTITY_DEFAULT_TENANT", TENANT)
    runner = CliRunner()
    report = tmp_path / "dedupe.json"
    dry = runner.invoke(cli, ["dedupe", "--dry-run", "--no-progress", "--report", str(report)])
    assert dry.exit_code == 0, dry.output
    found = orjson.loads(report.read_bytes())
    assert found["clusters"] > 0
    assert found["new_review_items"] == 0
    assert (
        sum(int(k) * v for k, v in found["cluster_sizes"].items()) == found["members_in_clusters"]
    )
    assert f"clusters           {found['clusters']}" in dry.output
    with sessions() as session:
        assert session.scalars(select(DuplicateCluster)).first() is None

    page = tmp_path / "dedupe.html"
    real = runner.invoke(cli, ["dedupe", "--report", str(page)])  # with its progress bar
    assert real.exit_code == 0, real.output
    assert f"{found['clusters']} new, 0 already offered" in real.output
    assert "<table>" in page.read_text()
    # A threshold out of range is refused before anything is read.
    assert runner.invoke(cli, ["dedupe", "--threshold", "1.5"]).exit_code == 2
