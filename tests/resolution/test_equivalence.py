"""Equivalence (issue 14): the matching path decides, stores, renders and audits every request of
the synthetic benchmark and of FEBRL4 exactly as the old code did (its results are kept in
`tests/fixtures/equivalence.json.gz`, made by `tests/resolution/equivalence_fixture.py`).

Per request: the answer `/v1/match` gives (outcome, stage, reason, member, candidates; floats to
1e-9), the document `GET /v1/matches/{id}` renders (byte for byte) and the audit events appended
(action, outcome, object type and ids, policy version, client). Only decision and review item ids,
timestamps and timings are left out (they differ per run). On both databases, through the real
loader and service, and a sample over real HTTP.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import tenant_transaction
from tests.conftest import TENANT, LiveServer
from tests.resolution import equivalence_fixture as eq

Json = dict[str, Any]
SHOWN = 40  # mismatches printed at most


@pytest.fixture(scope="module")
def expected() -> Json:
    return eq.load_fixture()


def assert_same(what: str, expected: Sequence[Json], actual: Sequence[Json]) -> None:
    assert [r["id"] for r in actual] == [r["id"] for r in expected], f"{what}: other requests"
    found = [m for e, a in zip(expected, actual, strict=True) for m in eq.compare(e, a)]
    queries = sorted({m.split(" ")[0] for m in found})
    assert not found, (
        f"{what}: {len(queries)} of {len(expected)} requests differ from the old path "
        f"({', '.join(queries[:10])}{'…' if len(queries) > 10 else ''}):\n"
        + "\n".join(found[:SHOWN])
    )


def test_synthetic_requests_are_decided_stored_and_audited_as_before(
    expected: Json,
    settings: Settings,
    sessions: sessionmaker[Session],
    active_policy: str,
    tmp_path: Path,
) -> None:
    kept = expected["synthetic"]
    assert active_policy == expected["policy_version"]
    data = eq.synthetic_set(tmp_path)
    assert data.digests == kept["digests"], (
        "the synthetic generator writes other data than the fixture was made from: remake the "
        "fixture from the old code (see tests/resolution/equivalence_fixture.py)"
    )
    with tenant_transaction(sessions, TENANT) as session:
        eq.load_synthetic(session, data.members)

    assert_same("in process", kept["in_process"], eq.run_in_process(sessions, data.requests))

    bodies = dict(data.requests)
    sample = [(r["id"], bodies[r["id"]]) for r in kept["over_http"]]
    token = mint_dev_token(settings, tenant=TENANT, client_id=eq.CLIENT)
    with LiveServer(settings) as server, server.client(token) as client:
        over_http = eq.run_over_http(client, sessions, sample)
    assert_same("over HTTP", kept["over_http"], over_http)

    # Again from eight threads at once with group commit on: grouped commits store and audit
    # the same (the events interleave, so they are compared as a whole).
    grouped = settings.model_copy(update={"group_commit": True})
    with LiveServer(grouped) as server, server.client(token) as client:
        results, events = eq.run_over_http_at_once(client, sessions, sample, workers=8)
    without_audit = [{k: v for k, v in r.items() if k != "audit"} for r in kept["over_http"]]
    assert_same("over HTTP at once, group commit on", without_audit, results)
    assert sorted(map(eq.canonical, events)) == sorted(
        eq.canonical(e) for r in kept["over_http"] for e in r["audit"]
    ), "over HTTP at once, group commit on: other audit events than the old path's"
    assert eq.chain_intact(sessions)


def test_febrl4_requests_are_decided_stored_and_audited_as_before(
    expected: Json, sessions: sessionmaker[Session], active_policy: str
) -> None:
    assert active_policy == expected["policy_version"]
    load_master, requests = eq.febrl_set()
    with tenant_transaction(sessions, TENANT) as session:
        load_master(session, TENANT)
    assert_same("FEBRL4", expected["febrl4"]["in_process"], eq.run_in_process(sessions, requests))
    assert eq.chain_intact(sessions)


def _changed(result: Json, path: Sequence[str | int], value: Any) -> Json:
    changed = copy.deepcopy(result)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def test_the_comparison_reports_each_kind_of_change_without_demographics(
    expected: Json,
) -> None:
    """The check itself: what it must catch, what it must let pass, what it must not print."""
    kept = next(r for r in expected["synthetic"]["in_process"] if r["document"]["candidates"])
    member = kept["document"]["candidates"][0]["member_id"]
    probability = kept["answer"]["probability"]
    given = kept["document"]["evidence"]["query"]["given"]
    cases: list[tuple[str, Json, str | None]] = [
        ("the same", copy.deepcopy(kept), None),
        (
            "answer within 1e-9",
            _changed(kept, ["answer", "probability"], probability - 1e-12),
            None,
        ),
        (
            "answer beyond 1e-9",
            _changed(kept, ["answer", "probability"], probability - 1e-8),
            "answer/probability",
        ),
        ("outcome", _changed(kept, ["answer", "outcome"], "review"), "answer/outcome: expected"),
        (
            "a document float by one part in 1e15",
            _changed(kept, ["document", "probability"], probability * (1 - 1e-15)),
            "document/probability",
        ),
        (
            "a candidate's weight",
            _changed(kept, ["document", "candidates", 0, "match_weight"], 0.5),
            f"document/candidates[0 {member}]/match_weight",
        ),
        (
            "a standardised value",
            _changed(kept, ["document", "evidence", "query", "given"], "ZZZ"),
            "/evidence/query/given",
        ),
        (
            "an audit action",
            _changed(kept, ["audit", 0, "action"], "match.read"),
            "audit[0 match.create]/action",
        ),
        (
            "an audit event fewer",
            _changed(kept, ["audit"], kept["audit"][:1]),
            "audit: 2 items expected",
        ),
    ]
    for name, actual, reported in cases:
        found = eq.compare(kept, actual)
        if reported is None:
            assert found == [], name
        else:
            assert any(reported in m and m.startswith(kept["id"]) for m in found), (name, found)
        assert not any(given in m or "ZZZ" in m for m in found), name
