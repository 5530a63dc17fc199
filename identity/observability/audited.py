"""Audit events as they commit, for the counters: tokens issued and revoked, consent and guard
refusals, bulk jobs. Every one of those is already an audit event, written in the transaction
that does it; counting the events at commit counts exactly what happened (a rolled-back request
counts nothing) from one place, instead of a counter call beside each audit call.

`note` keeps (action, outcome, object count) on the session; a metrics `after_commit` listener
reads them (`noted_in`), and `forget_at_end` drops them when the transaction ends. Actions and
outcomes are names from code (the audit service checks their shape), never caller input."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

_INFO = "metrics.audited"


@dataclass(frozen=True, slots=True)
class Audited:
    action: str
    outcome: str
    objects: int


def note(session: Session, action: str, outcome: str, objects: int) -> None:
    session.info.setdefault(_INFO, []).append(Audited(action, outcome, objects))


def noted_in(session: Session) -> list[Audited]:
    return list(session.info.get(_INFO, ()))


def forget_at_end(factory: sessionmaker[Session]) -> None:
    """Drop a session's notes when its outermost transaction ends (after the `after_commit`
    listeners read them, or on rollback). Idempotent per factory."""
    if not event.contains(factory, "after_transaction_end", _forget):
        event.listen(factory, "after_transaction_end", _forget)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_INFO, None)
