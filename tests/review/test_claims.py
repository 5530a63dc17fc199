"""Claims on both databases: a lease that lapses by time alone, release, assignment by a lead,
and claim_next handing two stewards asking at once two different items."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import transaction
from identity.errors import Conflict, NotFound
from identity.models import ReviewItem
from identity.review import service
from identity.review.service import QueueFilters, Role, RoleForbidden
from tests.review.conftest import NOW, MakeItem, person

ANA, BEN, LEAD = person("ana"), person("ben"), person("lead")
LEASE = 1800


def _claimed_by(sessions: sessionmaker[Session], item_id: str) -> str | None:
    with transaction(sessions) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        return service.holder(item, NOW)


def test_a_claim_holds_until_its_lease_lapses(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item()
    with transaction(sessions) as session:
        item = service.claim(session, ANA, item_id, now=NOW, lease_s=LEASE)
        assert item.claimed_by == "ana"
        assert service.aware(item.claim_expires_at) == NOW + timedelta(seconds=LEASE)
    with transaction(sessions) as session, pytest.raises(Conflict):
        service.claim(session, BEN, item_id, now=NOW + timedelta(seconds=LEASE - 1))
    # Past the lease nothing had to run: the item reads as unclaimed, and Ben may take it.
    later = NOW + timedelta(seconds=LEASE + 1)
    with transaction(sessions) as session:
        page = service.queue(
            session, BEN, QueueFilters(claim="unclaimed"), cursor=None, limit=10, now=later
        )
        assert [r.item_id for r in page.rows] == [item_id]
        assert service.claim(session, BEN, item_id, now=later).claimed_by == "ben"


def test_claiming_again_renews_and_release_gives_it_back(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item()
    with transaction(sessions) as session:
        service.claim(session, ANA, item_id, now=NOW, lease_s=60)
        renewed = service.claim(session, ANA, item_id, now=NOW + timedelta(seconds=30), lease_s=60)
        assert service.aware(renewed.claim_expires_at) == NOW + timedelta(seconds=90)
    with transaction(sessions) as session, pytest.raises(Conflict):
        service.release(session, BEN, item_id, now=NOW)
    with transaction(sessions) as session:
        service.release(session, ANA, item_id, now=NOW)
    assert _claimed_by(sessions, item_id) is None


def test_a_lead_assigns_and_may_release_anyones_claim(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item()
    with transaction(sessions) as session, pytest.raises(RoleForbidden):
        service.assign(session, ANA, item_id, to_person="ben", now=NOW)
    with transaction(sessions) as session:
        service.claim(session, ANA, item_id, now=NOW)
        item = service.assign(session, LEAD, item_id, to_person="ben", now=NOW, role=Role.LEAD)
        assert (item.claimed_by, item.assigned_by) == ("ben", "lead")
    # Ben's claim_next gives him the item assigned to him first.
    newer = make_item(age=timedelta(hours=30))
    with transaction(sessions) as session:
        got = service.claim_next(session, BEN, now=NOW)
        assert got is not None
        assert got.id == item_id
        assert service.claim_next(session, ANA, now=NOW).id == newer  # type: ignore[union-attr]
    with transaction(sessions) as session:
        service.release(session, LEAD, item_id, now=NOW, role=Role.LEAD)
    assert _claimed_by(sessions, item_id) is None


def test_an_auditor_claims_nothing_and_stewards_leave_escalations_to_leads(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item()
    with transaction(sessions) as session, pytest.raises(RoleForbidden):
        service.claim(session, ANA, item_id, now=NOW, role=Role.AUDITOR)
    with transaction(sessions) as session:
        service.decide(
            session,
            ANA,
            item_id,
            service.StewardDecision("escalate", note="odd"),
            role=Role.STEWARD,
            now=NOW,
        )
    with transaction(sessions) as session, pytest.raises(RoleForbidden):
        service.claim(session, BEN, item_id, now=NOW)
    with transaction(sessions) as session:
        assert service.claim_next(session, BEN, now=NOW) is None
        got = service.claim_next(session, LEAD, now=NOW, role=Role.LEAD)
        assert got is not None
        assert got.id == item_id


def test_claims_of_unknown_or_settled_items(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item()
    other_tenant = person("ana", tenant="other-payer")
    with transaction(sessions) as session, pytest.raises(NotFound):
        service.claim(session, other_tenant, item_id, now=NOW)
    with transaction(sessions) as session:
        service.decide(
            session,
            ANA,
            item_id,
            service.StewardDecision("new_person"),
            role=Role.STEWARD,
            now=NOW,
        )
    with transaction(sessions) as session, pytest.raises(Conflict):
        service.claim(session, ANA, item_id, now=NOW)


def test_claim_next_takes_the_oldest_unclaimed(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    young = make_item(age=timedelta(hours=1))
    old = make_item(age=timedelta(days=2))
    oldest = make_item(age=timedelta(days=5))
    with transaction(sessions) as session:
        service.claim(session, BEN, oldest, now=NOW)
    with transaction(sessions) as session:
        got = [service.claim_next(session, ANA, now=NOW) for _ in range(2)]
    # Ana's first claim_next holds `old`; asking again returns the item she already holds.
    assert [g.id for g in got if g] == [old, old]
    with transaction(sessions) as session:
        assert service.claim_next(session, person("cy"), now=NOW).id == young  # type: ignore[union-attr]
        assert service.claim_next(session, person("di"), now=NOW) is None


def test_stewards_asking_at_once_never_get_the_same_item(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    items = {make_item(age=timedelta(minutes=m)) for m in range(1, 5)}
    stewards = [person(f"steward-{n}") for n in range(6)]
    start = threading.Barrier(len(stewards))
    got: dict[str, str | None] = {}
    errors: list[BaseException] = []

    def work(actor: Actor) -> None:
        try:
            start.wait()
            with transaction(sessions) as session:
                item = service.claim_next(session, actor, now=NOW)
                got[str(actor.person)] = item.id if item else None
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stewards]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    claimed = [i for i in got.values() if i is not None]
    assert len(claimed) == len(set(claimed)) == len(items)  # all four, each once
    assert set(claimed) == items
    assert list(got.values()).count(None) == 2
    for item_id in items:
        assert _claimed_by(sessions, item_id) in {s.person for s in stewards}


def test_two_decisions_at_once_become_two_versions(
    sessions: sessionmaker[Session], make_item: MakeItem
) -> None:
    item_id = make_item()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(member: str) -> None:
        try:
            start.wait()
            with transaction(sessions) as session:
                service.decide(
                    session,
                    LEAD,
                    item_id,
                    service.StewardDecision("keep_apart", member),
                    role=Role.LEAD,
                    now=NOW,
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in ("M1", "M2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with transaction(sessions) as session:
        versions = service.history(session, LEAD, item_id)
    assert [(v.version, v.superseded) for v in versions] == [(2, False), (1, True)]
