"""Claims: a steward holds an item for a while (a lease). An expired lease reads as unclaimed,
so nothing has to run for a claim to lapse. Claiming is one conditional UPDATE, so two stewards
never hold the same item, on either database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import Conflict, FieldError, InvalidInput, NotFound
from identity.models import ReviewItem
from identity.review import repository
from identity.review.roles import Role, RoleForbidden, who

DEFAULT_LEASE_S = 1800
# claim_next tries this many of the oldest free items per read before reading again.
_BATCH = 20


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def holder(item: ReviewItem, now: datetime) -> str | None:
    """Who holds the item now: None when unclaimed or the lease ran out."""
    expires = aware(item.claim_expires_at)
    if item.claimed_by is None or expires is None or expires <= now:
        return None
    return item.claimed_by


def workable_statuses(role: Role) -> tuple[str, ...]:
    """A steward works open items; a lead also the escalated ones; an auditor none."""
    if role is Role.AUDITOR:
        raise RoleForbidden("an auditor reads review items but does not work them")
    return ("open", "escalated") if role is Role.LEAD else ("open",)


def _item(session: Session, actor: Actor, item_id: str) -> ReviewItem:
    item = repository.get_item(session, actor.tenant, item_id)
    if item is None:
        raise NotFound("no review item with that id")
    return item


def _audit(session: Session, actor: Actor, action: str, item: ReviewItem) -> None:
    audit.record(
        session,
        actor,
        action=action,
        outcome="success",
        object_type="review_item",
        object_ids=[item.id],
        policy_version=item.policy_version,
    )


def _refused(item: ReviewItem, me: str, role: Role, now: datetime) -> Exception:
    """Why a claim could not be taken, read after the conditional UPDATE did nothing."""
    if item.status == "resolved":
        return Conflict("the item is already resolved")
    if item.status == "escalated" and role is not Role.LEAD:
        return RoleForbidden("the item is escalated: a lead settles it")
    held = holder(item, now)
    if held is not None and held != me:
        return Conflict("another person holds a claim on the item")
    return Conflict("the item could not be claimed")


def claim(
    session: Session,
    actor: Actor,
    item_id: str,
    *,
    now: datetime,
    role: Role = Role.STEWARD,
    lease_s: int = DEFAULT_LEASE_S,
) -> ReviewItem:
    """Hold the item for `lease_s` seconds (claiming one's own again renews the lease). 409 if
    another person holds it (a lead takes an item over with `assign`)."""
    statuses = workable_statuses(role)
    item = _item(session, actor, item_id)
    me = who(actor)
    taken = repository.take_claim(
        session,
        actor.tenant,
        item.id,
        holder=me,
        now=now,
        expires=now + timedelta(seconds=lease_s),
        statuses=statuses,
    )
    repository.refresh(session, item)
    if not taken:
        raise _refused(item, me, role, now)
    _audit(session, actor, "review.claim", item)
    return item


def claim_next(
    session: Session,
    actor: Actor,
    *,
    now: datetime,
    role: Role = Role.STEWARD,
    lease_s: int = DEFAULT_LEASE_S,
) -> ReviewItem | None:
    """Claim the oldest item nobody holds that the person may work (an item they already hold,
    e.g. one a lead assigned them, comes first); None when there is none. Two stewards asking at
    once get two different items: each attempt is the same conditional UPDATE as `claim`, and
    an item taken in between is skipped."""
    statuses = workable_statuses(role)
    me = who(actor)
    tried: list[str] = []
    while True:
        ids = repository.next_claimable(
            session, actor.tenant, holder=me, now=now, statuses=statuses, limit=_BATCH, skip=tried
        )
        if not ids:
            return None
        for item_id in ids:
            if repository.take_claim(
                session,
                actor.tenant,
                item_id,
                holder=me,
                now=now,
                expires=now + timedelta(seconds=lease_s),
                statuses=statuses,
            ):
                item = _item(session, actor, item_id)
                repository.refresh(session, item)
                _audit(session, actor, "review.claim", item)
                return item
            tried.append(item_id)


def release(
    session: Session, actor: Actor, item_id: str, *, now: datetime, role: Role = Role.STEWARD
) -> ReviewItem:
    """Give the item back to the queue. A steward releases their own claim (releasing an item
    nobody holds changes nothing); a lead may release anyone's."""
    if role is Role.AUDITOR:
        raise RoleForbidden("an auditor reads review items but does not work them")
    item = _item(session, actor, item_id)
    held = holder(item, now)
    if held is None:
        return item
    if held != who(actor) and role is not Role.LEAD:
        raise Conflict("another person holds a claim on the item")
    repository.clear_claim(session, actor.tenant, item.id)
    repository.refresh(session, item)
    _audit(session, actor, "review.release", item)
    return item


def assign(
    session: Session,
    actor: Actor,
    item_id: str,
    *,
    to_person: str,
    now: datetime,
    role: Role = Role.STEWARD,
    lease_s: int = DEFAULT_LEASE_S,
) -> ReviewItem:
    """A lead hands the item to a person: a claim in their name (taking over any other), for
    the usual lease."""
    if role is not Role.LEAD:
        raise RoleForbidden("only a lead assigns review items")
    name = to_person.strip()
    if not name or len(name) > 128 or any(ord(c) < 32 for c in name):
        raise InvalidInput(
            "the person to assign to is not a valid user name",
            errors=[FieldError("/to_person", "1 to 128 printable characters")],
        )
    item = _item(session, actor, item_id)
    if item.status == "resolved":
        raise Conflict("the item is already resolved")
    repository.take_claim(
        session,
        actor.tenant,
        item.id,
        holder=name,
        now=now,
        expires=now + timedelta(seconds=lease_s),
        statuses=("open", "escalated"),
        take_over=True,
        assigned_by=who(actor),
    )
    repository.refresh(session, item)
    _audit(session, actor, "review.assign", item)
    return item
