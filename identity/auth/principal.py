"""The authenticated caller of one request, derived only from a validated access token."""

from __future__ import annotations

from dataclasses import dataclass

from identity.clients.organization import OrgIdentifier


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    tenant: str
    scopes: frozenset[str]
    token_id: str
    issuer: str
    # The organisation the client speaks for (e.g. its NPI), when its token says so: a consent's
    # recipient is checked against it.
    organization: OrgIdentifier | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes
