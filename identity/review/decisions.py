"""Steward decisions on review items, versioned: each is a new `review_resolution` row, the one
before it marked superseded; the item keeps the current state. Deciding also updates what the
service remembers for matching (keep apart / link for the query's fingerprint, two records of
one person), replacing what the item's earlier versions made it remember.

The rules, in one place (`check`): an auditor never decides; only a lead settles an escalated
item; a claim held by another person blocks a steward (not a lead); the members named must be
the item's candidates (a same-person pair may also name any member of the tenant); undoing a
same-person pair needs one to be in force.

"Same person" names the surviving record and one other (`other_member_id`) or several
(`other_member_ids`: a duplicate-enrolment cluster of three or more settled in one decision, or
the records a steward picked from it). Each other record becomes one same-person pair with the
survivor, all under the one resolution; the resolution row names the other record when there is
one, and the pairs (by resolution id) name them when there are several.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import Conflict, FieldError, InvalidInput, NotFound
from identity.learned_names import service as learned_names
from identity.models import RememberedDecision, ReviewItem, ReviewResolution, SamePersonPair
from identity.review import repository
from identity.review.claims import aware, holder
from identity.review.roles import Role, RoleForbidden, may_decide, who
from identity.tokens import service as tokens
from identity.webhooks import service as webhooks

KINDS = ("link", "keep_apart", "new_person", "same_person", "not_same_person", "escalate")
_NOTE_MAX = 2000
_OTHERS_MAX = 100  # records one same-person decision may pair with its survivor


@dataclass(frozen=True)
class StewardDecision:
    kind: str  # one of KINDS
    # link / keep_apart: the candidate (keep apart without one: from every candidate);
    # same_person: the surviving record
    member_id: str | None = None
    other_member_id: str | None = None  # same_person / not_same_person: the other record
    note: str | None = None
    # same_person only, instead of other_member_id: every other record of the person
    other_member_ids: tuple[str, ...] = ()

    @property
    def others(self) -> tuple[str, ...]:
        """The records a same-person decision pairs with the survivor, in the order given."""
        return self.other_member_ids or ((self.other_member_id,) if self.other_member_id else ())


@dataclass(frozen=True)
class ResolutionView:
    id: str
    version: int
    kind: str
    member_id: str | None
    other_member_id: str | None
    note: str | None
    decided_by: str
    decided_at: datetime
    superseded: bool
    other_member_ids: tuple[str, ...] = ()  # same_person: every record paired with the survivor


def view(row: ReviewResolution, others: Sequence[str] = ()) -> ResolutionView:
    """`others`: the records a same-person resolution paired (its pairs), else the row's own."""
    if not others and row.other_member_id:
        others = (row.other_member_id,)
    return ResolutionView(
        id=row.id,
        version=row.version,
        kind=row.kind,
        member_id=row.member_id,
        other_member_id=row.other_member_id,
        note=row.note,
        decided_by=row.decided_by,
        decided_at=aware(row.decided_at) or row.decided_at,
        superseded=row.superseded_at is not None,
        other_member_ids=tuple(others),
    )


def candidate_ids(item: ReviewItem) -> list[str]:
    return [str(c["member_id"]) for c in item.candidates if c.get("member_id")]


def check(
    item: ReviewItem, decision: StewardDecision, *, role: Role, me: str, now: datetime
) -> None:
    """Who may decide what, in which state; raises the refusal (nothing changed)."""
    may_decide(role)
    if item.status == "escalated" and role is not Role.LEAD:
        raise RoleForbidden("the item is escalated: a lead settles it")
    if decision.kind == "escalate" and item.status == "escalated":
        raise Conflict("the item is already escalated")
    held = holder(item, now)
    if held is not None and held != me and role is not Role.LEAD:
        raise Conflict("another person holds a claim on the item")
    errors = _shape_errors(item, decision)
    if errors:
        raise InvalidInput("the decision is not valid", errors=errors)


def _shape_errors(item: ReviewItem, decision: StewardDecision) -> list[FieldError]:
    kind, member, other = decision.kind, decision.member_id, decision.other_member_id
    if kind not in KINDS:
        return [FieldError("/kind", f"one of {', '.join(KINDS)}")]
    errors = []
    candidates = candidate_ids(item)
    # Keep apart without a member: apart from every candidate (the first API's meaning).
    needs_candidate = kind == "link" or (kind == "keep_apart" and member is not None)
    if needs_candidate and member not in candidates:
        errors.append(FieldError("/member_id", "not a candidate of this item"))
    if kind in ("new_person", "escalate", "link", "keep_apart") and other is not None:
        errors.append(FieldError("/other_member_id", "not used by this kind of decision"))
    if kind != "same_person" and decision.other_member_ids:
        errors.append(FieldError("/other_member_ids", "used by same_person only"))
    if kind in ("new_person", "escalate") and member is not None:
        errors.append(FieldError("/member_id", "not used by this kind of decision"))
    if kind == "same_person" and decision.other_member_ids:
        errors += _others_errors(decision)
    elif kind in ("same_person", "not_same_person"):
        if not member:
            errors.append(FieldError("/member_id", "required: the surviving member record"))
        if not other:
            errors.append(FieldError("/other_member_id", "required: the other member record"))
        if member and other and member == other:
            errors.append(FieldError("/other_member_id", "must differ from member_id"))
    if decision.note is not None and len(decision.note) > _NOTE_MAX:
        errors.append(FieldError("/note", f"at most {_NOTE_MAX} characters"))
    return errors


def _others_errors(decision: StewardDecision) -> list[FieldError]:
    """A same-person decision naming several other records: the survivor, then distinct others
    that are not the survivor, and not also the single `other_member_id`."""
    others = decision.other_member_ids
    errors = []
    if not decision.member_id:
        errors.append(FieldError("/member_id", "required: the surviving member record"))
    if decision.other_member_id is not None:
        errors.append(FieldError("/other_member_id", "give other_member_id or other_member_ids"))
    if len(others) > _OTHERS_MAX:
        errors.append(FieldError("/other_member_ids", f"at most {_OTHERS_MAX} records"))
    for i, other in enumerate(others):
        if not other or other == decision.member_id or other in others[:i]:
            errors.append(
                FieldError(f"/other_member_ids/{i}", "a member record other than the survivor")
            )
    return errors


def _get(session: Session, actor: Actor, item_id: str) -> ReviewItem:
    item = repository.get_item(session, actor.tenant, item_id)
    if item is None:
        raise NotFound("no review item with that id")
    return item


def decide(
    session: Session,
    actor: Actor,
    item_id: str,
    decision: StewardDecision,
    *,
    role: Role,
    now: datetime,
) -> ResolutionView:
    """Record a new version of the item's resolution and apply it: the item's current state,
    what matching remembers, tokens revoked when a link is withdrawn, the caller's webhook."""
    item = repository.lock_item(session, actor.tenant, item_id)
    if item is None:
        raise NotFound("no review item with that id")
    me = who(actor)
    check(item, decision, role=role, me=me, now=now)
    kind = decision.kind
    if kind == "same_person":
        _check_members(session, actor.tenant, item, decision)
    if kind == "not_same_person":
        pairs = repository.active_pairs_between(
            session, actor.tenant, str(decision.member_id), str(decision.other_member_id)
        )
        if not pairs:
            raise Conflict("those two member records are not marked as the same person")
    others = decision.others if kind == "same_person" else ()
    history = repository.resolutions_of(session, actor.tenant, item.id)
    version = history[0].version + 1 if history else 1
    repository.supersede(session, actor.tenant, item.id, now)
    row = ReviewResolution(
        id=str(uuid.uuid4()),
        tenant_id=actor.tenant,
        item_id=item.id,
        version=version,
        kind=kind,
        member_id=decision.member_id,
        # One other record as ever; several are named by the resolution's pairs.
        other_member_id=others[0] if len(others) == 1 else decision.other_member_id,
        note=decision.note,
        decided_by=me,
        decided_by_role=role.value,
        decided_at=now,
        superseded_at=None,
    )
    repository.add_resolution(session, row)
    repository.forget_for_item(session, actor.tenant, item.id, by=me, now=now)
    learned_names.forget_for_item(session, actor.tenant, item.id, by=me, now=now)
    if kind == "not_same_person":
        repository.deactivate(session, pairs, by=me, now=now)
    _remember(session, item, row, others)
    if kind == "link":  # a given name the link shows equivalent to the member's
        decision_row = repository.decision_of(session, actor.tenant, item.match_id)
        learned_names.learn_from_link(session, row, decision_row)

    was_linked = item.resolution == "link"
    settled_member = _settled_member(decision)
    if was_linked and (kind != "link" or settled_member != item.resolved_member_id):
        unlinked = [item.match_id]
        if item.resolved_member_id:
            fingerprint = repository.fingerprint_of(session, actor.tenant, item.match_id) or ""
            unlinked += repository.answered_by_link(
                session, actor.tenant, fingerprint, item.resolved_member_id
            )
        revoke_answers(session, actor, unlinked, now=now)
    item.status = "escalated" if kind == "escalate" else "resolved"
    item.resolution = kind
    item.resolved_member_id = settled_member
    item.resolved_by = me
    item.resolved_at = now
    item.note = decision.note
    # Deciding ends the claim: an escalated item waits for a lead, a settled one for nobody.
    item.claimed_by = item.claimed_at = item.claim_expires_at = item.assigned_by = None
    session.flush()
    if kind != "escalate":
        webhooks.review_settled(
            session,
            tenant=actor.tenant,
            item_id=item.id,
            match_id=item.match_id,
            kind=kind,
            member_id=settled_member,
            now=now,
        )
    touched = [item.id, item.match_id, row.id, decision.member_id, decision.other_member_id]
    touched += decision.other_member_ids
    audit.record(
        session,
        actor,
        action="review.decide",
        outcome="success",
        object_type="review_item",
        object_ids=[i for i in touched if i],
        policy_version=item.policy_version,
    )
    return view(row, others)


def revoke_answers(session: Session, actor: Actor, decisions: list[str], *, now: datetime) -> None:
    """Unlinking revokes every token issued on the link: the item's own decision's and those of
    later requests the remembered link answered."""
    for decision_id in decisions:
        tokens.revoke_for_decision(session, actor, decision_id, reason="decision-unlinked", now=now)


def _settled_member(decision: StewardDecision) -> str | None:
    """The member the item now resolves to: the linked one, or the surviving record."""
    return decision.member_id if decision.kind in ("link", "same_person") else None


def _check_members(session: Session, tenant: str, item: ReviewItem, d: StewardDecision) -> None:
    """Both records of a same-person pair are candidates of the item or members of the tenant."""
    named = [m for m in (d.member_id, *d.others) if m]
    unknown = set(named) - set(candidate_ids(item))
    if unknown:
        unknown -= repository.existing_member_ids(session, tenant, sorted(unknown))
    if unknown:
        fields = [] if d.member_id not in unknown else ["/member_id"]
        if d.other_member_id in unknown:
            fields.append("/other_member_id")
        fields += [
            f"/other_member_ids/{i}" for i, m in enumerate(d.other_member_ids) if m in unknown
        ]
        raise InvalidInput(
            "a same-person pair names two member records of the tenant",
            errors=[FieldError(f, "not a candidate of this item nor a member") for f in fields],
        )


def _remember(
    session: Session, item: ReviewItem, row: ReviewResolution, others: Sequence[str]
) -> None:
    """What later matching answers without asking: keep apart / link for this query's
    fingerprint (new person: apart from every candidate), or the same-person pairs (the
    survivor with each other record)."""
    base = {
        "tenant_id": row.tenant_id,
        "resolution_id": row.id,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
        "active": True,
    }
    if row.kind == "same_person":
        for other in others:
            repository.add_pair(
                session,
                SamePersonPair(
                    id=str(uuid.uuid4()), member_id=row.member_id, other_member_id=other, **base
                ),
            )
        return
    targets: list[tuple[str, str]] = []
    if row.kind in ("link", "keep_apart") and row.member_id:
        targets = [(row.kind, row.member_id)]
    elif row.kind in ("new_person", "keep_apart"):  # apart from every candidate
        targets = [("keep_apart", m) for m in candidate_ids(item)]
    if not targets:
        return
    fingerprint = repository.fingerprint_of(session, row.tenant_id, item.match_id)
    if not fingerprint:  # the retention purge removed it: nothing to recognise the query by
        return
    repository.add_remembered(
        session,
        [
            RememberedDecision(
                id=str(uuid.uuid4()),
                input_fingerprint=fingerprint,
                member_id=member,
                kind=kind,
                **base,
            )
            for kind, member in targets
        ],
    )


def history(session: Session, actor: Actor, item_id: str) -> list[ResolutionView]:
    """Every version of the item's resolution, newest first (audited as a read of the item)."""
    item = _get(session, actor, item_id)
    rows = repository.resolutions_of(session, actor.tenant, item.id)
    several = [r.id for r in rows if r.kind == "same_person" and not r.other_member_id]
    paired = repository.pair_members_of(session, actor.tenant, several) if several else {}
    audit.record(
        session,
        actor,
        action="review.history",
        outcome="success",
        object_type="review_item",
        object_ids=[item.id, *(r.id for r in rows)],
        policy_version=item.policy_version,
    )
    return [view(r, paired.get(r.id, ())) for r in rows]
