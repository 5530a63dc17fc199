"""Match token use cases: issue, introspect (RFC 7662), revoke (RFC 7009) and the automatic
revocations. Each joins the caller's transaction, only flushes, and audits as its last step.

A token is 256 random bits from `secrets`, opaque to its holder: it says nothing about the member
or the match. Only its SHA-256 is stored. A fast hash is right here, unlike for passwords: with 256
bits of entropy nothing can be guessed, so a slow or salted hash would protect nothing and would
cost every introspection; an unsalted hash is also what lets the lookup be one indexed equality.
Whoever reads the table learns which tokens exist, but cannot present any of them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.clients import service as clients_service
from identity.consent.evaluate import ConsentDecision
from identity.models import MatchToken
from identity.tokens import repository

TOKEN_TYPE = "match_token"
TOKEN_PREFIX = "mt_"  # lets secret scanners and people recognise a leaked token; not secret
TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_CHARS = 128  # anything longer is not ours; refused before hashing
INACTIVE: dict[str, Any] = {"active": False}

_REASON = re.compile(r"^[a-z][a-z-]{0,31}$")
# Column widths, checked before the insert so a caller's mistake is a ValueError, not a 503.
_LIMITS = {"client_id": 64, "member_id": 64, "patient_id": 64, "decision_id": 64}
_POLICY_MAX = 120


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # give it to the requester once; it is not stored and cannot be recovered
    token_id: str  # the public id: audit events and logs name this, never the token
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def end_of_day(day: date) -> datetime:
    """The first instant after `day` (UTC): a consent ending on a day covers all of that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def issue(
    session: Session,
    actor: Actor,
    *,
    client_id: str,
    member_id: str,
    patient_id: str | None,
    consent: ConsentDecision,
    policy_version: str,
    decision_id: str,
    now: datetime,
    max_lifetime: timedelta,
    audited: bool = True,
) -> IssuedToken:
    """A new token for `client_id`, bound to the member, the consent's terms, the policy and the
    decision, in the actor's tenant. It expires at now + max_lifetime or when the consent's period
    ends (end of that day, UTC), whichever is first. Raises ValueError for a refused consent, a
    consent already over, or values that do not fit: those are the caller's bugs."""
    row, issued = new_token(
        actor,
        client_id=client_id,
        member_id=member_id,
        patient_id=patient_id,
        consent=consent,
        policy_version=policy_version,
        decision_id=decision_id,
        now=now,
        max_lifetime=max_lifetime,
    )
    repository.add_many(session, [row])
    if audited:  # False when the caller's own event names the token (one event per request)
        audit.record(
            session,
            actor,
            action="token.issue",
            outcome="success",
            object_type="match_token",
            object_ids=[issued.token_id],
            policy_version=policy_version,
        )
    return issued


def new_token(
    actor: Actor,
    *,
    client_id: str,
    member_id: str,
    patient_id: str | None,
    consent: ConsentDecision,
    policy_version: str,
    decision_id: str,
    now: datetime,
    max_lifetime: timedelta,
) -> tuple[dict[str, Any], IssuedToken]:
    """The token's row, for `repository.add_many`, and the token to hand over, without writing
    anything: `issue` writes one, a bulk batch writes its tokens in one statement. No consent sent
    (and none required) releases what a regular consent does: no sensitive data without the
    member's opt-in."""
    if not consent.ok:
        raise ValueError("a match token is issued only under a consent that can be honoured")
    if max_lifetime <= timedelta(0):
        raise ValueError("max_lifetime must be positive")
    now = _aware(now)
    fields = {
        "client_id": client_id,
        "member_id": member_id,
        "patient_id": patient_id,
        "decision_id": decision_id,
    }
    for name, value in fields.items():
        if value is not None and not 0 < len(value) <= _LIMITS[name]:
            raise ValueError(f"{name} must be 1 to {_LIMITS[name]} characters")
    if not 0 < len(policy_version) <= _POLICY_MAX:
        raise ValueError(f"policy_version must be 1 to {_POLICY_MAX} characters")
    expires_at = now + max_lifetime
    if consent.period_end is not None:
        expires_at = min(expires_at, end_of_day(consent.period_end))
    if expires_at <= now:
        raise ValueError("the consent's period is over; no token can be issued under it")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": actor.tenant,
        "token_hash": token_hash(token),
        **fields,
        "consent_category": consent.category or "regular",
        "consent_start": consent.period_start,
        "consent_end": consent.period_end,
        "policy_version": policy_version,
        "issued_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
        "revoked_reason": None,
    }
    return row, IssuedToken(token, row["id"], expires_at)


def introspect(session: Session, actor: Actor, token: str, *, now: datetime) -> dict[str, Any]:
    """RFC 7662 for the actor's tenant (a resource server; the endpoint checks its scope).

    `{"active": false}` alone for a token that is unknown, another tenant's, expired, revoked or
    whose client is disabled: the answer never says which, so it cannot be used as an oracle."""
    row = _find(session, actor.tenant, token)
    active = row is not None and _is_active(session, row, _aware(now))
    if row is not None and actor.client_id is not None:
        # What lets this client (a gate) report retrievals under this token afterwards.
        repository.remember_introspection(
            session, actor.tenant, row.id, actor.client_id, now=_aware(now)
        )
    audit.record(
        session,
        actor,
        action="token.introspect",
        outcome="success" if active else ("denied" if row is not None else "not-found"),
        object_type="match_token",
        object_ids=[row.id] if row is not None else [],
        policy_version=row.policy_version if row is not None else None,
        http_status=200,
    )
    if row is None or not active:
        return dict(INACTIVE)
    return {
        "active": True,
        "token_type": TOKEN_TYPE,
        "jti": row.id,
        "client_id": row.client_id,
        "scope": row.consent_category,
        "iat": int(_aware(row.issued_at).timestamp()),
        "exp": int(_aware(row.expires_at).timestamp()),
        "member_id": row.member_id,
        "patient_id": row.patient_id,
        "consent_category": row.consent_category,
        "consent_period": {
            "start": row.consent_start.isoformat() if row.consent_start else None,
            "end": row.consent_end.isoformat() if row.consent_end else None,
        },
        "decision_id": row.decision_id,
        "policy_version": row.policy_version,
    }


def revoke(
    session: Session,
    actor: Actor,
    token: str,
    *,
    any_client: bool = False,
    now: datetime | None = None,
) -> None:
    """RFC 7009: the caller learns nothing (the endpoint answers 200 whatever happens here).

    The holder revokes its own tokens; `any_client` (a resource server or an administrator of the
    tenant) revokes any of the tenant's. A token of another client is left alone, and that attempt
    is audited as forbidden. Revoking twice is a success that changes nothing."""
    moment = _aware(now or datetime.now(UTC))
    row = _find(session, actor.tenant, token)
    if row is None:
        outcome = "not-found"
    elif not any_client and row.client_id != actor.client_id:
        outcome = "forbidden"
    else:
        reason = "holder-revoked" if row.client_id == actor.client_id else "tenant-revoked"
        repository.revoke_one(session, actor.tenant, row.id, now=moment, reason=reason)
        outcome = "success"
    audit.record(
        session,
        actor,
        action="token.revoke",
        outcome=outcome,
        object_type="match_token",
        object_ids=[row.id] if row is not None else [],
        policy_version=row.policy_version if row is not None else None,
        http_status=200,
    )


def revoke_for_decision(
    session: Session,
    actor: Actor,
    decision_id: str,
    *,
    reason: str = "decision-unlinked",
    now: datetime | None = None,
) -> list[str]:
    """Revoke every live token a decision issued (a steward unlinked the match); their ids."""
    return _revoke_many(session, actor, reason, now, decision_id=decision_id)


def revoke_for_member(
    session: Session,
    actor: Actor,
    member_id: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> list[str]:
    """Revoke every live token bound to a member (e.g. reason `consent-withdrawn`); their ids.

    `reason` is a short code (lower-case letters and '-'), stored with each token."""
    return _revoke_many(session, actor, reason, now, member_id=member_id)


def _revoke_many(
    session: Session,
    actor: Actor,
    reason: str,
    now: datetime | None,
    *,
    decision_id: str | None = None,
    member_id: str | None = None,
) -> list[str]:
    if not _REASON.match(reason):
        raise ValueError("a revocation reason is a code: lower-case letters and '-', at most 32")
    moment = _aware(now or datetime.now(UTC))
    revoked = repository.revoke_where(
        session,
        actor.tenant,
        now=moment,
        reason=reason,
        decision_id=decision_id,
        member_id=member_id,
    )
    if revoked:  # a sweep that found nothing changed nothing; the caller audits its own action
        audit.record(
            session,
            actor,
            action="token.revoke",
            outcome="success",
            object_type="match_token",
            object_ids=revoked,
        )
    return revoked


def known_token(session: Session, tenant: str, token_id: str) -> bool:
    """Whether the tenant ever issued a token with this id (active or not)."""
    return repository.exists(session, tenant, token_id)


def introspected_by(session: Session, tenant: str, token_id: str, client_id: str) -> bool:
    """Whether `client_id` ever introspected the token (any answer, active or not)."""
    return repository.introspected_by(session, tenant, token_id, client_id)


def _find(session: Session, tenant: str, token: str) -> MatchToken | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    return repository.by_hash(session, tenant, token_hash(token))


def _is_active(session: Session, row: MatchToken, now: datetime) -> bool:
    if row.revoked_at is not None or now >= _aware(row.expires_at):
        return False
    # A disabled client loses its match tokens at once, not when they expire. A client with no
    # row here (one of a trusted external issuer, a development token's) has nothing to disable.
    return not clients_service.is_disabled(session, row.client_id)


def _aware(moment: datetime) -> datetime:
    """UTC-aware: SQLite hands stored times back without their zone (they were stored in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
