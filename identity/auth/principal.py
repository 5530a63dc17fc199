"""The authenticated caller of one request, derived only from a validated access token."""

from __future__ import annotations

import re
from dataclasses import dataclass

from identity.clients.organization import OrgIdentifier

# What a tenant id looks like (the form `identity auth` registers clients under): lower-case
# letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters. The
# audit trail's `-` (denials of callers with no tenant) is not one, nor is the empty string.
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def is_tenant_id(value: str) -> bool:
    return _TENANT_ID.fullmatch(value) is not None


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
