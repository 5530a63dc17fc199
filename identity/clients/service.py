"""Registering clients and reading them back. A client belongs to one tenant, holds a public key
set (its private keys never reach us) and the most scopes it may ever be granted."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from identity.auth.keys import UnusableKey, public_keys
from identity.auth.principal import is_tenant_id
from identity.auth.scopes import ALL_SCOPES, parse_scopes
from identity.clients import repository
from identity.clients.organization import OrgIdentifier
from identity.errors import FieldError, InvalidInput, NotFound
from identity.models import ApiClient


def register(
    session: Session,
    *,
    tenant: str,
    name: str,
    jwks: dict[str, Any],
    scopes: str,
    organization: OrgIdentifier | None = None,
) -> ApiClient:
    problems: list[FieldError] = []
    if not is_tenant_id(tenant):
        problems.append(FieldError("/tenant", "lower-case letters, digits, '.', '_' or '-'"))
    if not name.strip() or len(name) > 200:
        problems.append(FieldError("/name", "a name of 1 to 200 characters"))
    granted = parse_scopes(scopes)
    unknown = granted - ALL_SCOPES
    if not granted or unknown:
        problems.append(FieldError("/scopes", f"choose from: {' '.join(sorted(ALL_SCOPES))}"))
    try:
        public_keys(jwks)
    except UnusableKey as exc:
        problems.append(FieldError("/jwks", str(exc)))
    if problems:
        raise InvalidInput("the client cannot be registered", errors=problems)
    client = ApiClient(
        client_id=secrets.token_urlsafe(18),
        tenant_id=tenant,
        name=name.strip(),
        jwks=jwks,
        scopes=" ".join(sorted(granted)),
        organization_system=organization.system if organization else None,
        organization_value=organization.value if organization else None,
    )
    repository.add(session, client)
    return client


def active_client(session: Session, client_id: str) -> ApiClient | None:
    client = repository.get(session, client_id)
    return client if client is not None and client.disabled_at is None else None


def is_disabled(session: Session, client_id: str) -> bool:
    """True only for a registered client that was disabled (an unregistered one, e.g. a trusted
    external issuer's, has nothing to disable)."""
    client = repository.get(session, client_id)
    return client is not None and client.disabled_at is not None


def organization_of(client: ApiClient) -> OrgIdentifier | None:
    if client.organization_system and client.organization_value:
        return OrgIdentifier(client.organization_system, client.organization_value)
    return None


def organization(session: Session, client_id: str) -> OrgIdentifier | None:
    """The organisation an active client speaks for; None when it has none on file or is not a
    registered, active client (a development token's client, for instance)."""
    client = active_client(session, client_id)
    return organization_of(client) if client is not None else None


def disable(session: Session, client_id: str) -> ApiClient:
    client = repository.get(session, client_id)
    if client is None:
        raise NotFound("no such client")
    client.disabled_at = client.disabled_at or datetime.now(UTC)
    session.flush()
    return client
