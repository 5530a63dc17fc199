"""Erasing members' demographics on request: the person's data goes, the record of what was done
stays.

Kept: the member rows and their ids, coverage periods (dates, payor), every decision's id,
outcome and scores, review items and the audit chain (which holds ids only, so it still verifies).
Gone: names, birth date, sex, address, phone, e-mail, SSN, the source document as loaded, the
subscriber ids on their cards, their blocking keys (matching can no longer find them), the
demographics in the evidence of every decision that listed them (redacted as retention does:
the query, the candidates' records and the values compared), and the given names of the pairs
stewards' links to them taught (identity/learned_names; the pairs are withdrawn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.learned_names import service as learned_names
from identity.member import repository
from identity.retention.redact import redact_evidence
from identity.retention.repository import redact_decisions


@dataclass(frozen=True, slots=True)
class EraseReport:
    erased: list[str]
    unknown: list[str]
    decisions_redacted: int
    learned_names_erased: int = 0


def erase_members(
    session: Session, actor: Actor, member_ids: Sequence[str], now: datetime
) -> EraseReport:
    """Erase the members of the actor's tenant in the caller's transaction, audited
    (`member.erase`, with the member ids). Unknown ids are reported, not an error; erasing a
    member twice changes nothing more."""
    pks = repository.member_pks(session, actor.tenant, member_ids)
    unknown = sorted(set(member_ids) - set(pks))
    erased = sorted(pks)
    if not erased:
        return EraseReport([], unknown, 0)
    repository.erase_demographics(session, actor.tenant, list(pks.values()), now)
    named = repository.decisions_naming(session, actor.tenant, erased)
    redact_decisions(session, [(i, redact_evidence(e)) for i, e in named], now)
    by = actor.person or actor.client_id or "erasure"
    pairs = learned_names.forget_members(session, actor.tenant, erased, by=by, now=now)
    audit.record(
        session,
        actor,
        action="member.erase",
        outcome="success",
        object_type="member",
        object_ids=erased,
    )
    return EraseReport(erased, unknown, len(named), pairs)
