"""Remembered decisions reach the single and the batch path alike (they share the read), and
an audit event names the person only when one acted, so chains written before still verify."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.chain import EventFields, canonical
from identity.db import transaction
from identity.fhir.audit_event import audit_event_resource
from identity.matching.standardize import standardize
from identity.models import AuditEvent, ReviewResolution
from identity.policy.cache import MatcherCache
from identity.resolution import batch
from identity.resolution import service as resolution
from identity.retention import service as retention
from identity.review import service
from identity.review.service import Role
from tests.conftest import TENANT
from tests.review.conftest import CHENS, NOW, MakeItem, person

TODAY = date(2026, 12, 7)


@pytest.mark.usefixtures("members", "active_policy")
def test_the_batch_path_answers_as_the_single_path(sessions: sessionmaker[Session]) -> None:
    raw = resolution.parse_match_request(CHENS, TODAY)
    matchers = MatcherCache()
    with transaction(sessions) as session:
        first = resolution.match(session, TENANT, matchers, raw, today=TODAY)
        assert first.decision.reason == "multiple-certain"
        assert first.review_item_id is not None
        item_id = first.review_item_id
    with transaction(sessions) as session:
        service.decide(
            session,
            person("ana"),
            item_id,
            service.StewardDecision("same_person", "M4", "M3"),
            role=Role.STEWARD,
            now=NOW,
        )
    with transaction(sessions) as session:
        single = resolution.match(session, TENANT, matchers, raw, today=TODAY)
        matcher = matchers.for_tenant(session, TENANT)
        query = standardize(raw, today=TODAY)
        found, ends, per_query = batch.retrieve_for(session, TENANT, matcher, [query])
        [bulk] = batch.decide_all(
            TENANT, matcher, [(query, found[0], ends[0], 0.0)], today=TODAY, candidates_s=per_query
        )
    assert (single.decision.outcome, single.decision.member_id) == ("match", "M4")
    assert (bulk.outcome, bulk.reason, bulk.member_id) == ("match", "same-person", "M4")


def _fields(person_name: str | None) -> EventFields:
    return EventFields(
        tenant_id="t",
        seq=1,
        occurred_at=datetime(2026, 12, 7, tzinfo=UTC),
        request_id=None,
        client_id="c",
        action="review.view",
        outcome="success",
        http_status=None,
        object_type="review_item",
        object_ids=("i",),
        policy_version=None,
        person=person_name,
    )


def test_the_person_is_hashed_only_when_set() -> None:
    without = canonical("0" * 64, _fields(None))
    assert b"person" not in without  # the bytes events had before the field existed
    assert without.startswith(b'{"action":"review.view","client_id":"c","format":1,')
    named = canonical("0" * 64, _fields("ana"))
    assert b'"person":"ana"' in named
    assert named != canonical("0" * 64, _fields("ben"))


def test_the_retention_purge_clears_every_version_of_a_note(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item(age=timedelta(days=400))
    for note in ("called her at home", "her daughter confirmed"):
        with transaction(sessions) as session:
            service.decide(
                session,
                person("ana"),
                item_id,
                service.StewardDecision("keep_apart", "M1", note=note),
                role=Role.STEWARD,
                now=NOW,
            )
    with transaction(sessions) as session:
        done = retention.purge_batch(
            session,
            TENANT,
            NOW - timedelta(days=365),
            after=None,
            limit=100,
            dry_run=False,
            now=NOW,
        )
        assert done.review_notes == 1
    with sessions() as session:
        notes = session.scalars(
            select(ReviewResolution.note).where(ReviewResolution.item_id == item_id)
        ).all()
    assert notes == [None, None]


@pytest.mark.parametrize(
    ("client_id", "agents"),
    [
        (None, [(True, "person", "ana")]),
        ("workbench", [(True, "person", "ana"), (False, "client", "workbench")]),
    ],
    ids=["person alone", "person through a client"],
)
def test_the_fhir_audit_event_names_the_person(
    client_id: str | None, agents: list[tuple[bool, str, str]]
) -> None:
    event = AuditEvent(
        id=1,
        tenant_id=TENANT,
        seq=1,
        occurred_at=NOW,
        request_id=None,
        client_id=client_id,
        person="ana",
        action="review.view",
        outcome="success",
        http_status=None,
        object_type="review_item",
        object_ids=["i-1", "M1"],
        policy_version=None,
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    resource = audit_event_resource(event)
    assert (resource["type"]["code"], resource["action"]) == ("110110", "R")
    assert [
        (
            a["requestor"],
            a["who"]["identifier"]["system"].rsplit("/", 1)[1],
            a["who"]["identifier"]["value"],
        )
        for a in resource["agent"]
    ] == agents
