"""Server-side sessions of people at the workbench, and the one-time development sign-in links.

The cookie is `<tenant>.<secret>`: the tenant (an id, not PHI) lets the session be found under
row-level security, the secret is 32 random bytes whose SHA-256 alone is stored. A session ends
on sign-out, after the idle timeout (HIPAA automatic logoff) and at its maximum age.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.auth.principal import is_tenant_id
from identity.errors import FieldError, InvalidInput
from identity.models import SignInLink, StewardSession
from identity.review_ui import repository

ROLES = ("steward", "lead", "auditor")
COOKIE = "identity_review"
_PERSON_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


@dataclass(frozen=True, slots=True)
class Person:
    """Who is signed in: what every page acts as."""

    tenant: str
    person: str
    role: str
    csrf: str

    def actor(self, request_id: str | None) -> Actor:
        return Actor(tenant=self.tenant, client_id=None, request_id=request_id, person=self.person)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_person(tenant: str, person: str, role: str) -> None:
    """A sign-in's identity, whichever way it came: a tenant id, a user name, a known role."""
    errors = []
    if not is_tenant_id(tenant):
        errors.append(FieldError("/tenant", "not a tenant id"))
    if not (0 < len(person) <= 128 and set(person) <= _PERSON_OK):
        errors.append(FieldError("/person", "1-128 letters, digits and . _ @ -"))
    if role not in ROLES:
        errors.append(FieldError("/role", f"one of {', '.join(ROLES)}"))
    if errors:
        raise InvalidInput("cannot sign this person in", errors=errors)


def start(session: Session, *, tenant: str, person: str, role: str, how: str, now: datetime) -> str:
    """A new session; returns the cookie value. Audited as a sign-in naming the person."""
    check_person(tenant, person, role)
    secret = secrets.token_urlsafe(32)
    repository.add(
        session,
        StewardSession(
            id_hash=_hash(secret),
            tenant_id=tenant,
            person=person,
            role=role,
            created_at=now,
            last_seen_at=now,
            csrf_secret=secrets.token_urlsafe(32),
        ),
    )
    audit.record(
        session,
        Actor(tenant=tenant, client_id=None, request_id=None, person=person),
        action="review.sign-in",
        outcome="success",
        object_type="steward_session",
        object_ids=[how, role],
    )
    return f"{tenant}.{secret}"


def split_cookie(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    tenant, _, secret = value.rpartition(".")
    if not secret or not is_tenant_id(tenant) or len(secret) > 64:
        return None
    return tenant, secret


def resume(
    session: Session,
    cookie: str | None,
    *,
    idle_s: int,
    max_s: int,
    now: datetime,
) -> Person | None:
    """The person a cookie stands for, their session touched; None if it ended or never was.
    The caller binds the session's tenant first (split_cookie) so row-level security finds it."""
    parts = split_cookie(cookie)
    if parts is None:
        return None
    tenant, secret = parts
    row = repository.get_session(session, tenant, _hash(secret))
    if row is None or row.ended_at is not None:
        return None
    last_seen, created = _aware(row.last_seen_at), _aware(row.created_at)
    if now - last_seen > timedelta(seconds=idle_s) or now - created > timedelta(seconds=max_s):
        row.ended_at = now
        session.flush()
        return None
    row.last_seen_at = now
    session.flush()
    return Person(tenant=row.tenant_id, person=row.person, role=row.role, csrf=csrf_token(row))


def end(session: Session, cookie: str | None, *, now: datetime) -> None:
    parts = split_cookie(cookie)
    if parts is None:
        return
    row = repository.get_session(session, parts[0], _hash(parts[1]))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        session.flush()
        audit.record(
            session,
            Actor(tenant=row.tenant_id, client_id=None, request_id=None, person=row.person),
            action="review.sign-out",
            outcome="success",
            object_type="steward_session",
            object_ids=[row.role],
        )


def csrf_token(row: StewardSession) -> str:
    return hmac.new(row.csrf_secret.encode(), b"review-form", hashlib.sha256).hexdigest()


def csrf_ok(person: Person, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(person.csrf, str(submitted))


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for what was stored as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- development sign-in links (IDENTITY_DEV_AUTH only) ---


def create_link(
    session: Session, *, tenant: str, person: str, role: str, lifetime_s: int, now: datetime
) -> str:
    """A single-use code for `identity stewards dev-login-url`; only its hash is stored."""
    check_person(tenant, person, role)
    code = secrets.token_urlsafe(32)
    repository.add(
        session,
        SignInLink(
            code_hash=_hash(code),
            tenant_id=tenant,
            person=person,
            role=role,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime_s),
        ),
    )
    return f"{tenant}.{code}"


def redeem_link(session: Session, token: str, *, now: datetime) -> tuple[str, str, str] | None:
    """(tenant, person, role) for an unused, unexpired link, now used; None otherwise."""
    parts = split_cookie(token)
    if parts is None:
        return None
    link = repository.get_link_for_update(session, parts[0], _hash(parts[1]))
    if link is None or link.used_at is not None or _aware(link.expires_at) <= now:
        return None
    link.used_at = now
    session.flush()
    return link.tenant_id, link.person, link.role
