"""The authenticated caller of one request, derived only from a validated access token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    tenant: str
    scopes: frozenset[str]
    token_id: str
    issuer: str

    def has(self, scope: str) -> bool:
        return scope in self.scopes
