"""What the service remembers of stewards' decisions: listing and undoing it, and the read
matching makes of it (`mark_candidates`), handed to the pure engine as data on the candidates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import NotFound
from identity.learned_names import service as learned_names
from identity.matching.engine import Candidate
from identity.matching.steward import StewardMark, SurvivorMark
from identity.models import RememberedDecision, SamePersonPair
from identity.review import repository
from identity.review.claims import aware
from identity.review.decisions import revoke_answers
from identity.review.roles import Role, may_decide, who

_LIST_LIMIT = 500


@dataclass(frozen=True)
class RememberedView:
    id: str
    kind: str  # keep_apart | link | same_person
    member_id: str
    other_member_id: str | None
    resolution_id: str
    decided_by: str
    decided_at: datetime
    active: bool


def view(row: RememberedDecision | SamePersonPair) -> RememberedView:
    if isinstance(row, SamePersonPair):
        kind, other = "same_person", row.other_member_id
    else:
        kind, other = row.kind, None
    return RememberedView(
        id=row.id,
        kind=kind,
        member_id=row.member_id,
        other_member_id=other,
        resolution_id=row.resolution_id,
        decided_by=row.decided_by,
        decided_at=aware(row.decided_at) or row.decided_at,
        active=row.active,
    )


def about_members(session: Session, tenant: str, member_ids: Sequence[str]) -> list[RememberedView]:
    """Everything remembered about these members, active or undone, newest first (no audit:
    for callers that audit their own read)."""
    decisions, pairs = repository.remembered_rows(
        session, tenant, member_ids=member_ids, limit=_LIST_LIMIT
    )
    views = [*(view(r) for r in decisions), *(view(r) for r in pairs)]
    return sorted(views, key=lambda v: v.decided_at, reverse=True)


def remembered(
    session: Session, actor: Actor, *, member_id: str | None = None
) -> list[RememberedView]:
    """With a member: everything remembered about them (active or undone); without: what the
    service currently answers without asking, newest first. Audited: the ids name members."""
    if member_id is not None:
        views = about_members(session, actor.tenant, [member_id])
    else:
        decisions, pairs = repository.remembered_rows(
            session, actor.tenant, member_ids=None, limit=_LIST_LIMIT
        )
        views = sorted(
            [*(view(r) for r in decisions), *(view(r) for r in pairs)],
            key=lambda v: v.decided_at,
            reverse=True,
        )
    audit.record(
        session,
        actor,
        action="remembered.list",
        outcome="success",
        object_type="remembered_decision",
        object_ids=[v.id for v in views][:200],
    )
    return views


def undo_remembered(
    session: Session, actor: Actor, remembered_id: str, *, role: Role, now: datetime
) -> RememberedView:
    """Stop answering from a remembered decision: the row is deactivated (who, when), never
    deleted, and the undo is audited. Undoing an undone decision changes nothing."""
    may_decide(role)
    row = repository.remembered_by_id(session, actor.tenant, remembered_id, lock=True)
    if row is None:
        raise NotFound("no remembered decision with that id")
    if row.active:
        repository.deactivate(session, [row], by=who(actor), now=now)
        if isinstance(row, RememberedDecision) and row.kind == "link":
            # The tokens of the requests the link answered stand on it no more.
            answered = repository.answered_by_link(
                session, actor.tenant, row.input_fingerprint, row.member_id
            )
            revoke_answers(session, actor, answered, now=now)
            learned_names.forget_link(
                session, actor.tenant, row.resolution_id, by=who(actor), now=now
            )
        other = row.other_member_id if isinstance(row, SamePersonPair) else None
        audit.record(
            session,
            actor,
            action="remembered.undo",
            outcome="success",
            object_type="remembered_decision",
            object_ids=[i for i in (row.id, row.resolution_id, row.member_id, other) if i],
        )
    return view(row)


@dataclass(frozen=True, slots=True)
class InUse:
    """Which of the stewards' memories the tenant has anything active in: matching skips the
    reads of the others. Read per request, in its transaction (never cached in the process, so
    a steward's new decision counts at once on every instance)."""

    remembered: bool = True  # keep-apart / link decisions
    pairs: bool = True  # same-person pairs
    learned_names: bool = True  # given-name pairs learned from links


def in_use(session: Session, tenant: str) -> InUse:
    """One read: what `mark_candidates` and `learned_names.for_queries` need to read at all."""
    return InUse(*repository.memory_in_use(session, tenant))


def mark_candidates(
    session: Session,
    tenant: str,
    queries: Sequence[tuple[str, Sequence[Candidate]]],
    memory: InUse = InUse(),
) -> list[list[Candidate]]:
    """Each query's candidates (by its fingerprint) with what stewards decided about them, the
    `steward-decision` stage's input: a remembered keep-apart or link for this query and member,
    and, for another record of one person, its surviving record when that is a candidate too.
    One read for the whole batch (and one more when some pair could apply); none of what
    `memory` (`in_use`) says the tenant has nothing of."""
    fingerprints = {fp for fp, found in queries if fp and found} if memory.remembered else set()
    remembered = repository.remembered_for(session, tenant, fingerprints) if fingerprints else []
    decided: dict[tuple[str, str], StewardMark] = {}
    for fp, member, kind, rid in remembered:
        # Keep apart outranks link should both be in force (two items settled at once).
        if decided.get((fp, member), StewardMark("", "")).kind != "keep_apart":
            decided[(fp, member)] = StewardMark(kind, rid)
    members = (
        {c.member_id for _, found in queries if len(found) >= 2 for c in found}
        if memory.pairs
        else set()
    )
    pairs = repository.pairs_among(session, tenant, members) if members else []
    survivors: dict[str, list[tuple[str, str]]] = {}
    for survivor, other, rid in pairs:
        survivors.setdefault(other, []).append((survivor, rid))
    marked: list[list[Candidate]] = []
    for fp, found in queries:
        ids = {c.member_id for c in found}
        marked.append([_marked(c, decided.get((fp, c.member_id)), survivors, ids) for c in found])
    return marked


def _marked(
    candidate: Candidate,
    mark: StewardMark | None,
    survivors: dict[str, list[tuple[str, str]]],
    ids: set[str],
) -> Candidate:
    survivor = next(
        (SurvivorMark(s, rid) for s, rid in survivors.get(candidate.member_id, ()) if s in ids),
        None,
    )
    if mark is None and survivor is None:
        return candidate
    return replace(candidate, steward=mark, survivor=survivor)
